"""The tasks run as a user runs them: ``python -m invoke ...`` (or ``python -m stageline
...``, the command line: ``module="stageline"``) in a project folder.

The environment is this process's without CI, Docker or Stageline settings, plus what a
test passes, so exit codes, messages and reports are what a user gets. ``run_task_until``
acts on a running task (a signal, a stopped registry) when a line of its output appears.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRUBBED_PREFIXES = ("CI_", "STAGELINE_", "DOCKER_", "GITLAB_")
TASK_TIMEOUT = 1200


@dataclass
class TaskRun:
    """A finished command: its exit code and output."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Return stdout and stderr together."""
        return self.stdout + self.stderr

    def report(self, path: Path) -> dict[str, Any]:
        """Return the JSON report the run wrote to ``path``."""
        return dict(json.loads(path.read_text()))


def base_environ() -> dict[str, str]:
    """Return this process's environment without CI, Docker or Stageline settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}


def run_task(
    project: Path,
    *args: str,
    env: Mapping[str, str],
    timeout: int = TASK_TIMEOUT,
    module: str = "invoke",
) -> TaskRun:
    """Run ``invoke ARGS`` in ``project`` with ``env`` added to a scrubbed environment."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=project,
        env={**base_environ(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return TaskRun(result.returncode, result.stdout, result.stderr)


def ok(run: TaskRun) -> TaskRun:
    """Return ``run`` if it exited 0; otherwise fail with the end of its output."""
    assert run.returncode == 0, f"invoke failed ({run.returncode}):\n{run.output[-4000:]}"
    return run


def assert_clean_failure(run: TaskRun, *needles: str) -> None:
    """Assert exit 1 with a short message containing ``needles`` and no traceback."""
    assert run.returncode == 1, run.output[-3000:]
    assert "Traceback" not in run.output
    error_lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, run.stderr
    for needle in needles:
        assert needle in run.stderr, f"{needle!r} not in:\n{run.stderr}"


def default_sigint() -> None:
    """Give SIGINT its default disposition (in the child, before it runs the task)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_task(
    project: Path, *args: str, env: Mapping[str, str], module: str = "invoke"
) -> subprocess.Popen[str]:
    """Start ``MODULE ARGS`` in ``project`` (own session) with ``env`` on a scrubbed base.

    SIGINT starts at its default disposition: a test run started as a background job of a
    script inherits it ignored, and the task would then never see the Ctrl-C a test sends.
    """
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=project,
        env={**base_environ(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
    )


def run_task_until(
    project: Path,
    *args: str,
    env: Mapping[str, str],
    when: Callable[[str], bool],
    then: Callable[[subprocess.Popen[str]], None],
    timeout: float = 600,
    module: str = "invoke",
) -> tuple[TaskRun, bool]:
    """Run a task, call ``then(process)`` at the first stdout line for which ``when`` holds.

    Returns the finished run and whether ``then`` was called.
    """
    process = start_task(project, *args, env=env, module=module)
    assert process.stdout is not None
    assert process.stderr is not None
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    watchdog = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    watchdog.start()
    stdout: list[str] = []
    fired = False
    try:
        for line in process.stdout:
            stdout.append(line)
            if not fired and when(line.rstrip("\n")):
                fired = True
                then(process)
        returncode = process.wait()
        reader.join()
    finally:
        watchdog.cancel()
    return TaskRun(returncode, "".join(stdout), "".join(stderr)), fired
