"""arm64 under QEMU on this amd64 machine: is it ready for a test that runs arm64 images?

Two things must hold, and .ci/ provides both:
- the kernel runs arm64 programs through QEMU's ``qemu-aarch64`` binfmt handler, enabled
  with the fix-binary flag ``F`` (so it works inside the engine's containers with nothing
  copied into them): .ci/install-packages installs it, .ci/start-services registers it;
- the mirror's python stand-in (PYTHON_IMAGE) is an image index with a linux/arm64 image,
  as the official image is: .ci/build-base-images writes it.

Each check returns None when it holds, else one line naming the problem and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from testing.registries import manifest

ARM64_HANDLER = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
SERVICES_FIX = "run .ci/install-packages and .ci/start-services"
IMAGES_FIX = "run .ci/build-base-images, then `source .ci/env`"


@dataclass(frozen=True)
class Arm64Mirror:
    """The mirror's multi-platform python image: its name and each platform's digest."""

    python_image: str
    platforms: dict[str, str]  # "linux/amd64" -> the digest of that platform's manifest


def handler_problem(handler: Path = ARM64_HANDLER) -> str | None:
    """Return why ``handler`` does not run arm64 programs in containers, or None."""
    try:
        lines = handler.read_text().splitlines()
    except OSError:
        return f"QEMU's arm64 handler is not registered ({handler} is missing): {SERVICES_FIX}"
    flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    if "enabled" not in lines or "F" not in flags:
        state = "enabled" if "enabled" in lines else "disabled"
        return (
            f"QEMU's arm64 handler is {state} with flags {flags or 'none'!r}, not enabled with "
            f"the fix-binary flag F ({handler}): {SERVICES_FIX}"
        )
    return None


def index_platforms(document: Mapping[str, object]) -> dict[str, str]:
    """Return "os/architecture" -> digest for each entry of an image index document."""
    entries = document.get("manifests")
    platforms: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        platform = entry.get("platform") or {}
        platforms[f"{platform.get('os')}/{platform.get('architecture')}"] = entry["digest"]
    return platforms


def split_image(image: str) -> tuple[str, str, str]:
    """Return (registry, repository, tag) of ``REGISTRY/REPOSITORY:TAG``."""
    registry, _, rest = image.partition("/")
    repository, _, tag = rest.rpartition(":")
    return registry, repository, tag


def arm64_mirror(environ: Mapping[str, str]) -> Arm64Mirror | str:
    """Return the mirror's python index with its platforms, or why it has no linux/arm64."""
    image = environ.get("PYTHON_IMAGE", "")
    if not image:
        return f"PYTHON_IMAGE is not set: {IMAGES_FIX}"
    registry, repository, tag = split_image(image)
    try:
        document = manifest(registry, repository, tag)
    except (OSError, ValueError) as exc:
        return f"cannot read PYTHON_IMAGE {image} from its registry ({exc}): {IMAGES_FIX}"
    platforms = index_platforms(document)
    if "linux/arm64" not in platforms:
        held = ", ".join(sorted(platforms)) or "one image, not an index"
        return f"PYTHON_IMAGE {image} has no linux/arm64 image ({held}): {IMAGES_FIX}"
    return Arm64Mirror(python_image=image, platforms=platforms)


def arm64_readiness(environ: Mapping[str, str]) -> Arm64Mirror | str:
    """Return the mirror's arm64-capable python image, or the first missing piece's line."""
    return handler_problem() or arm64_mirror(environ)
