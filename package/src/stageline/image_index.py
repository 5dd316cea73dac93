"""Image indexes (manifest lists): which entry serves a platform (pure).

An index lists one image manifest per platform (``platform: {os, architecture,
variant}``), and BuildKit adds attestation entries whose platform is
``unknown/unknown``. A wanted ``linux/arm64`` matches an entry ``linux/arm64/v8`` too,
as containerd matches it, but an entry of the exact variant comes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stageline.dockerfile.platforms import Platform, parse_platform


def entry_platform(entry: Mapping[str, Any]) -> Platform | None:
    """Return the platform of an index entry, or None when it names none."""
    described = entry.get("platform") or {}
    os_name, arch = described.get("os"), described.get("architecture")
    if not os_name or not arch or "unknown" in (os_name, arch):
        return None
    return Platform(str(os_name), str(arch), str(described.get("variant") or ""))


def platform_entries(document: Mapping[str, Any]) -> list[tuple[Platform, str]]:
    """Return each image entry of an index as (its platform, its digest), in order."""
    found = []
    for entry in document.get("manifests", []):
        platform = entry_platform(entry)
        if platform is not None and entry.get("digest"):
            found.append((platform, str(entry["digest"])))
    return found


def entry_for(document: Mapping[str, Any], wanted: str) -> str | None:
    """Return the digest of the index entry for platform ``wanted``, or None."""
    platform = parse_platform(wanted)
    same = [
        (found, digest)
        for found, digest in platform_entries(document)
        if (found.os, found.arch) == (platform.os, platform.arch)
    ]
    exact = [digest for found, digest in same if found.variant == platform.variant]
    loose = [digest for found, digest in same if not platform.variant]
    chosen = exact or loose
    return chosen[0] if chosen else None
