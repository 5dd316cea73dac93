"""One job per platform, then merge: the template's pipeline through gitlab-ci-local (issue 25).

With ``STAGELINE_PLATFORM_JOBS=true`` the pipeline builds each platform in a job of its
own (``build-platform``'s matrix: linux/amd64 and linux/arm64), and ``merge`` writes the
tags one two-platform build job would write as image indexes of those jobs' images. Both
jobs run on the main engine, whose BuildKit cache earlier runs left warm (nothing here
needs an empty cache); arm64 runs under QEMU, standing in for a native arm64 runner: the
job containers use the kernel's ``qemu-aarch64`` handler, whose F flag makes it work in
them. Then lint (in the merged development image), smoke (the merged production image)
and release run as in any pipeline.

The pipeline runs once, in three gitlab-ci-local runs so that the registry can be read
between them: the per-platform jobs, merge, then the jobs that use its images. What is
asserted is read from the registry and its access log, and compared with the tags
``stageline plan`` names for one two-platform job.

Cost on the 2-core CI machine: about 2 minutes with the engine's build cache warm; cold,
19 minutes, most of them the arm64 job's development image under QEMU (its pip install
alone took 8 minutes).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from stageline.actions import load_plan
from stageline.plan import platform_suffix
from stageline.settings_loader import load_settings
from testing.access_log import AccessLogMark, Traffic, read_traffic
from testing.emulation import index_platforms
from testing.gitlab_ci_local import PipelineRun, passed, run_pipeline
from testing.registries import manifest, registry_tags

from tests.gitlab.conftest import committed_project, short_sha

pytestmark = [pytest.mark.docker, pytest.mark.arm64, pytest.mark.usefixtures("arm64_emulation")]

PLATFORMS = ("linux/amd64", "linux/arm64")
SWITCH = ("--variable", "STAGELINE_PLATFORM_JOBS=true")
# Image configs are a few kB: a larger blob read during merge would be a layer.
CONFIG_LIMIT = 100_000


@dataclass
class PlatformJobs:
    """The per-platform pipeline's three runs, and the registry after each."""

    image: str
    sha: str
    planned: dict[str, tuple[str, ...]]  # tag -> the platforms one two-platform job builds
    jobs: PipelineRun
    per_platform: dict[str, str]  # tag -> digest after the per-platform jobs
    merge: PipelineRun
    merge_traffic: Traffic
    after_merge: dict[str, str]
    tested: PipelineRun
    after: dict[str, str]

    @property
    def registry(self) -> str:
        return self.image.split("/", 1)[0]

    @property
    def repository(self) -> str:
        return self.image.split("/", 1)[1]


def digests(image: str) -> dict[str, str]:
    """Return every tag of ``image``'s repository with its manifest digest."""
    registry, repository = image.split("/", 1)
    tags = registry_tags(registry, repository)
    return {tag: str(manifest(registry, repository, tag)["_digest"]) for tag in sorted(tags)}


def planned_tags(project: Path, image: str, sha: str) -> dict[str, tuple[str, ...]]:
    """Return each tag one two-platform build on main writes, with the platforms it holds."""
    environ = {
        "CI_REGISTRY_IMAGE": image,
        "CI_COMMIT_REF_SLUG": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_SHORT_SHA": sha,
        "STAGELINE_PLATFORMS": ",".join(PLATFORMS),
    }
    plan = load_plan(load_settings(project, environ=environ))
    return {tag.rsplit(":", 1)[1]: stage.platforms for stage in plan.stages for tag in stage.tags}


def config_platform(registry: str, repository: str, digest: str) -> str:
    """Return the os/architecture the image config of manifest ``digest`` names."""
    config = manifest(registry, repository, digest)["config"]["digest"]
    url = f"http://{registry}/v2/{repository}/blobs/{config}"
    with urllib.request.urlopen(url, timeout=30) as response:
        document: dict[str, Any] = json.load(response)
    return f"{document['os']}/{document['architecture']}"


def remove_engine_images(image: str) -> None:
    """Remove what the main engine holds of ``image`` (the jobs pulled its images)."""
    client = docker.from_env()
    for held in client.images.list(name=image):
        client.images.remove(held.id, force=True)


@pytest.fixture(scope="module")
def platform_jobs(
    gitlab_ci_local: None,
    engine: None,
    tmp_path_factory: pytest.TempPathFactory,
    image_name: str,
    base_images: dict[str, str],
    job_variables: list[str],
) -> Iterator[PlatformJobs]:
    """Run build-platform (both platforms), then merge, then lint, smoke and release."""
    project = committed_project(tmp_path_factory.mktemp("platform-jobs") / "project")
    sha = short_sha(project)
    registry, repository = image_name.split("/", 1)
    env = {"CI_REGISTRY_IMAGE": image_name, "CI_REGISTRY": registry, **base_images}
    arguments = (*job_variables, *SWITCH)
    try:
        jobs = passed(run_pipeline(project, *arguments, "build-platform", env=env))
        per_platform = digests(image_name)
        log = AccessLogMark()
        merge = passed(run_pipeline(project, *arguments, "merge", env=env), "merge")
        merge_traffic = read_traffic(log.lines(repository))
        after_merge = digests(image_name)
        tested = passed(
            run_pipeline(project, *arguments, "lint", "smoke", "release", env=env),
            "lint",
            "smoke",
            "release",
        )
        yield PlatformJobs(
            image=image_name,
            sha=sha,
            planned=planned_tags(project, image_name, sha),
            jobs=jobs,
            per_platform=per_platform,
            merge=merge,
            merge_traffic=merge_traffic,
            after_merge=after_merge,
            tested=tested,
            after=digests(image_name),
        )
    finally:
        remove_engine_images(image_name)


def test_the_switch_replaces_build_by_a_job_per_platform_and_merge(
    platform_jobs: PlatformJobs,
) -> None:
    names = re.findall(
        r"^(build-platform: \[[^\]]*\]|build|merge) +starting",
        platform_jobs.jobs.output + platform_jobs.merge.output,
        re.M,
    )
    assert sorted(set(names)) == [
        "build-platform: [linux/amd64,saas-linux-small-amd64]",
        "build-platform: [linux/arm64,saas-linux-small-arm64]",
        "merge",
    ]


def test_each_platform_job_writes_only_its_own_platforms_tags(platform_jobs: PlatformJobs) -> None:
    expected = {
        f"{tag}{platform_suffix(platform)}"
        for tag in platform_jobs.planned
        for platform in PLATFORMS
    }
    assert set(platform_jobs.per_platform) == expected
    # The arm64 job's commit image is an arm64 image (built under QEMU here).
    for platform in PLATFORMS:
        tag = f"{platform_jobs.sha}{platform_suffix(platform)}"
        digest = platform_jobs.per_platform[tag]
        assert config_platform(platform_jobs.registry, platform_jobs.repository, digest) == platform


def test_merge_writes_each_tag_one_job_would_as_an_index_of_the_jobs_images(
    platform_jobs: PlatformJobs,
) -> None:
    jobs = platform_jobs.per_platform
    for tag, platforms in platform_jobs.planned.items():
        merged = manifest(platform_jobs.registry, platform_jobs.repository, tag)
        if len(platforms) == 1:  # a stage built once, on the build platform (build-node)
            assert "manifests" not in merged, f"{tag} is an index of one platform's stage"
            assert merged["_digest"] == jobs[f"{tag}{platform_suffix(PLATFORMS[0])}"], tag
            continue
        assert "manifests" in merged, f"{tag} is one image, not an index of {platforms}"
        expected = {platform: jobs[f"{tag}{platform_suffix(platform)}"] for platform in platforms}
        assert index_platforms(merged) == expected, tag
    assert set(platform_jobs.after_merge) == set(jobs) | set(platform_jobs.planned)


def test_merge_moves_no_layer(platform_jobs: PlatformJobs) -> None:
    traffic = platform_jobs.merge_traffic
    layers = [digest for _, digest, size in traffic.downloads if size > CONFIG_LIMIT]
    assert (layers, traffic.uploads) == ([], [])


def test_both_platforms_cache_refs_survive_merge_and_the_pipeline(
    platform_jobs: PlatformJobs,
) -> None:
    jobs = platform_jobs.per_platform
    assert {tag: platform_jobs.after.get(tag, "missing") for tag in jobs} == jobs


def test_the_test_jobs_and_release_take_the_merged_images(platform_jobs: PlatformJobs) -> None:
    output, sha = platform_jobs.tested.output, platform_jobs.sha
    assert re.search(rf"^lint +starting \S+:development-{sha} ", output, re.M)
    assert re.search(r"^smoke *> smoke: passed", output, re.M)
    merged = platform_jobs.after_merge[sha]
    assert platform_jobs.after["latest"] == merged
    assert set(
        index_platforms(manifest(platform_jobs.registry, platform_jobs.repository, merged))
    ) == set(PLATFORMS)


def test_without_the_switch_the_pipeline_keeps_its_one_build_job(
    git_project: Path, base_images: dict[str, str]
) -> None:
    listed = passed(run_pipeline(git_project, "--list", env=base_images))
    assert re.search(r"^build +build +on_success ", listed.output, re.M), listed.output
    assert not re.search(r"^(?:build-platform|merge)\b", listed.output, re.M), listed.output
