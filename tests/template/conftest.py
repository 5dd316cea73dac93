"""Fixtures for the template tests: this checkout as a released copier template.

The template is a temporary git repository made from this checkout's working tree
(uncommitted changes included, git-ignored files left out) with one commit tagged with the
newest version CHANGELOG.md records as released (``v2.0.0``), so the tests depend neither
on the state of the developer's repository nor on its tags, which do not always travel
with a copy of it.
copier runs as a user runs it (``python -m copier ...``), so its exit codes and
messages are what a user gets.

A generated project pins ``stageline[invoke]==<version>``, which no index has before the
release: the harness's ``wheelhouse`` builds this working tree's package once per
session, and ``project_environ`` points pip and uv at it (PIP_FIND_LINKS, UV_FIND_LINKS),
as a project would find the released package on PyPI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException
from testing.task_runner import TaskRun, base_environ
from testing.wheelhouse import find_links_variables

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_ROOT / "package"
# "## 1.2.3 - 2026-12-31": a released version's heading in CHANGELOG.md.
RELEASE_HEADING = re.compile(r"^## (\d+)\.(\d+)\.(\d+) - \d{4}-\d{2}-\d{2}$", re.MULTILINE)


def released_versions(changelog: str) -> list[tuple[int, int, int]]:
    """Return the versions a changelog records as released, in the order it lists them."""
    return [(int(a), int(b), int(c)) for a, b, c in RELEASE_HEADING.findall(changelog)]


def tag_of(version: tuple[int, int, int]) -> str:
    """Return the git tag of a template version: (1, 2, 0) -> v1.2.0."""
    return "v{}.{}.{}".format(*version)


TEMPLATE_VERSION = released_versions((REPO_ROOT / "CHANGELOG.md").read_text())[0]
TEMPLATE_TAG = tag_of(TEMPLATE_VERSION)

# Non-default answers: every one differs from the template's own names.
ACME = {
    "project_name": "Acme Shop",
    "slug": "acme_shop",
    "description": "Sells anvils to coyotes.",
    "image": "registry.example.com/acme/shop",
    "default_branch": "trunk",
    "python_image": "mirror.example.com/python:3.13-slim",
    "node_image": "mirror.example.com/node:24-slim",
}
# The answers that give back this repository's own names.
STAGELINE = {
    "project_name": "Stageline",
    "slug": "stageline",
    "image": "stageline",
    "default_branch": "main",
    "python_image": "python:3.13-slim",
    "node_image": "node:24-slim",
}


def hermetic_environ(home: Path) -> dict[str, str]:
    """Return a scrubbed environment whose git has an identity and no user config."""
    config = home / "gitconfig"
    if not config.exists():
        home.mkdir(parents=True, exist_ok=True)
        config.write_text(
            "[user]\n\tname = Template Tests\n\temail = template-tests@example.com\n"
            "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
        )
    env = base_environ()
    for name in ("DATABASE_URL", "VIRTUAL_ENV", "NOX_DEFAULT_VENV_BACKEND"):
        env.pop(name, None)
    env.update({"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"})
    return env


def run(
    args: list[str], cwd: Path, env: Mapping[str, str], timeout: int = 600, check: bool = True
) -> TaskRun:
    """Run ``args`` in ``cwd``; with ``check``, fail the test with the output's end on error."""
    # No terminal and no input, as in CI: a command that would ask a question fails.
    result = subprocess.run(
        args,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    done = TaskRun(result.returncode, result.stdout, result.stderr)
    if check and done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode} in {cwd}:\n{done.output[-4000:]}",
            pytrace=False,
        )
    return done


def git(cwd: Path, *args: str, env: Mapping[str, str], check: bool = True) -> str:
    """Run git in ``cwd`` and return its stdout."""
    return run(["git", *args], cwd, env, check=check).stdout


def copier(*args: str, cwd: Path, env: Mapping[str, str], check: bool = True) -> TaskRun:
    """Run the copier command line with ``args``."""
    return run([sys.executable, "-m", "copier", *args], cwd, env, check=check)


def answers_args(answers: Mapping[str, str]) -> list[str]:
    """Return ``--data NAME=VALUE`` arguments for ``answers``."""
    return [arg for name, value in answers.items() for arg in ("--data", f"{name}={value}")]


def working_tree_files() -> list[Path]:
    """Return this checkout's files as git sees them: tracked or new, not ignored."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"cannot list the template's files with git ({exc}): run from a git checkout")
    names = {Path(name) for name in os.fsdecode(listed).split("\0") if name}
    return sorted(name for name in names if (REPO_ROOT / name).is_file())


def make_template_repo(destination: Path, env: Mapping[str, str], tag: str = TEMPLATE_TAG) -> Path:
    """Copy this working tree to ``destination`` as a git repository released as ``tag``."""
    for name in working_tree_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target, follow_symlinks=False)
    git(destination, "init", "--quiet", "--initial-branch=main", env=env)
    git(destination, "add", "--all", env=env)
    git(destination, "commit", "--quiet", "--message", "Template release", env=env)
    git(destination, "tag", tag, env=env)
    return destination


def start_project(
    template: Path,
    destination: Path,
    answers: Mapping[str, str],
    env: Mapping[str, str],
    options: Sequence[str] = (),
) -> Path:
    """Start a project at ``destination`` from ``template`` with ``answers`` and copier's
    ``options`` (``--skip-tasks``, say)."""
    copier(
        "copy",
        "--trust",
        "--defaults",
        *options,
        *answers_args(answers),
        str(template),
        str(destination),
        cwd=destination.parent,
        env=env,
    )
    return destination


@pytest.fixture(scope="session")
def environ(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Return the environment the template tests run commands in."""
    return hermetic_environ(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="session")
def project_environ(environ: dict[str, str], wheelhouse: Path) -> dict[str, str]:
    """Return the template tests' environment with the wheelhouse as a package source."""
    return {**environ, **find_links_variables(wheelhouse, environ)}


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory, environ: dict[str, str]) -> Path:
    """Return this working tree as a template repository tagged TEMPLATE_TAG (do not modify)."""
    return make_template_repo(tmp_path_factory.mktemp("released") / "template", environ)


@pytest.fixture(scope="session")
def acme_project(
    tmp_path_factory: pytest.TempPathFactory, template_repo: Path, environ: dict[str, str]
) -> Path:
    """Return a project started from the template with the non-default ACME answers."""
    return start_project(template_repo, tmp_path_factory.mktemp("acme") / "shop", ACME, environ)


@contextmanager
def throwaway_image(registry_address: str, prefix: str) -> Iterator[str]:
    """Yield an image name no other run uses; remove what the engine holds of it after."""
    name = f"{registry_address}/{prefix}-{uuid.uuid4().hex[:10]}/acme_shop"
    yield name
    try:
        client = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST") or None)
        for held in client.images.list(name=name):
            client.images.remove(held.id, force=True, noprune=False)
    except DockerException:
        pass  # cleanup only: the engine went away, the test already says so
