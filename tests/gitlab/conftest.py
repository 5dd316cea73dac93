"""Fixtures for the GitLab CI tests: gitlab-ci-local, a committed project, two daemons.

The pipeline runs as the README tells a developer to run it (testing/gitlab_ci_local.py),
on an empty-cache runner daemon; a TLS daemon stands for dind. Without gitlab-ci-local, a
daemon or the registry these tests SKIP, or FAIL when CI is set.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from testing.checks import free_port, require
from testing.daemons import own_daemon
from testing.projects import copy_project, cut_template_only_sessions, git_commit_all
from testing.runners import EmptyRunner
from testing.tls_daemon import TlsDaemon
from testing.wheelhouse import find_links_variables


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


def committed_project(destination: Path) -> Path:
    """Copy this checkout's project (uncommitted changes included) and commit it.

    As in a generated project, noxfile.py has no template-only sessions: they install
    ./package, which the copy leaves out.
    """
    project = copy_project(destination)
    cut_template_only_sessions(project)
    git_commit_all(project)
    return project


def short_sha(project: Path) -> str:
    """Return the commit's short SHA, as GitLab sets CI_COMMIT_SHORT_SHA (8 digits)."""
    return subprocess.run(
        ["git", "rev-parse", "--short=8", "HEAD"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def git_project(gitlab_ci_local: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a committed copy of this checkout's project."""
    return committed_project(tmp_path_factory.mktemp("gitlab") / "project")


@pytest.fixture(scope="session")
def job_variables(wheelhouse: Path) -> list[str]:
    """Return gitlab-ci-local arguments that let the jobs install the pinned stageline.

    requirements/build.txt pins the release this checkout will be; the jobs find its
    wheel, built from the working tree, in the wheelhouse (pip and uv alike).
    """
    variables = find_links_variables(wheelhouse)
    return [arg for name, value in variables.items() for arg in ("--variable", f"{name}={value}")]


@pytest.fixture(scope="module")
def runner(engine: None) -> Iterator[EmptyRunner]:
    """Yield a second daemon standing for a GitLab runner whose cache is empty."""
    with own_daemon(EmptyRunner, "gitlab runner") as runner:
        yield runner


@pytest.fixture(scope="module")
def tls_daemon(engine: None) -> Iterator[TlsDaemon]:
    """Yield a daemon on a loopback TCP port that, like dind, speaks only TLS."""

    def make(root: Path) -> TlsDaemon:
        return TlsDaemon(root, free_port())

    with own_daemon(make, "tls daemon", ("dockerd", "openssl")) as daemon:
        yield daemon
