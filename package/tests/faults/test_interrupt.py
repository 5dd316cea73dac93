"""Ctrl-C or SIGTERM during a build step: exit 130 or 143, nothing tagged or pushed, nothing left.

The signal goes to the task's process only (``kill -INT PID``, as some job runners send
it; SIGTERM is how GitLab cancels a job): the harder case, since a terminal's Ctrl-C
would also reach ``docker buildx``. It is sent once the step's own output shows that
the step runs.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from docker.errors import ImageNotFound

from testing.checks import require_builder
from testing.leftovers import processes_mentioning
from testing.projects import make_project
from testing.registries import LoopbackRegistry, registry_tags, whole_tags
from testing.runners import EmptyRunner, task_env
from testing.task_runner import ok, run_task, run_task_until

pytestmark = pytest.mark.faults

# SLEEP_SECONDS is a global build argument, so the environment sets it (60 while the
# test interrupts the step, 1 for the rerun). The step prints a marker computed by the
# shell, which the echoed command line does not contain. CASE makes each test's slow
# step its own, so that no case finds another's step in the runner's cache.
SLOW_DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.13-slim
ARG SLEEP_SECONDS=60
FROM ${PYTHON_IMAGE} AS base
RUN echo base-ready > /base.txt
FROM base AS slow
ARG SLEEP_SECONDS
RUN echo "CASE" && echo "sleeping-$((6 * 7))" && sleep "$SLEEP_SECONDS"
FROM slow AS final
COPY hello.txt /hello.txt
"""
CLEANUP_SECONDS = 30


def settled(check: Callable[[], list[str]], seconds: float) -> list[str]:
    """Return ``check()`` once it is empty, or what it still returns after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        left = check()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def containers_of(runner: EmptyRunner) -> list[str]:
    """Return the runner's containers, running or stopped, one line each."""
    return [f"{c['Id'][:12]} {c['Image']} {c['Status']}" for c in runner.containers()]


# Each builder with each signal through the invoke task; and the `stageline` command,
# which CI jobs run, cancelled as GitLab cancels a job, with and without --push.
CASES = [
    ("classic", signal.SIGINT, "invoke", False),
    ("classic", signal.SIGTERM, "invoke", False),
    ("buildkit", signal.SIGINT, "invoke", False),
    ("buildkit", signal.SIGTERM, "invoke", False),
    ("buildkit", signal.SIGTERM, "stageline", False),
    ("buildkit", signal.SIGTERM, "stageline", True),
]
BUILD_COMMAND = {"invoke": "build-stages", "stageline": "build"}
ALL_TAGS = {"base", "slow", "final", "cafe0001"}


@pytest.mark.parametrize(
    ("builder", "signum", "front_end", "push"),
    CASES,
    ids=[f"{b}-{s.name.lower()}-{f}{'-push' * p}" for b, s, f, p in CASES],
)
def test_an_interrupted_build_exits_non_zero_leaves_nothing_and_the_next_run_works(
    builder: str,
    signum: signal.Signals,
    front_end: str,
    push: bool,
    runner: EmptyRunner,
    registry: Callable[..., LoopbackRegistry],
    base_images: dict[str, str],
    tmp_path: Path,
) -> None:
    require_builder(builder)
    service = registry()
    case = f"{builder}-{signum.name.lower()}-{front_end}{'-push' * push}"
    repository = f"faults/interrupt-{case}"
    image = f"{service.address}/{repository}"
    env = task_env(runner, base_images, image, builder=builder, SLEEP_SECONDS="60")
    project = make_project(tmp_path / "project", SLOW_DOCKERFILE.replace("CASE", case))

    build, fired = run_task_until(
        project,
        BUILD_COMMAND[front_end],
        *(["--push"] if push else []),
        env=env,
        module=front_end,
        when=lambda line: line.endswith("sleeping-42"),
        then=lambda process: process.send_signal(signum),
        timeout=120,
    )
    assert fired, f"the slow step never ran:\n{build.output[-3000:]}"
    assert build.returncode == 128 + signum
    assert "Traceback" not in build.output
    if push:
        assert "interrupted: each tag already pushed is whole" in build.stderr
    else:
        assert "interrupted: nothing was pushed by this step." in build.stderr
    # Nothing keeps building in the background (it would tag the stage later; the one
    # that would sleeps 60 s) ...
    assert settled(lambda: processes_mentioning(image), 5) == []
    # ... no build container is left on the daemon, and nothing was tagged or pushed.
    assert settled(lambda: containers_of(runner), CLEANUP_SECONDS) == []
    api = runner.api()
    for tag in ("slow", "final", "cafe0001"):
        with pytest.raises(ImageNotFound):
            api.inspect_image(f"{image}:{tag}")
    pushed = registry_tags(service.address, repository)
    # With --push the base stage, done before the slow step, may be pushed: only whole.
    assert pushed <= ({"base"} if push else set())
    assert whole_tags(service.address, repository) == pushed

    rerun = {**env, "SLEEP_SECONDS": "1"}
    if push:
        ok(run_task(project, "build", "--push", env=rerun, module="stageline"))
    else:
        ok(run_task(project, "build-stages", env=rerun))
        ok(run_task(project, "push-stages", env=rerun))
    assert whole_tags(service.address, repository) == ALL_TAGS
