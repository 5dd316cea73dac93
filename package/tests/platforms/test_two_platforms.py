"""Two platforms in one build, on the real engine and registry, without emulation.

The project's final stage is ``FROM scratch`` plus ``COPY``, which BuildKit builds for
linux/arm64 without running anything arm64; its tool stage runs ``FROM
--platform=$BUILDPLATFORM`` on the mirror's Python, natively. What a user cares about is
read from the registry: the commit's tag is an index of linux/amd64 and linux/arm64, the
build-platform stage ran once (both platform images hold the very same layer of what it
made, and it says it ran on x86_64), and a rebuild with no change moves no blob and keeps
every digest.

The template built for two platforms under QEMU comes with the emulation harness. What
those tests need, and what to read:

* ``qemu-aarch64`` registered with the F flag, and ``PYTHON_IMAGE`` an index of linux/amd64
  and linux/arm64 (Stageline keys each platform's stages on that platform's entry). With
  ``build-node`` on ``FROM --platform=$BUILDPLATFORM``, ``NODE_IMAGE`` may stay amd64 only.
* ``assets`` is ``FROM scratch``: built per platform (files only, cheap). To share it as
  well, it takes ``FROM --platform=$BUILDPLATFORM scratch``; ``stageline plan --json`` says
  which (each stage's ``platforms`` and ``shared``).
* Build with ``STAGELINE_PLATFORMS=linux/amd64,linux/arm64`` (or the template's opt-in)
  and ``--push`` on the containerd store; then read ``:<sha>`` as an index (as
  ``platform_images`` here), run its arm64 entry by digest with ``--platform linux/arm64``
  (``uname -m`` is ``aarch64``; ``/healthz`` answers), and check webpack ran once: the
  ``build-node`` tag is one image (not an index) and ``assets``' two platform images hold
  the same bundle layer.
* The no-change pipeline on an empty runner (``EmptyRunner`` with the containerd store,
  purged) reuses every stage of both platforms: ``AccessLogMark`` shows no layer download
  and no upload, and every tag's digest is unchanged (as in the no-change test here).
* Per-platform jobs through gitlab-ci-local: ``stageline build --push --platform P`` per
  job, then ``stageline merge``; the per-platform tags ``<tag>--linux.amd64`` and
  ``<tag>--linux.arm64`` survive, and ``:<sha>`` lists their digests.
"""

from __future__ import annotations

import io
import json
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import pytest

from testing.access_log import AccessLogMark, read_traffic
from testing.daemons import own_daemon
from testing.projects import make_project
from testing.registries import manifest, registry_tags
from testing.runners import EmptyRunner
from testing.task_runner import TaskRun, ok, run_task

pytestmark = pytest.mark.docker

SHA = "7a7a0001"
DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.13-slim
# Runs on the machine that builds, once for every target platform.
FROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS tool
RUN python3 -c "import os; print(os.urandom(16).hex())" > /made.txt && uname -m > /arch.txt
# Files only, so no step runs on the target platform: built for each.
FROM scratch AS files
COPY hello.txt /hello.txt
# The image builds on a stage of both platforms (taken as a named context, an index).
FROM files AS image
COPY --from=tool /made.txt /arch.txt /
"""
PLATFORMS = "linux/amd64,linux/arm64"


def blob(registry: str, repository: str, digest: str) -> bytes:
    """Return a blob of the (unauthenticated) loopback registry."""
    url = f"http://{registry}/v2/{repository}/blobs/{digest}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def layer_files(registry: str, repository: str, digest: str) -> dict[str, str]:
    """Return the regular files of a (gzip) layer blob and their text."""
    with tarfile.open(fileobj=io.BytesIO(blob(registry, repository, digest))) as tar:
        return {
            member.name.lstrip("./"): tar.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in tar
            if member.isreg()
        }


def platform_images(registry: str, repository: str, tag: str) -> dict[str, dict[str, Any]]:
    """Return the image manifest of each platform the index under ``tag`` lists."""
    index = manifest(registry, repository, tag)
    assert "manifests" in index, f"{repository}:{tag} is not an image index"
    found = {}
    for entry in index["manifests"]:
        platform = entry.get("platform", {})
        if platform.get("os") in (None, "unknown"):
            continue
        name = f"{platform['os']}/{platform['architecture']}"
        found[name] = manifest(registry, repository, entry["digest"])
    return found


@contextmanager
def throwaway_image(registry_address: str) -> Iterator[str]:
    """Yield an image name no other run uses; remove what the engine holds of it after."""
    image = f"{registry_address}/platforms-{uuid.uuid4().hex[:10]}/app"
    try:
        yield image
    finally:
        client = docker.from_env()
        for found in client.images.list(name=image):
            client.images.remove(found.id, force=True)


class Project:
    """A tiny two-stage project and its settings for one image in the loopback registry."""

    def __init__(
        self, root: Path, image: str, base_images: dict[str, str], dockerfile: str = DOCKERFILE
    ) -> None:
        self.root = make_project(root, dockerfile)
        (self.root / "pyproject.toml").write_text(
            '[tool.stageline]\nimage = "tiny-app"\nplatforms = ["linux/amd64", "linux/arm64"]\n'
        )
        self.image = image
        self.registry, self.repository = image.split("/", 1)
        self.base_images = base_images

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PYTHON_IMAGE": self.base_images["PYTHON_IMAGE"],
            "CI_REGISTRY_IMAGE": self.image,
            "CI_COMMIT_REF_SLUG": "main",
            "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_SHORT_SHA": SHA,
            "STAGELINE_BUILDER": "buildkit",
            **extra,
        }

    def run(self, *args: str, **extra: str) -> TaskRun:
        return run_task(self.root, *args, env=self.env(**extra), module="stageline")

    def digests(self) -> dict[str, str]:
        return {
            tag: str(manifest(self.registry, self.repository, tag)["_digest"])
            for tag in sorted(registry_tags(self.registry, self.repository))
        }


@pytest.fixture(scope="module")
def built(
    engine: None,
    registry_address: str,
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Project, dict[str, Any]]]:
    """Build and push the project for linux/amd64 and linux/arm64 once; yield its report."""
    with throwaway_image(registry_address) as image:
        project = Project(tmp_path_factory.mktemp("platforms") / "project", image, base_images)
        report = project.root / "cold.json"
        ok(project.run("build", "--push", "--report", str(report)))
        yield project, json.loads(report.read_text())


def test_the_commit_tag_is_an_index_of_both_platforms(built: tuple[Project, Any]) -> None:
    project, _ = built
    assert registry_tags(project.registry, project.repository) == {"tool", "files", "image", SHA}
    images = platform_images(project.registry, project.repository, SHA)
    assert set(images) == {"linux/amd64", "linux/arm64"}
    files = platform_images(project.registry, project.repository, "files")
    for name, image in images.items():
        config = json.loads(blob(project.registry, project.repository, image["config"]["digest"]))
        assert f"{config['os']}/{config['architecture']}" == name
        # Each platform's image builds on that platform's image of the files stage.
        assert image["layers"][0] == files[name]["layers"][0]


def test_a_build_loaded_into_the_engine_then_pushed_is_an_index_too(
    built: tuple[Project, Any], registry_address: str
) -> None:
    project, _ = built
    with throwaway_image(registry_address) as image:
        repository = image.split("/", 1)[1]
        ok(project.run("build", CI_REGISTRY_IMAGE=image))  # into the containerd image store
        ok(project.run("push", CI_REGISTRY_IMAGE=image))
        pushed = platform_images(registry_address, repository, SHA)
        assert set(pushed) == {"linux/amd64", "linux/arm64"}


def test_the_build_platform_stage_ran_once_natively_for_both(built: tuple[Project, Any]) -> None:
    project, _ = built
    tool = manifest(project.registry, project.repository, "tool")
    assert "manifests" not in tool  # one image, of the build platform only
    images = platform_images(project.registry, project.repository, SHA)
    made = {name: image["layers"][-1]["digest"] for name, image in images.items()}
    # Random bytes made once: both platforms hold the same layer blob of them.
    assert made["linux/amd64"] == made["linux/arm64"]
    files = layer_files(project.registry, project.repository, made["linux/arm64"])
    assert files["arch.txt"].strip() == "x86_64"  # it ran on the build platform
    assert len(files["made.txt"].strip()) == 32


def test_plan_and_report_show_the_shared_stage_and_both_platforms(
    built: tuple[Project, Any],
) -> None:
    project, report = built
    reported = {stage["name"]: stage["platforms"] for stage in report["stages"]}
    both = ["linux/amd64", "linux/arm64"]
    assert reported == {"tool": ["linux/amd64"], "files": both, "image": both}
    steps = {stage["name"]: stage["steps"] for stage in report["stages"]}
    assert steps == {"tool": 1, "files": 1, "image": 1}  # each step once, over both platforms
    document = json.loads(ok(project.run("plan", "--json")).stdout)
    stages = {stage["name"]: stage for stage in document["stages"]}
    assert document["platforms"] == ["linux/amd64", "linux/arm64"]
    assert (stages["tool"]["platforms"], stages["tool"]["shared"]) == (["linux/amd64"], True)
    assert stages["image"]["platforms"] == ["linux/amd64", "linux/arm64"]


def test_no_change_on_an_empty_runner_moves_no_blob_and_keeps_every_digest(
    built: tuple[Project, Any], tmp_path: Path
) -> None:
    project, _ = built
    before = project.digests()
    report = tmp_path / "again.json"
    # A runner that has never seen the project: its own engine (containerd image store)
    # with no image and no build cache, as a CI job's dind service.
    with own_daemon(EmptyRunner, "platforms no-change runner") as runner:
        log = AccessLogMark()
        ok(project.run("build", "--push", "--report", str(report), **runner.env()))
        held = runner.api().images()
    traffic = read_traffic(log.lines(project.repository))
    layers = [d for _, d, size in traffic.downloads if size > 100_000]
    assert (layers, traffic.uploads) == ([], [])
    assert project.digests() == before
    assert held == []  # the runner pulled nothing and built nothing


def test_release_copies_the_index_byte_for_byte(built: tuple[Project, Any]) -> None:
    project, _ = built
    ok(project.run("release"))
    digests = project.digests()
    assert digests["latest"] == digests[SHA]
    assert "manifests" in manifest(project.registry, project.repository, "latest")


def test_a_branch_reuses_the_index_by_key_and_copies_it(built: tuple[Project, Any]) -> None:
    project, _ = built
    log = AccessLogMark()
    ok(
        project.run(
            "build", "--push", CI_COMMIT_REF_SLUG="feature-arm", CI_COMMIT_SHORT_SHA="7a7a0002"
        )
    )
    traffic = read_traffic(log.lines(project.repository))
    assert traffic.uploads == []
    digests = project.digests()
    assert digests["image--feature-arm"] == digests["image"] == digests["7a7a0002"]


def test_the_classic_builder_refuses_two_platforms_in_one_line(built: tuple[Project, Any]) -> None:
    project, _ = built
    refused = project.run("plan", "--builder", "classic")
    assert refused.returncode == 1
    assert "Traceback" not in refused.output
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "linux/amd64, linux/arm64" in lines[0]
    assert "BuildKit" in lines[0]


@pytest.fixture(scope="module")
def jobs(
    engine: None,
    registry_address: str,
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Project]:
    """Run one job per platform (build --push --platform P), as a parallel:matrix does."""
    with throwaway_image(registry_address) as image:
        project = Project(tmp_path_factory.mktemp("jobs") / "project", image, base_images)
        for platform in PLATFORMS.split(","):
            ok(project.run("build", "--push", "--platform", platform))
        yield project


def test_per_platform_jobs_write_their_own_tags_only(jobs: Project) -> None:
    suffixes = ("--linux.amd64", "--linux.arm64")
    tags = ("tool", "files", "image", SHA)
    expected = {f"{tag}{suffix}" for tag in tags for suffix in suffixes}
    assert registry_tags(jobs.registry, jobs.repository) == expected


def test_merge_writes_the_commit_index_of_both_jobs_without_moving_a_layer(
    jobs: Project,
) -> None:
    before = jobs.digests()
    log = AccessLogMark()
    ok(jobs.run("merge"))
    traffic = read_traffic(log.lines(jobs.repository))
    layers = [d for _, d, size in traffic.downloads if size > 100_000]  # not image configs
    assert (layers, traffic.uploads) == ([], [])
    index = manifest(jobs.registry, jobs.repository, SHA)
    children = {
        f"{entry['platform']['os']}/{entry['platform']['architecture']}": entry["digest"]
        for entry in index["manifests"]
    }
    assert children == {
        "linux/amd64": before[f"{SHA}--linux.amd64"],
        "linux/arm64": before[f"{SHA}--linux.arm64"],
    }
    after = jobs.digests()
    assert {tag: after[tag] for tag in before} == before  # both platforms' caches survive
    assert {"tool", "files", "image", SHA} <= set(after)
    # tool ran on the build platform (amd64) in both jobs: one image, not an index.
    assert "manifests" not in manifest(jobs.registry, jobs.repository, "tool")
    ok(jobs.run("merge"))  # a rerun writes nothing new
    assert jobs.digests() == after


def test_each_job_reuses_its_own_platforms_stages_on_a_rerun(jobs: Project) -> None:
    log = AccessLogMark()
    rerun = ok(jobs.run("build", "--push", "--platform", "linux/arm64"))
    assert read_traffic(log.lines(jobs.repository)).uploads == []
    assert "image: reused" in rerun.stdout


def test_an_engine_without_the_containerd_store_refuses_two_platforms_in_one_line(
    built: tuple[Project, Any], registry_address: str
) -> None:
    project, _ = built
    image = f"{registry_address}/platforms-{uuid.uuid4().hex[:10]}/app"

    def make(root: Path) -> EmptyRunner:
        return EmptyRunner(root, snapshotter=False)  # the classic overlay2 image store

    with own_daemon(make, "platforms runner") as runner:
        refused = project.run("build", "--push", CI_REGISTRY_IMAGE=image, **runner.env())
        assert refused.returncode == 1
        assert "Traceback" not in refused.output
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "containerd image store" in lines[0]
        assert "--platform" in lines[0]  # the way out: a job per platform
        one = project.run(
            "plan", "--platform", "linux/arm64", CI_REGISTRY_IMAGE=image, **runner.env()
        )
        assert ok(one).returncode == 0  # one foreign platform is fine on either store
    assert registry_tags(registry_address, image.split("/", 1)[1]) == set()


def test_each_platform_builds_on_its_own_base_image_even_past_a_stale_local_tag(
    engine: None, registry_address: str, base_images: dict[str, str], tmp_path: Path
) -> None:
    """The engine holds an amd64-only image under the base's name (as a runner that pulled
    it before the mirror became an index does): the arm64 image still starts from the
    base index's arm64 image, the one its content key names.
    """
    base = base_images["PYTHON_IMAGE"]
    repository, tag = base.split("/", 1)[1].rsplit(":", 1)
    bases = platform_images(registry_address, repository, tag)
    assert "linux/arm64" in bases, f"{base} has no linux/arm64 image: run .ci/build-base-images"
    client = docker.from_env()
    amd64 = manifest(registry_address, repository, tag)["manifests"]
    amd64_digest = next(e["digest"] for e in amd64 if e["platform"]["architecture"] == "amd64")
    client.images.pull(f"{registry_address}/{repository}@{amd64_digest}").tag(base)
    dockerfile = "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE} AS image\nCOPY hello.txt /\n"
    with throwaway_image(registry_address) as image:
        project = Project(tmp_path / "project", image, base_images, dockerfile)
        ok(project.run("build", "--push"))
        built = platform_images(project.registry, project.repository, SHA)
        for name in ("linux/amd64", "linux/arm64"):
            assert built[name]["layers"][0]["digest"] == bases[name]["layers"][0]["digest"], name
