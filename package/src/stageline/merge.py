"""Merge: one job per platform pushed its images; write each multi-platform tag as an index.

With native runners, each of N jobs runs ``stageline build --push --platform P`` and
writes its own platform's tags, ``<tag>--<os>.<arch>`` (:func:`stageline.plan.platform_suffix`),
so no job's stage tags or cache overwrite another's. ``stageline merge`` then writes each
of the plan's tags (the commit's ``<short-sha>``, each stage's ``<stage>[--<ref>]``) as an
image index of the platforms' images, through the registry API: the per-platform
manifests keep their digests, no layer moves, and the same images give the same index
bytes, so a rerun writes nothing. Each entry's platform is the one its image's config
names: a stage a job built once on its build platform (``FROM --platform=$BUILDPLATFORM``
on an emulating runner) is that platform's image, and a tag whose jobs all made images
of one platform becomes a copy of that image, not an index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from stageline.console import Output
from stageline.dockerfile.platforms import parse_platform
from stageline.errors import PlanError
from stageline.image_ref import names_registry_host, parse_image_ref, split_image_ref
from stageline.plan import Plan, commit_tag, platform_suffix
from stageline.registry_api import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    Manifest,
    RegistryAPI,
    content_digest,
)
from stageline.reuse import Registries, platform_manifest
from stageline.settings import Settings

OCI_INDEX, DOCKER_LIST = INDEX_TYPES
OCI_MANIFEST = MANIFEST_TYPES[2]


def merged_index(images: Sequence[tuple[str, Manifest]]) -> Manifest:
    """Return the image index of ``images`` (platform, image manifest), in that order.

    An OCI index, or a Docker manifest list when every image is a Docker manifest; its
    bytes depend on the images only, so merging the same images gives the same digest.
    """
    entries = []
    for platform, image in images:
        parsed = parse_platform(platform)
        described = {"architecture": parsed.arch, "os": parsed.os}
        if parsed.variant:
            described["variant"] = parsed.variant
        entries.append(
            {
                "mediaType": image.media_type,
                "digest": image.digest,
                "size": len(image.content),
                "platform": described,
            }
        )
    oci = any(image.media_type == OCI_MANIFEST for _, image in images)
    media_type = OCI_INDEX if oci else DOCKER_LIST
    document = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    content = json.dumps(document, indent=2).encode() + b"\n"
    return Manifest(content, media_type, content_digest(content))


def merge_tags(settings: Settings, plan: Plan) -> list[str]:
    """Return the tags ``merge`` writes: every tag of the plan, each once, in plan order."""
    if len(plan.platforms) < 2:
        raise PlanError(
            f"merge writes indexes of several platforms and the plan has {plan.platforms[0]} "
            'only: set [tool.stageline] platforms, e.g. ["linux/amd64", "linux/arm64"].'
        )
    if not names_registry_host(settings.image):
        raise PlanError(
            f"merge writes tags inside a registry, and {settings.image!r} names none: "
            "set CI_REGISTRY_IMAGE (e.g. registry.example.com/group/app)."
        )
    return list(dict.fromkeys(tag for stage in plan.stages for tag in stage.tags))


def commit_tags(settings: Settings, plan: Plan) -> set[str]:
    """Return the commit's tags of the plan's targets (``IMAGE:<short-sha>``...)."""
    tags = (commit_tag(settings, target, plan.targets) for target in plan.targets)
    return {f"{plan.image}:{tag}" for tag in tags if tag}


def config_platform(api: RegistryAPI, repository: str, image: Manifest, default: str) -> str:
    """Return the platform an image's config names (``default`` where it names none)."""
    digest = image.document.get("config", {}).get("digest")
    config = api.get_json_blob(repository, digest) if digest else {}
    parts = [config.get("os"), config.get("architecture"), config.get("variant")]
    return "/".join(str(part) for part in parts if part) if all(parts[:2]) else default


def platform_images(
    registries: Registries, plan: Plan, ref: str
) -> tuple[list[tuple[str, Manifest]], list[str]]:
    """Return the images under ``ref``'s per-platform tags, each with the platform its
    config names (a job's stage built once on its build platform is that platform's), each
    platform once; and the per-platform tags that are missing.
    """
    image = parse_image_ref(plan.image)
    api = registries.api(image.api_host)
    found: dict[str, Manifest] = {}
    missing = []
    for platform in plan.platforms:
        tag = split_image_ref(ref)[1] + platform_suffix(platform)
        manifest = api.get_manifest(image.repository, tag)
        inner = platform_manifest(api, image.repository, manifest, platform) if manifest else None
        if inner is None:
            missing.append(f"{plan.image}:{tag}")
        else:
            found.setdefault(config_platform(api, image.repository, inner, platform), inner)
    return list(found.items()), missing


def merge(settings: Settings, plan: Plan, output: Output) -> list[str]:
    """Write each multi-platform tag of ``plan`` as an index; return the tags written.

    A commit tag whose platforms are not all pushed is an error (a job failed or has not
    run); another tag is skipped with a line saying which platform is missing.
    """
    registries = Registries(settings)
    image = parse_image_ref(plan.image)
    api = registries.api(image.api_host)
    written = []
    output.header(f"merge {', '.join(plan.platforms)} into image indexes")
    for ref in merge_tags(settings, plan):
        found, missing = platform_images(registries, plan, ref)
        if missing and ref in commit_tags(settings, plan):
            raise PlanError(
                f"{missing[0]} is not in the registry: run that platform's job first "
                "(stageline build --push --platform ...), then merge."
            )
        if missing:
            output.line(f"  {ref}: skipped, {', '.join(missing)} not pushed")
            continue
        index = merged_index(found) if len(found) > 1 else found[0][1]
        tag = split_image_ref(ref)[1]
        if api.head_manifest(image.repository, tag) == index.digest:
            output.line(f"  {ref}: already {index.digest[:19]}")
            continue
        api.put_manifest(image.repository, tag, index)
        what = f"index of {len(found)} platforms" if len(found) > 1 else f"{found[0][0]} only"
        output.line(f"  {ref}: {what} ({index.digest[:19]}, no upload)")
        written.append(ref)
    output.header(f"merged: {len(written)} tags written, no layer moved")
    return written
