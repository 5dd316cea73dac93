"""Content keys and reuse across platforms: per-platform base digests, indexes by key."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from stageline.console import Output
from stageline.content_key import KEY_LABEL
from stageline.context import make_context
from stageline.dockerfile import parse_dockerfile
from stageline.dockerfile.platforms import DEFAULT_PLATFORMS
from stageline.image_index import entry_for
from stageline.plan import Plan, Request, make_plan
from stageline.registry_api import Manifest, content_digest
from stageline.reuse import Registries, Reuse, find_image, find_reusable
from stageline.settings import Settings
from tests.stageline.replay import IMAGE_TYPE, INDEX_TYPE, FakeRegistry

HOST = "registry.example.com"
IMAGE = f"{HOST}/group/app"
REPOSITORY = "group/app"
AMD64, ARM64 = "linux/amd64", "linux/arm64"
DOCKERFILE = f"""\
FROM --platform=$BUILDPLATFORM {HOST}/mirror/node:20 AS assets
RUN echo webpack
FROM {HOST}/mirror/python:3.13 AS production
COPY --from=assets /dist /dist
"""


def entry(digest: str, arch: str, variant: str = "") -> dict[str, Any]:
    platform = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
    return {"mediaType": IMAGE_TYPE, "digest": digest, "size": 1, "platform": platform}


def index_of(*entries: dict[str, Any]) -> Manifest:
    content = json.dumps({"schemaVersion": 2, "manifests": list(entries)}).encode()
    return Manifest(content, INDEX_TYPE, content_digest(content))


def image_with(key: str, name: str) -> tuple[Manifest, dict[str, Any]]:
    """Return an image manifest whose config (named ``name``) carries ``key``."""
    content = json.dumps({"config": {"digest": f"sha256:{name}"}, "layers": []}).encode()
    return Manifest(content, IMAGE_TYPE, content_digest(content)), {
        "config": {"Labels": {KEY_LABEL: key}}
    }


def test_an_index_entry_is_found_by_platform_its_exact_variant_first() -> None:
    attestation = {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}}
    index = index_of(entry("sha256:a", "amd64"), entry("sha256:b", "arm64", "v8"))
    document = {**index.document, "manifests": [attestation, *index.document["manifests"]]}
    assert entry_for(document, AMD64) == "sha256:a"
    assert entry_for(document, ARM64) == "sha256:b"  # linux/arm64 is linux/arm64/v8 too
    assert entry_for(document, "linux/arm64/v8") == "sha256:b"
    assert entry_for(document, "linux/arm/v7") is None
    assert entry_for(document, "unknown/unknown") is None


def registry_with_bases(arm_digest: str = "sha256:" + "b" * 64) -> FakeRegistry:
    python = index_of(entry("sha256:" + "a" * 64, "amd64"), entry(arm_digest, "arm64", "v8"))
    node = index_of(entry("sha256:" + "c" * 64, "amd64"), entry("sha256:" + "d" * 64, "arm64"))
    return FakeRegistry(
        manifests={("mirror/python", "3.13"): python, ("mirror/node", "20"): node},
    )


def settings(root: Path) -> Settings:
    return Settings(root=root, image=IMAGE, ref_slug="main", default_branch="main")


def plan_for(root: Path, *platforms: str) -> Plan:
    (root / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")
    dockerfile = parse_dockerfile(DOCKERFILE)
    request = Request(platforms=platforms)
    return make_plan(settings(root), dockerfile, request, (), DEFAULT_PLATFORMS)


def compare(registry: FakeRegistry, root: Path, *platforms: str) -> tuple[Reuse, str]:
    made = Registries(settings(root))
    made.clients[HOST] = registry  # type: ignore[assignment]
    plan = plan_for(root, *platforms)
    context = make_context(root, root / "Dockerfile", plan.dockerfile_text)
    shown = io.StringIO()
    output = Output(io.StringIO(), True)
    output.errors.file = shown
    try:
        return find_reusable(made, plan, context, output), shown.getvalue()
    finally:
        context.close()


def test_a_platform_dependent_key_names_its_platforms_and_each_platforms_base(
    tmp_path: Path,
) -> None:
    amd64 = compare(registry_with_bases(), tmp_path, AMD64)[0].keys
    both = compare(registry_with_bases(), tmp_path, AMD64, ARM64)[0].keys
    other_arm = compare(registry_with_bases("sha256:" + "e" * 64), tmp_path, AMD64, ARM64)[0].keys
    assert all(both.values())
    assert all(amd64.values())
    # The build-platform stage is the same build whatever the targets.
    assert amd64["assets"] == both["assets"] == other_arm["assets"]
    # The per-platform stage is another build for other platforms, or another arm64 base.
    assert len({amd64["production"], both["production"], other_arm["production"]}) == 3


def test_a_base_without_an_image_for_a_platform_leaves_the_stage_without_a_key(
    tmp_path: Path,
) -> None:
    registry = registry_with_bases()
    registry.manifests["mirror/python", "3.13"] = index_of(entry("sha256:" + "a" * 64, "amd64"))
    reuse, warnings = compare(registry, tmp_path, AMD64, ARM64)
    assert reuse.keys["production"] is None
    assert reuse.keys["assets"] is not None
    assert f"base image {HOST}/mirror/python:3.13 has no linux/arm64 image" in warnings


def test_an_index_is_reused_only_when_every_platform_image_carries_the_key(
    tmp_path: Path,
) -> None:
    registry = FakeRegistry()
    made = Registries(settings(tmp_path))
    made.clients[HOST] = registry  # type: ignore[assignment]
    amd, amd_config = image_with("sha256:k", "amd")
    arm, arm_config = image_with("sha256:k", "arm")
    old_arm, old_config = image_with("sha256:old", "old")
    registry.configs |= {"sha256:amd": amd_config, "sha256:arm": arm_config}
    registry.configs |= {"sha256:old": old_config}
    for image in (amd, arm, old_arm):
        registry.manifests[REPOSITORY, image.digest] = image
    index = index_of(entry(amd.digest, "amd64"), entry(arm.digest, "arm64"))
    registry.manifests[REPOSITORY, "production"] = index
    found = find_image(made, made.settings, "production", "sha256:k", (AMD64, ARM64))
    assert found is not None
    assert found.manifest == index  # the index itself: its tags are copies of it
    assert find_image(made, made.settings, "production", "sha256:k", (AMD64, "linux/s390x")) is None
    stale = index_of(entry(amd.digest, "amd64"), entry(old_arm.digest, "arm64"))
    registry.manifests[REPOSITORY, "production"] = stale
    assert find_image(made, made.settings, "production", "sha256:k", (AMD64, ARM64)) is None
    registry.manifests[REPOSITORY, "production"] = amd  # one platform's manifest alone
    assert find_image(made, made.settings, "production", "sha256:k", (AMD64,)) is not None
    assert find_image(made, made.settings, "production", "sha256:k", (AMD64, ARM64)) is None
