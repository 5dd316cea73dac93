"""Fixtures for the GitLab CI tests: the real jobs through gitlab-ci-local, a TLS daemon.

The pipeline runs as the README tells a developer to run it, `nox -s ci_local -- JOBS`,
in a committed copy of this checkout (gitlab-ci-local reads git), so the jobs of
.gitlab-ci.yml run unchanged except for what .gitlab-ci-local.yml replaces. Without
gitlab-ci-local, a daemon or the registry these tests SKIP, or FAIL when CI is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gitlab.tls import TlsDaemon
from tests.pipeline import conftest as pipeline
from tests.pipeline.conftest import base_environ, copy_project
from tests.pipeline.services import EmptyRunner, is_root, running
from tests.support import free_port, require

# The pipeline tests' fixtures, shared: the main engine, the registry, the mirror images.
engine = pipeline.engine
registry_address = pipeline.registry_address
base_images = pipeline.base_images

# Bridges of their own: docker0 is the main engine's, docker1 the pipeline tests' runner.
RUNNER_BRIDGE = ("docker3", "172.31.0.1/24")
TLS_BRIDGE = ("docker2", "172.30.0.1/24")
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


@pytest.fixture(scope="session")
def gitlab_ci_local() -> None:
    """Require gitlab-ci-local and the tools it runs jobs with."""
    missing = [
        tool for tool in ("gitlab-ci-local", "git", "bash", "rsync") if not shutil.which(tool)
    ]
    if missing:
        require(
            f"{', '.join(missing)} not found",
            "run .ci/install-packages (gitlab-ci-local 4.73.0 from npm; git, bash, rsync)",
        )


def git_commit_all(project: Path) -> None:
    """Make ``project`` a git repository on branch main with one commit of everything."""
    identity = {
        "GIT_AUTHOR_NAME": "Stageline Tests",
        "GIT_AUTHOR_EMAIL": "tests@stageline.invalid",
        "GIT_COMMITTER_NAME": "Stageline Tests",
        "GIT_COMMITTER_EMAIL": "tests@stageline.invalid",
    }
    env = {**os.environ, **identity}
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(["git", *command], cwd=project, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def git_project(gitlab_ci_local: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a committed copy of this checkout (uncommitted changes included)."""
    project = copy_project(tmp_path_factory.mktemp("gitlab") / "project")
    git_commit_all(project)
    return project


@pytest.fixture(scope="module")
def runner(engine: None) -> Iterator[EmptyRunner]:
    """Yield a second daemon standing for a GitLab runner whose cache is empty."""
    if not is_root() or shutil.which("dockerd") is None:
        require("an empty-cache runner needs root and dockerd", "run as root with docker.io")
    bridge, cidr = RUNNER_BRIDGE
    root = Path("/tmp") / f"stageline-glrunner-{uuid.uuid4().hex[:8]}"
    with running(EmptyRunner(root, bridge, cidr)) as runner:
        yield runner


@pytest.fixture(scope="module")
def tls_daemon(engine: None) -> Iterator[TlsDaemon]:
    """Yield a daemon on a loopback TCP port that, like dind, speaks only TLS."""
    if not is_root() or shutil.which("dockerd") is None or shutil.which("openssl") is None:
        require("a TLS daemon needs root, dockerd and openssl", "run as root with docker.io")
    bridge, cidr = TLS_BRIDGE
    root = Path("/tmp") / f"stageline-tls-{uuid.uuid4().hex[:8]}"
    with running(TlsDaemon(root, free_port(), bridge, cidr)) as daemon:
        yield daemon
