"""Fixtures for tests that use a real Docker engine (and, for some, PostgreSQL).

Without an engine these tests SKIP with a message saying why; with CI set they
FAIL instead, so a CI machine that lost its engine cannot pass green.

The production image is built ONCE per test session with Stageline's own build
library (the code behind `invoke build-stages`), and shared by the image tests
and the e2e tests (tests/e2e/conftest.py imports from here). The engine's build
cache is used and never purged.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import docker
import pytest
from docker.errors import DockerException, NotFound
from docker.utils import kwargs_from_env

from stageline import actions
from stageline.builders.choice import choose_builder
from stageline.console import Output
from stageline.errors import StagelineError
from stageline.report import BuildReport
from stageline.settings import load_settings
from tests.support import free_port, require

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEST_DATABASE_URL = "postgres://stageline:stageline@127.0.0.1:5432/stageline"
PRODUCTION_IMAGE = "stageline-test/app"
# A secret planted in the test build context: it must never reach the image. Random,
# so that this source file (which is in the image) does not contain it.
PLANTED_SECRET = f"planted-secret-{secrets.token_hex(8)}"
# Heavy or private things that are not copied into the test build context.
_NOT_COPIED = {
    ".git",
    "node_modules",
    ".nox",
    ".venv",
    "venv",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "__pycache__",
    "reports",
    "staticfiles",
    "dist",
    "htmlcov",
}


def docker_api() -> docker.APIClient:
    """Return a low-level client for the engine at DOCKER_HOST (or the default socket)."""
    kwargs: dict[str, Any] = kwargs_from_env()
    where = kwargs.get("base_url") or "unix:///var/run/docker.sock"
    try:
        api = docker.APIClient(version="auto", timeout=900, **kwargs)
        # REQUESTS_CA_BUNDLE and proxies from the environment must not apply to the engine.
        api.trust_env = False
        api.ping()
    except (DockerException, OSError) as exc:
        text = str(exc).strip().replace("Error while fetching server API version: ", "")
        first = text.splitlines()[0] if text else type(exc).__name__
        require(
            f"No Docker engine answers at {where} ({first})",
            "start one (.ci/start-services) or set DOCKER_HOST",
        )
    return api


# --------------------------------------------------------------------------- build


@dataclass
class ProductionImage:
    """The production image built for this test session, and its build report."""

    image_id: str
    tag: str
    report: BuildReport

    @property
    def stages(self) -> list[str]:
        """Return the stages built, in order."""
        return [stage.name for stage in self.report.stages]


def build_production_image(context: Path) -> ProductionImage:
    """Build every stage of ``context`` with Stageline's library, on the main engine.

    The same library code and builder choice as ``invoke build-stages`` (BuildKit where
    buildx is installed, as in CI), so these tests exercise the path users take; the
    engine's cache is shared with other suites.
    """
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CI_", "STAGELINE_"))},
        "CI_REGISTRY_IMAGE": PRODUCTION_IMAGE,
        "CI_COMMIT_REF_SLUG": "main",
        "CI_COMMIT_SHORT_SHA": "test0000",
    }
    settings = load_settings(context, environ=environ)
    plan = actions.load_plan(settings)
    try:
        choice = choose_builder(settings, plan)
        report = actions.build_stages(settings, plan, Output(force_plain=True), choice)
    except StagelineError as exc:
        pytest.fail(f"building the production image failed: {exc}", pytrace=False)
    final = report.stages[-1]
    return ProductionImage(final.image_id, f"{PRODUCTION_IMAGE}:production", report)


def _copy_context(destination: Path) -> Path:
    """Copy the repository's source (not its heavy ignored dirs) and plant must-ignore files."""
    shutil.copytree(
        REPO_ROOT,
        destination,
        symlinks=True,
        ignore=lambda _dir, names: [name for name in names if name in _NOT_COPIED],
    )
    # Things .dockerignore must keep out of the image; a leak is a test failure.
    planted = {
        ".env": f"DJANGO_SECRET_KEY={PLANTED_SECRET}\n",
        ".env.production": f"DJANGO_SECRET_KEY={PLANTED_SECRET}\n",
        ".git/config": f"[remote]\n\turl = https://user:{PLANTED_SECRET}@example.invalid\n",
        "node_modules/leak/index.js": f"// {PLANTED_SECRET}\n",
        "db.sqlite3": PLANTED_SECRET,
    }
    for relative, text in planted.items():
        target = destination / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    return destination


# --------------------------------------------------------------------------- fixtures

_built: list[ProductionImage] = []


@pytest.fixture(scope="session")
def api() -> docker.APIClient:
    """Return a client for the real engine (skip/fail when there is none)."""
    return docker_api()


@pytest.fixture(scope="session")
def production_image(
    api: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> ProductionImage:
    """Build the production image once per session from a copy of the working tree."""
    image = build_production_image(_copy_context(tmp_path_factory.mktemp("context") / "stageline"))
    _built.append(image)
    return image


@pytest.fixture
def containers(api: docker.APIClient) -> Iterator[Callable[..., str]]:
    """Return a function that creates and starts a container; all are removed afterwards."""
    created: list[str] = []

    def run(image: str, **config: Any) -> str:
        host_config = api.create_host_config(
            network_mode=config.pop("network_mode", "host"),
        )
        container = api.create_container(image, host_config=host_config, **config)
        created.append(container["Id"])
        api.start(container["Id"])
        return str(container["Id"])

    yield run
    for container_id in created:
        with contextlib.suppress(NotFound):
            api.remove_container(container_id, force=True, v=True)


@pytest.fixture
def run_in_image(
    api: docker.APIClient, containers: Callable[..., str], production_image: ProductionImage
) -> Callable[..., tuple[int, str]]:
    """Return a function running a command in a new production container: (exit code, output)."""

    def run(
        command: list[str], environment: Mapping[str, str] | None = None, timeout: float = 120
    ) -> tuple[int, str]:
        return run_to_end(api, containers, production_image.image_id, command, environment, timeout)

    return run


@pytest.fixture
def context_copy(tmp_path: Path) -> Path:
    """Return a fresh copy of the build context (with the planted must-ignore files)."""
    return _copy_context(tmp_path / "context")


@pytest.fixture
def planted_secret() -> str:
    """Return the secret planted in the test build context (it must not reach the image)."""
    return PLANTED_SECRET


@pytest.fixture
def unused_port() -> int:
    """Return a loopback TCP port nothing listens on."""
    return free_port()


def container_output(api: docker.APIClient, container_id: str) -> str:
    """Return the container's stdout and stderr as text."""
    logs: bytes = api.logs(container_id, stdout=True, stderr=True)
    return logs.decode(errors="replace")


def run_to_end(
    api: docker.APIClient,
    containers: Callable[..., str],
    image: str,
    command: list[str],
    environment: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, str]:
    """Run `command` in a new container of `image`; return its exit code and output."""
    container_id = containers(image, command=command, environment=dict(environment or {}))
    status = api.wait(container_id, timeout=timeout)
    return int(status["StatusCode"]), container_output(api, container_id)


def test_database_url() -> str:
    """Return TEST_DATABASE_URL (or the documented default)."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@pytest.fixture(scope="session")
def fresh_database_url() -> Iterator[str]:
    """Create an empty database next to TEST_DATABASE_URL's, drop it at the end."""
    import psycopg

    admin_url = test_database_url()
    parts = urlsplit(admin_url)
    name = f"stageline_image_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0]
        require(
            f"PostgreSQL at {parts.hostname}:{parts.port or 5432} is not usable ({first})",
            "start it (.ci/start-services) or set TEST_DATABASE_URL to a role with CREATEDB",
        )
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    """A running production container serving HTTP on the host's loopback."""

    container_id: str
    url: str
    database_url: str


def wait_for_http(api: docker.APIClient, container_id: str, url: str, timeout: float = 90) -> None:
    """Wait until `url` answers 200, failing early (with the logs) if the container stops."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        state = api.inspect_container(container_id)["State"]
        if not state["Running"]:
            pytest.fail(
                f"the production container exited ({state['ExitCode']}) before serving {url}:\n"
                + container_output(api, container_id)[-3000:],
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    pytest.fail(
        f"{url} did not answer 200 within {timeout:g}s ({last}); container output:\n"
        + container_output(api, container_id)[-3000:],
        pytrace=False,
    )


@pytest.fixture(scope="session")
def production_server(
    api: docker.APIClient, production_image: ProductionImage, fresh_database_url: str
) -> Iterator[Server]:
    """Start the production image against a fresh PostgreSQL database; remove it at the end."""
    port = free_port()
    environment = {
        "DATABASE_URL": fresh_database_url,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_WAIT_SECONDS": "30",
        "PORT": str(port),
        "GUNICORN_WORKERS": "2",
    }
    container = api.create_container(
        production_image.image_id,
        environment=environment,
        host_config=api.create_host_config(network_mode="host"),
    )
    container_id = str(container["Id"])
    try:
        api.start(container_id)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(api, container_id, f"{url}/healthz")
        yield Server(container_id=container_id, url=url, database_url=fresh_database_url)
    finally:
        api.remove_container(container_id, force=True, v=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the production image's size and, per stage, steps cached and seconds."""
    for image in _built:
        size = image.report.stages[-1].size_bytes
        terminalreporter.write_sep("-", "production image")
        terminalreporter.write_line(
            f"{image.tag} ({image.image_id[7:19]}): size {size / 1e6:.1f} MB ({size} bytes)"
        )
        for stage in image.report.stages:
            terminalreporter.write_line(
                f"  {stage.name:<14} {stage.seconds:6.1f}s  "
                f"{stage.cached_steps}/{stage.steps} steps cached"
            )
