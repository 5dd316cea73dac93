"""The registry or the daemon goes away in the middle of a task; branches build at once.

Each test builds a tiny two-stage project on the faults' own runner daemon and talks
to a registry of its own, which it stops and starts while the tasks run.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from testing.projects import make_project
from testing.registries import LoopbackRegistry, image_ids, manifest_digest, whole_tags
from testing.runners import EmptyRunner, task_env
from testing.task_runner import TaskRun, assert_clean_failure, ok, run_task, run_task_until

pytestmark = pytest.mark.faults

DEFAULT_TAGS = {"base", "final", "cafe0001"}


@pytest.fixture(scope="module")
def shared(registry: Callable[..., LoopbackRegistry]) -> LoopbackRegistry:
    """Return a registry the tests that do not stop it share (one repository each)."""
    return registry()


def repository_of(image: str) -> tuple[str, str]:
    """Return ``(registry, repository)`` of an image name."""
    registry, repository = image.split("/", 1)
    return registry, repository


Built = tuple[Path, dict[str, str], TaskRun]
"""A project made and built for an image: the project, its task settings, the build."""


@pytest.fixture
def build(runner: EmptyRunner, base_images: dict[str, str], tmp_path: Path) -> Callable[..., Built]:
    """Return ``build(image, *options, directory="project", **settings)``.

    It makes the two-stage project in ``tmp_path / directory`` and runs build-stages (with
    ``options``) for ``image`` on the runner, branch settings as :func:`task_env` takes them.
    """

    def make_and_build(
        image: str, *options: str, directory: str = "project", **settings: str
    ) -> Built:
        env = task_env(runner, base_images, image, **settings)
        project = make_project(tmp_path / directory)
        return project, env, ok(run_task(project, "build-stages", *options, env=env))

    return make_and_build


def stop_registry_when(
    service: LoopbackRegistry,
    project: Path,
    task: str,
    env: dict[str, str],
    when: Callable[[str], bool],
) -> tuple[TaskRun, bool]:
    """Run ``task`` and stop ``service`` at its first output line ``when`` holds for.

    Returns the finished run and whether the registry was stopped.
    """
    return run_task_until(project, task, env=env, when=when, then=lambda _: service.stop())


def test_registry_stopped_mid_push_fails_naming_it_and_the_rerun_leaves_whole_tags(
    registry: Callable[..., LoopbackRegistry], build: Callable[..., Built]
) -> None:
    # A registry of its own with no layers yet: the first stage's base layer (about
    # 160 MB) is still uploading when its small layer shows as pushed.
    service = registry()
    image = f"{service.address}/faults/push"
    project, env, _ = build(image, STAGELINE_PUSH_RETRIES="2")

    push, stopped = stop_registry_when(
        service, project, "push-stages", env, when=lambda line: line.endswith(": pushed")
    )
    assert stopped, f"no layer was pushed:\n{push.output[-3000:]}"
    assert_clean_failure(push, f"registry {service.address}", "after 3 attempts", "push again")
    assert "retrying in 1 s" in push.stderr
    assert "retrying in 2 s" in push.stderr

    service.start()
    registry_address, repository = repository_of(image)
    whole_tags(registry_address, repository)  # whatever the broken push left is whole
    ok(run_task(project, "push-stages", env=env))
    assert whole_tags(registry_address, repository) == DEFAULT_TAGS


def test_registry_stopped_during_pull_warns_and_the_cold_build_is_still_right(
    runner: EmptyRunner, registry: Callable[..., LoopbackRegistry], build: Callable[..., Built]
) -> None:
    service = registry()  # its own: this test stops it
    image = f"{service.address}/faults/pull"
    project, env, _ = build(image)
    ok(run_task(project, "push-stages", env=env))
    runner.purge()  # an empty runner: everything must come from the registry
    # A change to what the final stage copies: it must be built, so its sources are pulled
    # (an unchanged project reuses every stage and pulls nothing).
    (project / "hello.txt").write_text(f"changed {uuid.uuid4().hex}\n")

    pull, stopped = stop_registry_when(
        service, project, "pull-stages", env, when=lambda line: line.startswith("==> pull ")
    )
    assert stopped
    assert pull.returncode == 0, pull.output[-3000:]
    assert "Traceback" not in pull.output
    warnings = [line for line in pull.stderr.splitlines() if line.startswith("warning:")]
    assert warnings, pull.output
    for warning in warnings:
        assert f"from {service.address}" in warning
        assert "building without this cache source" in warning

    ok(run_task(project, "build-stages", env=env))
    hello = (project / "hello.txt").read_text()
    assert runner.read_file(f"{image}:final", "/hello.txt") == hello
    assert runner.read_file(f"{image}:cafe0001", "/base.txt") == "base-ready\n"


def test_a_daemon_restart_between_build_and_push_does_not_break_the_push(
    runner: EmptyRunner, shared: LoopbackRegistry, build: Callable[..., Built], tmp_path: Path
) -> None:
    image = f"{shared.address}/faults/restart"
    report = tmp_path / "report.json"
    project, env, built = build(image, "--report", str(report))

    runner.restart()

    ok(run_task(project, "push-stages", env=env))
    registry_address, repository = repository_of(image)
    assert whole_tags(registry_address, repository) == DEFAULT_TAGS
    final_id = built.report(report)["stages"][-1]["image_id"]
    assert final_id in image_ids(registry_address, repository, "final")


def test_two_branches_building_at_once_keep_their_own_tags_and_the_default_ones(
    runner: EmptyRunner,
    shared: LoopbackRegistry,
    base_images: dict[str, str],
    build: Callable[..., Built],
    tmp_path: Path,
) -> None:
    image = f"{shared.address}/faults/branches"
    registry_address, repository = repository_of(image)
    main, main_env, _ = build(image, directory="main")
    ok(run_task(main, "push-stages", env=main_env))
    before = {tag: manifest_digest(registry_address, repository, tag) for tag in DEFAULT_TAGS}

    branches = {"feature-a": "aaaa1111", "feature-b": "bbbb2222"}
    projects = {ref: make_project(tmp_path / ref) for ref in branches}
    runs: dict[str, list[TaskRun]] = {ref: [] for ref in branches}

    def build_and_push(ref: str) -> None:
        env = task_env(runner, base_images, image, ref=ref, sha=branches[ref])
        report = str(tmp_path / f"{ref}.json")
        runs[ref].append(run_task(projects[ref], "build-stages", "--report", report, env=env))
        if runs[ref][0].returncode == 0:
            runs[ref].append(run_task(projects[ref], "push-stages", env=env))

    threads = [threading.Thread(target=build_and_push, args=(ref,)) for ref in branches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ref in branches:
        assert len(runs[ref]) == 2, f"{ref} did not get to push"
        for run in runs[ref]:
            ok(run)

    after = {tag: manifest_digest(registry_address, repository, tag) for tag in DEFAULT_TAGS}
    assert after == before
    branch_tags = {f"{stage}--{ref}" for stage in ("base", "final") for ref in branches}
    assert whole_tags(registry_address, repository) == DEFAULT_TAGS | branch_tags | set(
        branches.values()
    )
    for ref, sha in branches.items():
        built = runs[ref][0].report(tmp_path / f"{ref}.json")["stages"][-1]["image_id"]
        assert built in image_ids(registry_address, repository, f"final--{ref}")
        assert built in image_ids(registry_address, repository, sha)
        hello = (projects[ref] / "hello.txt").read_text()
        assert runner.read_file(built, "/hello.txt") == hello
