"""Fixtures for the GitLab CI tests: gitlab-ci-local, a committed project, two daemons.

The pipeline runs as the README tells a developer to run it (testing/gitlab_ci_local.py),
on an empty-cache runner daemon; a TLS daemon stands for dind. Without gitlab-ci-local, a
daemon or the registry these tests SKIP, or FAIL when CI is set.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from testing.checks import free_port, require
from testing.daemons import own_daemon
from testing.network import Bridge
from testing.projects import copy_project, git_commit_all
from testing.runners import EmptyRunner
from testing.tls_daemon import TlsDaemon


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


@pytest.fixture(scope="module")
def git_project(gitlab_ci_local: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a committed copy of this checkout (uncommitted changes included)."""
    project = copy_project(tmp_path_factory.mktemp("gitlab") / "project")
    git_commit_all(project)
    return project


@pytest.fixture(scope="module")
def runner(engine: None) -> Iterator[EmptyRunner]:
    """Yield a second daemon standing for a GitLab runner whose cache is empty."""
    with own_daemon(EmptyRunner, "gitlab runner") as runner:
        yield runner


@pytest.fixture(scope="module")
def tls_daemon(engine: None) -> Iterator[TlsDaemon]:
    """Yield a daemon on a loopback TCP port that, like dind, speaks only TLS."""

    def make(root: Path, bridge: Bridge) -> TlsDaemon:
        return TlsDaemon(root, free_port(), bridge)

    with own_daemon(make, "tls daemon", ("dockerd", "openssl")) as daemon:
        yield daemon
