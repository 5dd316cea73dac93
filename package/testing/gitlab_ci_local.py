"""The GitLab pipeline run as the README tells a developer to run it: `nox -s ci_local`.

gitlab-ci-local runs the jobs of .gitlab-ci.yml (with what .gitlab-ci-local.yml replaces)
in a committed copy of the project, since it reads git (projects.git_commit_all).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from testing.task_runner import base_environ

# Where `nox -s ci_local` keeps gitlab-ci-local's state (artifacts, logs).
STATE_DIR = Path(".nox") / "gitlab-ci-local"


@dataclass
class PipelineRun:
    """A finished `nox -s ci_local -- ARGS` in a project."""

    project: Path
    returncode: int
    output: str

    def passed(self, job: str) -> bool:
        """Return whether gitlab-ci-local reported ``job`` as passed."""
        return f" PASS  {job}" in self.output

    def artifact(self, job: str, path: str) -> Path:
        """Return the file ``path`` of ``job``'s artifacts as gitlab-ci-local exported it."""
        return self.project / STATE_DIR / "artifacts" / job / path


def run_pipeline(
    project: Path, *args: str, env: Mapping[str, str], timeout: int = 1200
) -> PipelineRun:
    """Run `nox -s ci_local -- ARGS` in ``project`` with ``env`` on a scrubbed environment."""
    result = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "ci_local", "--", "--no-color", *args],
        cwd=project,
        env={**base_environ(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return PipelineRun(project, result.returncode, result.stdout)


def passed(run: PipelineRun, *jobs: str) -> PipelineRun:
    """Return ``run`` if it exited 0 with every job passed; otherwise fail with its log."""
    log = f"the pipeline failed ({run.returncode}):\n{run.output[-6000:]}"
    assert run.returncode == 0, log
    assert all(run.passed(job) for job in jobs), log
    return run
