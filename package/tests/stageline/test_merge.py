"""One job per platform: per-platform tags that never collide, then merge writes indexes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from stageline.console import Output
from stageline.dockerfile import parse_dockerfile
from stageline.dockerfile.platforms import DEFAULT_PLATFORMS
from stageline.errors import PlanError
from stageline.merge import merge, merged_index
from stageline.plan import Plan, Request, make_plan
from stageline.registry_api import Manifest, content_digest
from stageline.reuse import Registries, candidate_tags
from stageline.settings import Settings
from tests.stageline.replay import IMAGE_TYPE, FakeRegistry

HOST = "registry.example.com"
IMAGE = f"{HOST}/group/app"
REPOSITORY = "group/app"
AMD64, ARM64 = "linux/amd64", "linux/arm64"
DOCKERFILE = "FROM python AS base\nRUN x\nFROM base AS production\nCOPY f /f\n"


def settings(ref: str = "main") -> Settings:
    return Settings(
        root=Path("."),
        image=IMAGE,
        ref_slug=ref,
        default_branch="main",
        short_sha="abcdef12",
        platforms=(AMD64, ARM64),
    )


def plan_for(chosen: Settings, *platforms: str) -> Plan:
    request = Request(platforms=platforms)
    return make_plan(chosen, parse_dockerfile(DOCKERFILE), request, (), DEFAULT_PLATFORMS)


def test_a_platform_job_writes_and_reads_its_own_platforms_tags_only() -> None:
    arm = plan_for(settings(), ARM64)
    amd = plan_for(settings(), AMD64)
    assert arm.stage("production").tags == (
        f"{IMAGE}:production--linux.arm64",
        f"{IMAGE}:abcdef12--linux.arm64",
    )
    assert arm.stage("base").cache_from == (f"{IMAGE}:base--linux.arm64",)
    assert set(arm.pushes).isdisjoint(amd.pushes)  # no job overwrites another's
    branch = plan_for(settings("feature-x"), ARM64)
    assert branch.stage("base").cache_from == (
        f"{IMAGE}:base--feature-x--linux.arm64",
        f"{IMAGE}:base--linux.arm64",
    )
    assert candidate_tags(settings("feature-x"), "base", "sha256:k", arm.tag_suffix) == [
        "base--feature-x--linux.arm64",
        "base--linux.arm64",
    ]


def test_only_one_of_several_configured_platforms_makes_a_platform_job() -> None:
    assert plan_for(settings()).tag_suffix == ""  # every platform at once
    assert plan_for(settings(), AMD64, ARM64).tag_suffix == ""
    one = Settings(root=Path("."), image=IMAGE, ref_slug="main", default_branch="main")
    assert plan_for(one, ARM64).tag_suffix == ""  # a single-platform project on arm64
    assert plan_for(one, ARM64).stage("base").tags == (f"{IMAGE}:base",)


def image(name: str, media_type: str = IMAGE_TYPE) -> Manifest:
    content = json.dumps({"config": {"digest": f"sha256:{name}"}, "layers": []}).encode()
    return Manifest(content, media_type, content_digest(content))


def test_a_merged_index_lists_each_platforms_manifest_as_it_is() -> None:
    amd, arm = image("amd"), image("arm")
    index = merged_index([(AMD64, amd), ("linux/arm64/v8", arm)])
    assert index.is_index
    entries = index.document["manifests"]
    assert [(e["digest"], e["size"], e["mediaType"]) for e in entries] == [
        (amd.digest, len(amd.content), IMAGE_TYPE),
        (arm.digest, len(arm.content), IMAGE_TYPE),
    ]
    assert entries[1]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert merged_index([(AMD64, amd), ("linux/arm64/v8", arm)]) == index  # same bytes


def job_registry() -> FakeRegistry:
    """Return what two jobs pushed; the arm64 job built base on its amd64 build platform."""
    registry = FakeRegistry()
    for platform in ("linux.amd64", "linux.arm64"):
        for tag in ("base", "production", "abcdef12"):
            made = image(f"{tag}-{platform}")
            registry.manifests[REPOSITORY, f"{tag}--{platform}"] = made
            arch = "amd64" if tag == "base" else platform.split(".")[1]
            registry.configs[f"sha256:{tag}-{platform}"] = {"os": "linux", "architecture": arch}
    return registry


def run_merge(chosen: Settings) -> tuple[list[str], str]:
    shown = io.StringIO()
    written = merge(chosen, plan_for(chosen), Output(shown, True))
    return written, shown.getvalue()


def test_merge_writes_each_tag_as_an_index_of_the_jobs_images(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = job_registry()
    monkeypatch.setattr(Registries, "api", lambda self, host: registry)
    written, _ = run_merge(settings())
    assert written == [f"{IMAGE}:base", f"{IMAGE}:production", f"{IMAGE}:abcdef12"]
    merged = {tag: manifest for _, tag, manifest in registry.written}
    # Both jobs built base on amd64: the tag is the first job's image, not an index.
    assert merged["base"] == registry.manifests[REPOSITORY, "base--linux.amd64"]
    commit = merged["abcdef12"].document["manifests"]
    jobs = registry.manifests
    assert [entry["digest"] for entry in commit] == [
        jobs[REPOSITORY, "abcdef12--linux.amd64"].digest,
        jobs[REPOSITORY, "abcdef12--linux.arm64"].digest,
    ]
    assert run_merge(settings())[0] == []  # a rerun finds every index in place


def test_merge_refuses_a_commit_tag_a_platform_has_not_pushed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = job_registry()
    del registry.manifests[REPOSITORY, "abcdef12--linux.arm64"]
    monkeypatch.setattr(Registries, "api", lambda self, host: registry)
    with pytest.raises(PlanError, match=r"abcdef12--linux\.arm64 is not in the registry"):
        run_merge(settings())


def test_merge_needs_several_platforms() -> None:
    one = Settings(root=Path("."), image=IMAGE, ref_slug="main", default_branch="main")
    with pytest.raises(PlanError, match="platforms"):
        run_merge(one)
