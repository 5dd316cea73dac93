"""Nox sessions: the one way to lint, type-check, test, build and run this project.

`nox` runs every test session (`nox -l` marks them with *); `nox -s NAME` runs one.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from shutil import which

import nox

nox.options.default_venv_backend = "uv|virtualenv"
# `nox` runs every test session. Those that need a Docker engine, a registry, a browser or
# gitlab-ci-local skip with a message when those are missing (and fail when CI is set).
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "js",
    "docker",
    "e2e",
    "gitlab",
    "template",
    "faults",
]
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = "requirements/local.txt"
TEST_DIRS = ("tests/web", "tests/stageline", "tests/tooling")
# Suites that need an engine or registries; the `tests` session runs those of their tests
# marked daemon_free (bad input, a missing daemon or buildx: they stop before Docker).
DAEMON_FREE_IN = ("tests/pipeline", "tests/faults")
# The pipeline on a laptop: .gitlab-ci.yml with the services replaced (nox -s ci_local).
GITLAB_CI_LOCAL_FILE = ".gitlab-ci-local.yml"
# The lint session's checks as git hooks (`pre-commit install`).
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"


# The template's pin of the optional sentry-sdk (copier's `sentry` question), which
# config/sentry.py needs; a project has it in requirements/production.txt, or not at all.
SENTRY_REQUIREMENTS = "requirements/sentry.txt"


def install_requirements(session: nox.Session, *extra: str) -> None:
    """Install the pinned development requirements (and ``extra`` files that exist)."""
    files = [REQUIREMENTS, *existing_paths(list(extra))]
    session.install(*[arg for name in files for arg in ("-r", name)])


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
    """Lint Python (ruff), the Dockerfile (hadolint), .gitlab-ci.yml and pre-commit's config."""
    install_requirements(session)
    targets = session.posargs or ["."]
    session.run("ruff", "check", *targets)
    session.run("ruff", "format", "--check", *targets)
    session.run("hadolint", *existing_paths(["Dockerfile"]))
    if (ROOT / PRE_COMMIT_CONFIG).is_file():
        session.run("pre-commit", "validate-config", PRE_COMMIT_CONFIG)
    # GitLab's own schema, bundled with check-jsonschema: works offline.
    pipelines = existing_paths([".gitlab-ci.yml", GITLAB_CI_LOCAL_FILE])
    if pipelines:
        session.run(
            "check-jsonschema",
            "--builtin-schema",
            "vendor.gitlab-ci",
            "--data-transform",
            "gitlab-ci",
            *pipelines,
        )


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check config/, core/, users/, stageline/, testing/, tasks.py and noxfile.py (mypy)."""
    install_requirements(session, SENTRY_REQUIREMENTS)
    session.run("mypy", *mypy_files())


@nox.session
def tests(session: nox.Session) -> None:
    """Run the Django, build-library and daemon-free task tests (PostgreSQL if DATABASE_URL)."""
    install_requirements(session)
    paths = existing_paths([*TEST_DIRS, *DAEMON_FREE_IN])
    selected = "daemon_free or not (docker or faults)"
    session.run("pytest", *paths, "-m", selected, *session.posargs)


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


# Without a Docker engine (or Chromium) the tests of these two sessions skip with a
# message, or fail when CI is set (testing/checks.py's `require`).
@nox.session
def docker(session: nox.Session) -> None:
    """Test the image and the stage cache on a real engine and registry; print the size."""
    install_requirements(session)
    suites = existing_paths(["tests/docker", "tests/pipeline", "tests/template"])
    session.run("pytest", *suites, "-m", "docker and not faults", *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """Drive the production container and the local dev stack in headless Chromium."""
    install_requirements(session)
    session.run("pytest", "tests/e2e", "-m", "e2e", *session.posargs)


# What gitlab-ci-local or .gitlab-ci.yml would otherwise set for the jobs, and this
# machine's environment may override (credentials pass through the environment as is).
CI_LOCAL_FORWARDED = (
    "CI_REGISTRY_IMAGE",
    "CI_REGISTRY",
    "CI_DEFAULT_BRANCH",
    "IMAGE_PREFIX",
    "PYTHON_IMAGE",
    "NODE_IMAGE",
    "DOCKER_HOST",
    "STAGELINE_BUILD_NETWORK",
    "JOB_VENV",
)


def ci_local_names_registry(posargs: list[str]) -> bool:
    """Return whether the build job of `nox -s ci_local -- POSARGS` has an image to push to."""
    if os.environ.get("CI_REGISTRY_IMAGE") or any("CI_REGISTRY_IMAGE=" in a for a in posargs):
        return True
    variables_file = ROOT / ".gitlab-ci-local-variables.yml"
    return variables_file.is_file() and "CI_REGISTRY_IMAGE" in variables_file.read_text()


@nox.session(name="ci_local", venv_backend="none")
def ci_local(session: nox.Session) -> None:
    """Run the GitLab pipeline (or the jobs named after --) here with gitlab-ci-local."""
    missing = [tool for tool in ("gitlab-ci-local", "git", "bash", "rsync") if not which(tool)]
    if missing:
        session.error(
            f"{', '.join(missing)} not found: install them "
            "(`npm install -g gitlab-ci-local@4.73.0`; git, bash, rsync from your OS)"
        )
    runs_build = not session.posargs or "build" in session.posargs
    if runs_build and not ci_local_names_registry(session.posargs):
        session.error(
            "CI_REGISTRY_IMAGE is not set and the build job pushes there: set it to a "
            "repository you can push to, e.g. CI_REGISTRY_IMAGE=localhost:5000/group/app"
        )
    variables = {name: os.environ[name] for name in CI_LOCAL_FORWARDED if os.environ.get(name)}
    database = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if database:
        variables["DATABASE_URL"] = database
    session.run(
        "gitlab-ci-local",
        "--file",
        GITLAB_CI_LOCAL_FILE,
        "--force-shell-executor",
        "--concurrency",
        "1",
        # Under .nox/: out of git's and the Docker build context's way.
        "--state-dir",
        ".nox/gitlab-ci-local",
        *[arg for name, value in variables.items() for arg in ("--variable", f"{name}={value}")],
        *session.posargs,
        external=True,
    )


@nox.session
def gitlab(session: nox.Session) -> None:
    """Run the pipeline's jobs through gitlab-ci-local and a build against a TLS daemon."""
    install_requirements(session)
    session.run("pytest", "tests/gitlab", "-m", "docker", *session.posargs)


# tests/template is the template's test of itself: copier leaves it out of a new project,
# where this session then has nothing to run. The generated project's Docker build test
# (tests/template/test_generated_build.py, marked docker) belongs to the docker session.
@nox.session
def template(session: nox.Session) -> None:
    """Start a project from the copier template and test it: names, lint, tests, update."""
    if not (ROOT / "tests" / "template").is_dir():
        session.skip("no tests/template here: this project was made from the template")
    install_requirements(session, SENTRY_REQUIREMENTS)
    session.run("pytest", "tests/template", "-m", "template and not docker", *session.posargs)


# The benchmark of the stage cache against the single-stage build it replaces, on an
# empty-cache runner daemon. Needs root, dockerd and `source .ci/env`. `-- --short` is CI's
# quick proof that it still works (results in reports/bench/). The template's own tool:
# a project started from it has no benchmarks/.
@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark the stage cache against the single-stage baseline (benchmarks/results/)."""
    if not (ROOT / "benchmarks").is_dir():
        session.skip("no benchmarks/ here: this project was made from the template")
    session.install("-r", "requirements/bench.txt")
    session.run("pytest", "tests/bench", "-q")  # the measures, before spending minutes
    session.run("python", "-m", "benchmarks", *session.posargs)


# Needs root, dockerd, docker-registry and the loopback mirror (.ci/start-services,
# .ci/build-base-images, `source .ci/env`): without them the tests skip, or fail with CI set.
@nox.session
def faults(session: nox.Session) -> None:
    """Stop registries and the daemon mid-task, feed bad input and hunt for leaked secrets."""
    install_requirements(session)
    session.run("pytest", "tests/faults", "-m", "faults", *session.posargs)
