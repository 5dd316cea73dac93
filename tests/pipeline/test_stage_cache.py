"""Every unchanged stage comes from the registry's cache on an empty runner.

For BuildKit on a runner with the containerd image store (registry cache) and for the
classic builder on one with the classic overlay2 store, one cold build is pushed to a
fresh repository in the loopback registry; each later scenario purges the runner
daemon (a CI runner with an empty cache), pulls and builds again, and checks what the
JSON report and the registry say. Both builders must find the same stages fully cached.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stageline.cache import uses_containerd_store
from stageline.dockerfile import read_dockerfile
from tests.pipeline.conftest import TaskRun, copy_project, ok, run_task
from tests.pipeline.services import (
    EmptyRunner,
    is_root,
    manifest_digest,
    registry_tags,
    running,
)
from tests.support import require

pytestmark = pytest.mark.docker

STAGES = ["build-python", "build-node", "production"]
DEFAULT_SHA = "1111aaaa"
# Instructions that only change the image config: BuildKit shows no step for them.
METADATA = ("ENV", "ARG", "LABEL", "USER", "EXPOSE", "CMD", "ENTRYPOINT", "STOPSIGNAL")


@dataclass
class Cold:
    """The project, the image name and the report of the cold build that was pushed."""

    project: Path
    builder: str
    image: str
    report: dict[str, Any]
    pull: TaskRun
    push: TaskRun
    env: Callable[..., dict[str, str]]
    runner: EmptyRunner
    layers: dict[str, list[str]]  # each stage image's layers, read before any purge


def by_stage(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the report's stages keyed by name."""
    return {stage["name"]: stage for stage in report["stages"]}


def fully_cached(report: dict[str, Any]) -> set[str]:
    """Return the names of the stages whose every cacheable step came from cache."""
    return {s["name"] for s in report["stages"] if s["cached_steps"] == s["steps"]}


def steps_before(project: Path, builder: str, stage: str, marker: str) -> int:
    """Return the number of cacheable steps of ``stage`` before the first with ``marker``."""
    dockerfile = read_dockerfile(project / "Dockerfile")
    count = 0
    for instruction in dockerfile.stages[dockerfile.stage_names.index(stage)].instructions[1:]:
        if marker in instruction.original:
            return count
        if builder == "classic" or instruction.cmd not in METADATA:
            count += 1
    raise AssertionError(f"no step with {marker!r} in stage {stage}")


def layers_of(runner: EmptyRunner, image_id: str) -> list[str]:
    """Return the layer digests (RootFS) of an image on ``runner``."""
    return list(runner.client().api.inspect_image(image_id)["RootFS"]["Layers"])


def assert_same_image(cold: Cold, stage: str, new_id: str) -> None:
    """Assert the rebuilt image of ``stage`` is the pushed one.

    The classic builder reuses the cached image itself, so the IDs match. BuildKit
    stamps a fresh creation time into the config, so its IDs differ even when every
    step is cached: there the layers must match those of the cold build.
    """
    old_id = by_stage(cold.report)[stage]["image_id"]
    if cold.builder == "classic":
        assert new_id == old_id
        return
    assert layers_of(cold.runner, new_id) == cold.layers[stage]


def build_on_empty_runner(
    project: Path, runner: EmptyRunner, env: dict[str, str], report: Path
) -> tuple[TaskRun, dict[str, Any]]:
    """Purge the runner, pull the cache sources, build, and return the build's report."""
    runner.purge()
    ok(run_task(project, "pull-stages", env=env))
    build = ok(run_task(project, "build-stages", "--report", str(report), env=env))
    return build, build.report(report)


# What each scenario runs on: BuildKit on the containerd image store (Docker 29's default,
# what CI's engine runs; registry cache), and the classic builder on the classic overlay2
# store of older runners (the containerd store breaks its --cache-from, see cache.py).
# The classic store's run is the cheap check: cold, no change and a JS change only.
VARIANTS = {"buildkit-containerd": ("buildkit", True), "classic-overlay2": ("classic", False)}


def full_scenarios_only(cold: Cold) -> None:
    """Skip the scenarios the classic-store check leaves out (each costs a rebuild)."""
    if cold.builder == "classic":
        pytest.skip("the classic-store check runs cold, no change and a JS change only")


@pytest.fixture(scope="module", params=list(VARIANTS))
def cold(
    request: pytest.FixtureRequest,
    engine: None,
    image_name: str,
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cold]:
    """On an empty runner of the variant's store, build every stage for an empty repository."""
    builder, snapshotter = VARIANTS[request.param]
    if not is_root() or shutil.which("dockerd") is None or shutil.which("ctr") is None:
        require("an empty-cache runner needs root, dockerd and ctr", ".ci/install-packages")
    root = Path("/tmp") / f"stageline-runner-{uuid.uuid4().hex[:8]}"
    with running(EmptyRunner(root, snapshotter=snapshotter)) as runner:
        yield cold_build(
            runner, builder, f"{image_name}-{request.param}", base_images, tmp_path_factory
        )


def cold_build(
    runner: EmptyRunner,
    builder: str,
    image_name: str,
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Cold:
    """Purge ``runner``, then pull, build and push the project; return what it left."""
    project = copy_project(tmp_path_factory.mktemp("cold") / "project")

    def env(ref: str = "main", sha: str = DEFAULT_SHA) -> dict[str, str]:
        return {
            "DOCKER_HOST": runner.docker_host,
            "STAGELINE_BUILD_NETWORK": "host",
            "CI_REGISTRY_IMAGE": image_name,
            "CI_COMMIT_REF_SLUG": ref,
            "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_SHORT_SHA": sha,
            "STAGELINE_BUILDER": builder,
            **base_images,
        }

    runner.purge()
    pull = ok(run_task(project, "pull-stages", env=env()))
    report_path = project / "reports" / "cold.json"
    build = ok(run_task(project, "build-stages", "--report", str(report_path), env=env()))
    assert "cached/steps" in build.stdout
    push = ok(run_task(project, "push-stages", env=env()))
    report = build.report(report_path)
    layers = {stage["name"]: layers_of(runner, stage["image_id"]) for stage in report["stages"]}
    return Cold(project, builder, image_name, report, pull, push, env, runner, layers)


def registry_cache(cold: Cold) -> bool:
    """Return whether this build exports registry cache (BuildKit, containerd store)."""
    return cold.builder == "buildkit" and uses_containerd_store(cold.runner.client().api.info())


def test_cold_build_then_push_writes_every_stage_tag(cold: Cold) -> None:
    if cold.builder == "classic":
        assert "not in the registry yet" in cold.pull.stdout
    else:
        assert "nothing to pull: BuildKit reads its cache sources" in cold.pull.stdout
    stages = by_stage(cold.report)
    assert list(stages) == STAGES
    assert all(stage["steps"] > 0 and stage["cached_steps"] == 0 for stage in stages.values())
    registry, repository = cold.image.split("/", 1)
    assert registry_tags(registry, repository) == {*STAGES, DEFAULT_SHA, "latest"}
    cache_tags = set(STAGES) if registry_cache(cold) else set()
    assert registry_tags(registry, f"{repository}/cache") == cache_tags
    assert "layers uploaded" in cold.push.stdout


def test_an_empty_runner_gets_every_stage_from_the_registry(cold: Cold, tmp_path: Path) -> None:
    build, report = build_on_empty_runner(
        cold.project, cold.runner, cold.env(), tmp_path / "r.json"
    )
    assert fully_cached(report) == set(STAGES)
    assert f"({cold.builder} builder" in build.stdout
    for name, stage in by_stage(report).items():
        assert_same_image(cold, name, stage["image_id"])
    assert build.stdout.count("fully cached") == len(STAGES)


def test_an_assets_change_reruns_build_node_from_the_assets_copy_only(
    cold: Cold, tmp_path: Path
) -> None:
    project = shutil.copytree(cold.project, tmp_path / "project")
    with (project / "assets" / "js" / "main.js").open("a") as handle:
        handle.write("\n// a one-line change\n")
    _, report = build_on_empty_runner(project, cold.runner, cold.env(), tmp_path / "r.json")
    stages, before = by_stage(report), by_stage(cold.report)
    assert fully_cached(report) == {"build-python"}
    assert_same_image(cold, "build-python", stages["build-python"]["image_id"])
    expected = steps_before(project, cold.builder, "build-node", "assets")
    assert stages["build-node"]["cached_steps"] == expected
    assert stages["build-node"]["image_id"] != before["build-node"]["image_id"]


def test_a_requirements_change_leaves_build_node_cached(cold: Cold, tmp_path: Path) -> None:
    full_scenarios_only(cold)
    project = shutil.copytree(cold.project, tmp_path / "project")
    with (project / "requirements" / "production.txt").open("a") as handle:
        handle.write("# a requirements-only change\n")
    _, report = build_on_empty_runner(project, cold.runner, cold.env(), tmp_path / "r.json")
    stages = by_stage(report)
    assert fully_cached(report) == {"build-node"}
    assert_same_image(cold, "build-node", stages["build-node"]["image_id"])


def test_a_branch_reads_the_default_cache_and_writes_only_its_own_tags(
    cold: Cold, tmp_path: Path
) -> None:
    full_scenarios_only(cold)
    registry, repository = cold.image.split("/", 1)
    default_tags = [*STAGES, DEFAULT_SHA, "latest"]
    digests = {tag: manifest_digest(registry, repository, tag) for tag in default_tags}
    cache_digests = (
        {stage: manifest_digest(registry, f"{repository}/cache", stage) for stage in STAGES}
        if registry_cache(cold)
        else {}
    )
    env = cold.env(ref="feature-login", sha="2222bbbb")
    _, report = build_on_empty_runner(cold.project, cold.runner, env, tmp_path / "r.json")
    assert fully_cached(report) == set(STAGES)
    push = ok(run_task(cold.project, "push-stages", env=env))
    branch_tags = {f"{stage}--feature-login" for stage in STAGES} | {"2222bbbb"}
    assert registry_tags(registry, repository) == set(default_tags) | branch_tags
    assert {tag: manifest_digest(registry, repository, tag) for tag in default_tags} == digests
    if registry_cache(cold):
        cache_repository = f"{repository}/cache"
        assert registry_tags(registry, cache_repository) == set(STAGES) | {
            f"{stage}--feature-login" for stage in STAGES
        }
        assert {
            stage: manifest_digest(registry, cache_repository, stage) for stage in STAGES
        } == cache_digests
    pushed = {
        line.split(":")[-1] for line in push.stdout.splitlines() if line.startswith("==> push ")
    }
    assert pushed == branch_tags


def test_another_owner_and_mode_0666_still_hit_the_cache(cold: Cold, tmp_path: Path) -> None:
    full_scenarios_only(cold)
    project = shutil.copytree(cold.project, tmp_path / "project")
    for path in [project, *project.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or os.stat(path).st_mode & 0o111
        os.chmod(path, 0o777 if executable else 0o666)
        os.chown(path, 4321, 4321)
    _, report = build_on_empty_runner(project, cold.runner, cold.env(), tmp_path / "r.json")
    assert fully_cached(report) == set(STAGES)
    assert_same_image(cold, "production", by_stage(report)["production"]["image_id"])
