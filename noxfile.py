"""Nox sessions: the one way to lint, type-check, test, build and run this project.

`nox` runs every test session (`nox -l` marks them with *); `nox -s NAME` runs one.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from shutil import which

import nox

nox.options.default_venv_backend = "uv|virtualenv"
# `nox` runs every test session of the app.
nox.options.sessions = ["lint", "typecheck", "tests", "js"]
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = "requirements/local.txt"
TEST_DIRS = ("tests/web",)
# The pipeline on a laptop: .gitlab-ci.yml with the services replaced (nox -s ci_local).
GITLAB_CI_LOCAL_FILE = ".gitlab-ci-local.yml"
# The lint session's checks as git hooks (`pre-commit install`).
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"

# The template's pin of the optional sentry-sdk (copier's `sentry` question), which
# config/sentry.py needs; a project has it in requirements/production.txt, or not at all.
SENTRY_REQUIREMENTS = "requirements/sentry.txt"
# The build tooling: the stageline package (tasks.py imports it) at the pinned version.
BUILD_REQUIREMENTS = "requirements/build.txt"
# Installed with the build requirements, before the index is asked: empty in a project,
# which takes `stageline` from the index.
LOCAL_PACKAGES: list[str] = []
# More checks of the lint session: none in a project; this repository adds its docs site.
LINT_CHECKS: list[Callable[[nox.Session], None]] = []


def install_requirements(session: nox.Session, *extra: str) -> None:
    """Install the pinned development requirements (and ``extra`` files that exist)."""
    files = [REQUIREMENTS, *existing_paths(list(extra))]
    local = LOCAL_PACKAGES if BUILD_REQUIREMENTS in files else []
    session.install(*local, *[arg for name in files for arg in ("-r", name)])


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
    for check in LINT_CHECKS:
        check(session)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check config/, core/, users/, manage.py, tasks.py and noxfile.py (mypy strict)."""
    install_requirements(session, BUILD_REQUIREMENTS, SENTRY_REQUIREMENTS)
    session.run("mypy", *mypy_files())


@nox.session
def tests(session: nox.Session) -> None:
    """Run the app's tests (PostgreSQL when DATABASE_URL is set, else SQLite) and its tasks'."""
    install_requirements(session, BUILD_REQUIREMENTS)
    session.run("pytest", *TEST_DIRS, *session.posargs)


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


# What gitlab-ci-local or .gitlab-ci.yml would otherwise set for the jobs, and this
# machine's environment may override (credentials pass through the environment as is).
CI_LOCAL_FORWARDED = (
    "CI_REGISTRY_IMAGE",
    "CI_REGISTRY",
    "CI_DEFAULT_BRANCH",
    "IMAGE_PREFIX",
    "DOCKER_VERSION",
    "PYTHON_IMAGE",
    "NODE_IMAGE",
    "POSTGRES_IMAGE",
    "STAGELINE_BUILD_NETWORK",
    "STAGELINE_PLATFORMS",
    "JOB_VENV",
)


def ci_local_socket() -> str:
    """Return the path of the engine's socket (DOCKER_HOST's, else the default one)."""
    docker_host = os.environ.get("DOCKER_HOST", "")
    return (
        docker_host.removeprefix("unix://")
        if docker_host.startswith("unix://")
        else ("/var/run/docker.sock")
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
        # Each job in its image, on the host's network (the registry and SSH hosts on
        # loopback), the docker jobs with this engine's socket as dind's.
        "--network",
        "host",
        "--volume",
        f"{ci_local_socket()}:/var/run/docker.sock",
        "--concurrency",
        "1",
        # Under .nox/: out of git's and the Docker build context's way.
        "--state-dir",
        ".nox/gitlab-ci-local",
        *[arg for name, value in variables.items() for arg in ("--variable", f"{name}={value}")],
        *session.posargs,
        external=True,
    )


# >>> template-only: the template's own sessions. copier cuts from this line to the end of
# the file (noxfile.py.jinja), so a project's noxfile has the app's sessions only.
# They test the template with the stageline package of this repository (package/), whose
# own sessions are in package/noxfile.py. The harness (package/testing/) is loaded as a
# pytest plugin. Without an engine, registry or browser their tests skip (fail with CI set).
LOCAL_PACKAGES.append("./package[invoke]")
TEMPLATE_REQUIREMENTS = "requirements/template.txt"
DOCS_REQUIREMENTS = "requirements/docs.txt"
# The lint session builds the docs site: `nox` runs it, so no separate docs session.
nox.options.sessions += ["template", "image", "e2e", "gitlab"]


def run_template_tests(session: nox.Session, *args: str) -> None:
    """Run pytest with the harness plugin from package/testing/."""
    install_requirements(session, BUILD_REQUIREMENTS, TEMPLATE_REQUIREMENTS, SENTRY_REQUIREMENTS)
    harness = {"PYTHONPATH": str(ROOT / "package")}
    session.run("pytest", "-p", "testing.fixtures", *args, *session.posargs, env=harness)


@nox.session
def template(session: nox.Session) -> None:
    """Start projects from the copier template and test them: names, size, lint, update."""
    run_template_tests(session, "tests/template", "tests/tooling", "-m", "not docker")


@nox.session
def image(session: nox.Session) -> None:
    """Build the template's image on a real engine; a generated project's build job too."""
    run_template_tests(session, "tests/docker", "tests/template", "-m", "docker")


@nox.session
def e2e(session: nox.Session) -> None:
    """Drive the production container and the local dev stack in headless Chromium."""
    run_template_tests(session, "tests/e2e", "-m", "e2e")


@nox.session
def gitlab(session: nox.Session) -> None:
    """Run the pipeline's jobs through gitlab-ci-local and a build against a TLS daemon."""
    run_template_tests(session, "tests/gitlab", "-m", "docker")


def build_docs(session: nox.Session) -> None:
    """Build the docs site (mkdocs.yml, docs/) with --strict into .nox/site: a broken link
    or anchor fails it. No plugin fetches anything (tests/tooling builds it offline)."""
    session.install("-r", DOCS_REQUIREMENTS)
    config = str(ROOT / "mkdocs.yml")
    site = str(ROOT / ".nox/site")
    session.run("mkdocs", "build", "--strict", "--config-file", config, "--site-dir", site)


LINT_CHECKS.append(build_docs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site alone (the lint session builds it too)."""
    build_docs(session)
