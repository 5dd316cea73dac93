"""Every unchanged stage comes from the registry's cache on an empty runner.

For each builder (classic and BuildKit), one cold build is pushed to a fresh
repository in the loopback registry; each later scenario purges the runner daemon
(a CI runner with an empty cache), pulls and builds again, and checks what the JSON
report says was cached. Both builders must find the same stages fully cached.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stageline.cache import uses_containerd_store
from stageline.dockerfile import read_dockerfile
from tests.pipeline.conftest import TaskRun, copy_project, ok, run_task
from tests.pipeline.services import EmptyRunner, manifest_digest, registry_tags

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


def assert_same_image(runner: EmptyRunner, builder: str, new_id: str, old_id: str) -> None:
    """Assert the rebuilt image is the pushed one.

    The classic builder reuses the cached image itself, so the IDs match. The
    engine's BuildKit (v0.8) stamps a fresh creation time into the config, so its
    IDs differ even when every step is cached: there the layers must match.
    """
    if builder == "classic":
        assert new_id == old_id
        return
    api = runner.client().api
    assert api.inspect_image(new_id)["RootFS"] == api.inspect_image(old_id)["RootFS"]


def build_on_empty_runner(
    project: Path, runner: EmptyRunner, env: dict[str, str], report: Path
) -> tuple[TaskRun, dict[str, Any]]:
    """Purge the runner, pull the cache sources, build, and return the build's report."""
    runner.purge()
    ok(run_task(project, "pull-stages", env=env))
    build = ok(run_task(project, "build-stages", "--report", str(report), env=env))
    return build, build.report(report)


@pytest.fixture(scope="module", params=["classic", "buildkit"])
def cold(
    request: pytest.FixtureRequest,
    runner: EmptyRunner,
    image_name: str,
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Cold:
    """Build every stage on an empty runner against an empty repository, then push."""
    builder: str = request.param
    image_name = f"{image_name}-{builder}"
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
    return Cold(project, builder, image_name, build.report(report_path), pull, push, env)


def registry_cache(cold: Cold, runner: EmptyRunner) -> bool:
    """Return whether this build exports registry cache (BuildKit, containerd store)."""
    return cold.builder == "buildkit" and uses_containerd_store(runner.client().api.info())


def test_cold_build_then_push_writes_every_stage_tag(cold: Cold, runner: EmptyRunner) -> None:
    if cold.builder == "classic":
        assert "not in the registry yet" in cold.pull.stdout
    else:
        assert "nothing to pull: BuildKit reads its cache sources" in cold.pull.stdout
    stages = by_stage(cold.report)
    assert list(stages) == STAGES
    assert all(stage["steps"] > 0 and stage["cached_steps"] == 0 for stage in stages.values())
    registry, repository = cold.image.split("/", 1)
    assert registry_tags(registry, repository) == {*STAGES, DEFAULT_SHA, "latest"}
    cache_tags = set(STAGES) if registry_cache(cold, runner) else set()
    assert registry_tags(registry, f"{repository}/cache") == cache_tags
    assert "layers uploaded" in cold.push.stdout


def test_an_empty_runner_gets_every_stage_from_the_registry(
    cold: Cold, runner: EmptyRunner, tmp_path: Path
) -> None:
    build, report = build_on_empty_runner(cold.project, runner, cold.env(), tmp_path / "r.json")
    assert fully_cached(report) == set(STAGES)
    assert f"({cold.builder} builder" in build.stdout
    for name, stage in by_stage(report).items():
        assert_same_image(
            runner, cold.builder, stage["image_id"], by_stage(cold.report)[name]["image_id"]
        )
    assert build.stdout.count("fully cached") == len(STAGES)


def test_an_assets_change_reruns_build_node_from_the_assets_copy_only(
    cold: Cold, runner: EmptyRunner, tmp_path: Path
) -> None:
    project = shutil.copytree(cold.project, tmp_path / "project")
    with (project / "assets" / "js" / "main.js").open("a") as handle:
        handle.write("\n// a one-line change\n")
    _, report = build_on_empty_runner(project, runner, cold.env(), tmp_path / "r.json")
    stages, before = by_stage(report), by_stage(cold.report)
    assert fully_cached(report) == {"build-python"}
    assert_same_image(
        runner, cold.builder, stages["build-python"]["image_id"], before["build-python"]["image_id"]
    )
    expected = steps_before(project, cold.builder, "build-node", "assets")
    assert stages["build-node"]["cached_steps"] == expected
    assert stages["build-node"]["image_id"] != before["build-node"]["image_id"]


def test_a_requirements_change_leaves_build_node_cached(
    cold: Cold, runner: EmptyRunner, tmp_path: Path
) -> None:
    project = shutil.copytree(cold.project, tmp_path / "project")
    with (project / "requirements" / "production.txt").open("a") as handle:
        handle.write("# a requirements-only change\n")
    _, report = build_on_empty_runner(project, runner, cold.env(), tmp_path / "r.json")
    stages, before = by_stage(report), by_stage(cold.report)
    assert fully_cached(report) == {"build-node"}
    assert_same_image(
        runner, cold.builder, stages["build-node"]["image_id"], before["build-node"]["image_id"]
    )


def test_a_branch_reads_the_default_cache_and_writes_only_its_own_tags(
    cold: Cold, runner: EmptyRunner, tmp_path: Path
) -> None:
    registry, repository = cold.image.split("/", 1)
    default_tags = [*STAGES, DEFAULT_SHA, "latest"]
    digests = {tag: manifest_digest(registry, repository, tag) for tag in default_tags}
    cache_digests = (
        {stage: manifest_digest(registry, f"{repository}/cache", stage) for stage in STAGES}
        if registry_cache(cold, runner)
        else {}
    )
    env = cold.env(ref="feature-login", sha="2222bbbb")
    _, report = build_on_empty_runner(cold.project, runner, env, tmp_path / "r.json")
    assert fully_cached(report) == set(STAGES)
    push = ok(run_task(cold.project, "push-stages", env=env))
    branch_tags = {f"{stage}--feature-login" for stage in STAGES} | {"2222bbbb"}
    assert registry_tags(registry, repository) == set(default_tags) | branch_tags
    assert {tag: manifest_digest(registry, repository, tag) for tag in default_tags} == digests
    if registry_cache(cold, runner):
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


def test_another_owner_and_mode_0666_still_hit_the_cache(
    cold: Cold, runner: EmptyRunner, tmp_path: Path
) -> None:
    project = shutil.copytree(cold.project, tmp_path / "project")
    for path in [project, *project.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or os.stat(path).st_mode & 0o111
        os.chmod(path, 0o777 if executable else 0o666)
        os.chown(path, 4321, 4321)
    _, report = build_on_empty_runner(project, runner, cold.env(), tmp_path / "r.json")
    assert fully_cached(report) == set(STAGES)
    assert_same_image(
        runner,
        cold.builder,
        by_stage(report)["production"]["image_id"],
        by_stage(cold.report)["production"]["image_id"],
    )
