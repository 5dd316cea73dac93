"""A bare global ``ARG`` of one of BuildKit's automatic platform args, on the real engine.

Current BuildKit leaves ``ARG TARGETARCH`` (or ``BUILDPLATFORM`` ...) declared bare before
the first ``FROM`` at BuildKit's own value; Docker 26's BuildKit (0.13) empties it instead,
for ``FROM``, ``FROM --platform`` and every stage that re-declares it. Stageline plans with
BuildKit's value, so the engine must build with it too, on one platform and on two. What
a user cares about is read from the registry: which files each platform's image holds.
Every project here is ``FROM scratch`` plus ``COPY``: no step runs on arm64, so no
emulation is needed.
"""

from __future__ import annotations

import io
import json
import tarfile
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from testing.projects import make_project
from testing.registries import image_manifests, manifest, registry_tags
from testing.task_runner import TaskRun, ok, run_task

pytestmark = pytest.mark.docker

SHA = "7a7a0003"
# FROM names the stage of the target's architecture; "x" only if TARGETARCH were empty.
PICKED = """\
ARG TARGETARCH
FROM scratch AS files-amd64
COPY arch/amd64/ /
FROM scratch AS files-arm64
COPY arch/arm64/ /
FROM scratch AS files-x
COPY hello.txt /
FROM files-${TARGETARCH:-x} AS image
COPY hello.txt /
"""
# A stage built once, where the build runs, and copied into each platform's image.
ON_BUILD_PLATFORM = """\
ARG BUILDPLATFORM
FROM --platform=$BUILDPLATFORM scratch AS tool
COPY tool.txt /
FROM scratch AS image
COPY --from=tool /tool.txt /
COPY hello.txt /
"""
# The stage re-declares the arg: it copies its own architecture's folder only.
IN_THE_STAGE = """\
ARG TARGETARCH
FROM scratch AS image
ARG TARGETARCH
COPY arch/${TARGETARCH}/ /
"""
BOTH = ("linux/amd64", "linux/arm64")


def blob(registry: str, repository: str, digest: str) -> bytes:
    """Return a blob of the (unauthenticated) loopback registry."""
    url = f"http://{registry}/v2/{repository}/blobs/{digest}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def platform_files(registry: str, repository: str, tag: str) -> dict[str, set[str]]:
    """Return the files the image under ``tag`` holds, for each platform it has."""
    found: dict[str, set[str]] = {}
    for image in image_manifests(registry, repository, tag):
        config = json.loads(blob(registry, repository, image["config"]["digest"]))
        if config.get("os") in (None, "unknown"):
            continue  # an attestation
        files = found.setdefault(f"{config['os']}/{config['architecture']}", set())
        for layer in image["layers"]:
            data = io.BytesIO(blob(registry, repository, layer["digest"]))
            with tarfile.open(fileobj=data) as tar:
                files.update(m.name.lstrip("./") for m in tar if m.isreg())
    return found


class Project:
    """A ``FROM scratch`` project pushed to its own repository of the loopback registry."""

    def __init__(self, root: Path, registry: str, dockerfile: str, platforms: tuple[str, ...]):
        self.root = make_project(root, dockerfile)
        if platforms:
            listed = ", ".join(f'"{platform}"' for platform in platforms)
            with (self.root / "pyproject.toml").open("a") as pyproject:
                pyproject.write(f"platforms = [{listed}]\n")
        for arch in ("amd64", "arm64"):
            (self.root / "arch" / arch).mkdir(parents=True)
            (self.root / "arch" / arch / f"{arch}.txt").write_text(f"{arch}\n")
        (self.root / "tool.txt").write_text("tool\n")
        self.registry = registry
        self.repository = f"platform-args-{uuid.uuid4().hex[:10]}/app"

    def run(self, *args: str) -> TaskRun:
        env = {
            "CI_REGISTRY_IMAGE": f"{self.registry}/{self.repository}",
            "CI_COMMIT_REF_SLUG": "main",
            "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_SHORT_SHA": SHA,
            "STAGELINE_BUILDER": "buildkit",
        }
        return run_task(self.root, *args, env=env, module="stageline")

    def files(self, tag: str = SHA) -> dict[str, set[str]]:
        return platform_files(self.registry, self.repository, tag)


Maker = Callable[..., Project]


@pytest.fixture
def project(engine: None, registry_address: str, tmp_path: Path) -> Iterator[Maker]:
    """Yield a maker of projects; remove what their builds left in the engine."""
    made: list[Project] = []

    def make(dockerfile: str, platforms: tuple[str, ...] = ()) -> Project:
        made.append(Project(tmp_path / f"p{len(made)}", registry_address, dockerfile, platforms))
        return made[-1]

    yield make
    client = docker.from_env()
    for each in made:
        for found in client.images.list(name=f"{each.registry}/{each.repository}"):
            client.images.remove(found.id, force=True)


@pytest.mark.parametrize("platform", BOTH)
def test_from_builds_on_the_stage_of_the_target_architecture(project: Maker, platform: str) -> None:
    built = project(PICKED)
    ok(built.run("build", "--push", "--platform", platform))
    arch = platform.split("/")[1]
    assert built.files() == {platform: {f"{arch}.txt", "hello.txt"}}
    assert f"files-{arch}" in registry_tags(built.registry, built.repository)


def test_from_platform_buildplatform_builds_once_for_two_platforms(project: Maker) -> None:
    built = project(ON_BUILD_PLATFORM, BOTH)
    ok(built.run("build", "--push"))
    assert built.files() == {platform: {"tool.txt", "hello.txt"} for platform in BOTH}
    tool = manifest(built.registry, built.repository, "tool")
    assert "manifests" not in tool  # one image, of the build platform, shared by both
    assert built.files("tool") == {"linux/amd64": {"tool.txt"}}


def test_a_stage_that_redeclares_the_arg_gets_each_platforms_value(project: Maker) -> None:
    built = project(IN_THE_STAGE, BOTH)
    ok(built.run("build", "--push"))
    assert built.files() == {"linux/amd64": {"amd64.txt"}, "linux/arm64": {"arm64.txt"}}
    one = project(IN_THE_STAGE)
    ok(one.run("build", "--push", "--platform", "linux/arm64"))
    assert one.files() == {"linux/arm64": {"arm64.txt"}}
