"""Nox sessions: the one way to lint, type-check, test, build and run Stageline.

`nox` runs the default sessions (lint, typecheck, tests); `nox -l` lists them all.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = "requirements/local.txt"
TEST_DIRS = ("tests/web", "tests/stageline")


def install_requirements(session: nox.Session) -> None:
    """Install the pinned development requirements into the session's virtualenv."""
    session.install("-r", REQUIREMENTS)


def build_front_end(session: nox.Session) -> None:
    """Install the locked npm packages and build the webpack bundle into assets/dist/."""
    session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
    session.run("npm", "run", "build", external=True)


def existing_paths(paths: list[str]) -> list[str]:
    """Return those of ``paths`` (relative to the repository root) that exist."""
    return [path for path in paths if (ROOT / path).exists()]


def mypy_files() -> list[str]:
    """Return the existing entries of ``files`` in pyproject's [tool.mypy]."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    files: list[str] = config["tool"]["mypy"]["files"]
    return existing_paths(files)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and check formatting with ruff."""
    install_requirements(session)
    targets = session.posargs or ["."]
    session.run("ruff", "check", *targets)
    session.run("ruff", "format", "--check", *targets)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check config/, core/, stageline/, tasks.py and noxfile.py with mypy."""
    install_requirements(session)
    session.run("mypy", *mypy_files())


@nox.session
def tests(session: nox.Session) -> None:
    """Run the Django and build-library tests (PostgreSQL if DATABASE_URL is set)."""
    install_requirements(session)
    session.run("pytest", *existing_paths(list(TEST_DIRS)), *session.posargs)


@nox.session(venv_backend="none")
def js(session: nox.Session) -> None:
    """Install the locked npm packages and build the webpack bundle."""
    build_front_end(session)


@nox.session
def serve(session: nox.Session) -> None:
    """Build the front end, migrate and run the development server on :8000."""
    install_requirements(session)
    build_front_end(session)
    session.run("python", "manage.py", "migrate", "--no-input")
    session.run("python", "manage.py", "runserver", *(session.posargs or ["127.0.0.1:8000"]))


# ---------------------------------------------------------------------------------------
# Sessions added by other parts of the project go below: docker, e2e, template, faults,
# bench. Reuse install_requirements() and build_front_end(); keep one-line docstrings.
# ---------------------------------------------------------------------------------------


# Without a Docker engine (or Chromium) the tests of these two sessions skip with a
# message, or fail when CI is set: the check lives once, in tests/docker/conftest.py.
@nox.session
def docker(session: nox.Session) -> None:
    """Build the production image on the Docker engine, test it and print its size."""
    install_requirements(session)
    session.run("pytest", "tests/docker", "-m", "docker and not faults", *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """Open the production container's home page in headless Chromium (reports/e2e/)."""
    install_requirements(session)
    session.run("pytest", "tests/e2e", "-m", "e2e", *session.posargs)
