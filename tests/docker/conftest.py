"""Fixtures for tests that use a real Docker engine (and, for some, PostgreSQL).

Without an engine these tests SKIP with a message saying why; with CI set they
FAIL instead, so a CI machine that lost its engine cannot pass green.

The production image is built ONCE per test session through `build_image`, the
same helper a test uses to check how a failed step is reported, and shared by
the image tests and the e2e tests (tests/e2e/conftest.py imports from here).
The engine's build cache is used and never purged.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import docker
import pytest
from docker.errors import APIError, DockerException, NotFound
from docker.utils import kwargs_from_env

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEST_DATABASE_URL = "postgres://stageline:stageline@127.0.0.1:5432/stageline"
PRODUCTION_TAG = "stageline-test/app:production"
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
_STEP_FROM = re.compile(r"^Step \d+/\d+ : FROM\s+(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE)
_LAST_LINES = 15


def require(what: str, fix: str) -> NoReturn:
    """Fail (CI set) or skip (otherwise) because `what` is missing; `fix` says what to do."""
    message = f"{what}; {fix}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


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


class BuildFailed(Exception):
    """A `docker build` reported an error; the message names the stage and last log lines."""


@dataclass
class StageStats:
    """One stage of a build: its cacheable steps, how many came from cache, its seconds."""

    steps: int = 0
    cached_steps: int = 0
    seconds: float = 0.0


@dataclass
class BuildResult:
    """What one build produced: the image and, per stage, steps cached and seconds."""

    image_id: str
    tag: str
    stages: dict[str, StageStats] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """Return the number of cacheable steps over all stages."""
        return sum(stage.steps for stage in self.stages.values())

    @property
    def cached_steps(self) -> int:
        """Return the number of steps served from cache over all stages."""
        return sum(stage.cached_steps for stage in self.stages.values())


def build_image(
    api: docker.APIClient,
    path: Path,
    target: str,
    tag: str,
    buildargs: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build `target` of the Dockerfile in `path` and tag it; raise BuildFailed on an error."""
    started = time.monotonic()
    stage = "?"
    stage_started = started
    result = BuildResult(image_id="", tag=tag)
    lines: list[str] = []
    pending = ""

    def take_line(line: str) -> None:
        nonlocal stage, stage_started
        lines.append(line)
        if echo is not None:
            echo(line)
        match = _STEP_FROM.match(line)
        if match:
            now = time.monotonic()
            if result.stages:
                result.stages[stage].seconds = now - stage_started
            stage = match.group(2) or f"stage {len(result.stages)} ({match.group(1)})"
            result.stages[stage] = StageStats()
            stage_started = now
        elif line.startswith("Step ") and result.stages:
            result.stages[stage].steps += 1
        elif line.strip() == "---> Using cache" and result.stages:
            result.stages[stage].cached_steps += 1

    def failure(error: str) -> BuildFailed:
        tail = "\n".join(f"    {line}" for line in lines[-_LAST_LINES:])
        return BuildFailed(
            f"docker build of target {target!r} failed in stage {stage!r}: {error.strip()}\n"
            f"  last log lines:\n{tail}"
        )

    try:
        stream = api.build(
            path=str(path),
            target=target,
            tag=tag,
            buildargs=dict(buildargs or {}),
            decode=True,
            forcerm=True,
            rm=True,
        )
        for chunk in stream:
            text = chunk.get("stream")
            if isinstance(text, str):
                pending += text
                *complete, pending = pending.split("\n")
                for line in complete:
                    take_line(line.rstrip("\r"))
            if "error" in chunk:
                if pending:
                    take_line(pending)
                    pending = ""
                detail = chunk.get("errorDetail") or {}
                raise failure(str(chunk["error"] or detail.get("message", "unknown error")))
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                result.image_id = str(aux["ID"])
    except APIError as exc:
        raise failure(str(exc.explanation or exc)) from None
    if pending:
        take_line(pending)
    now = time.monotonic()
    if result.stages:
        result.stages[stage].seconds = now - stage_started
    result.seconds = now - started
    if not result.image_id:
        result.image_id = str(api.inspect_image(tag)["Id"])
    return result


def base_image_buildargs() -> dict[str, str]:
    """Return the PYTHON_IMAGE / NODE_IMAGE build arguments set in the environment."""
    return {
        name: os.environ[name] for name in ("PYTHON_IMAGE", "NODE_IMAGE") if os.environ.get(name)
    }


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

_build_results: list[BuildResult] = []


@pytest.fixture(scope="session")
def api() -> docker.APIClient:
    """Return a client for the real engine (skip/fail when there is none)."""
    return docker_api()


@pytest.fixture(scope="session")
def production_image(
    api: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> BuildResult:
    """Build the `production` target once per session from a copy of the working tree."""
    context = _copy_context(tmp_path_factory.mktemp("context") / "stageline")
    try:
        result = build_image(api, context, "production", PRODUCTION_TAG, base_image_buildargs())
    except BuildFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    _build_results.append(result)
    return result


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
    api: docker.APIClient, containers: Callable[..., str], production_image: BuildResult
) -> Callable[..., tuple[int, str]]:
    """Return a function running a command in a new production container: (exit code, output)."""

    def run(
        command: list[str], environment: Mapping[str, str] | None = None, timeout: float = 120
    ) -> tuple[int, str]:
        return run_to_end(api, containers, production_image.image_id, command, environment, timeout)

    return run


@pytest.fixture
def build(api: docker.APIClient) -> Callable[[Path, str, str], BuildResult]:
    """Return `build_image` bound to the engine and the environment's base images."""

    def run(path: Path, target: str, tag: str) -> BuildResult:
        return build_image(api, path, target, tag, base_image_buildargs())

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


def free_port() -> int:
    """Return a TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    api: docker.APIClient, production_image: BuildResult, fresh_database_url: str
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
    if not _build_results:
        return
    api = docker_api()
    for result in _build_results:
        size = int(api.inspect_image(result.image_id)["Size"])
        terminalreporter.write_sep("-", "production image")
        terminalreporter.write_line(
            f"{result.tag} ({result.image_id[7:19]}): size {size / 1e6:.1f} MB ({size} bytes)"
        )
        terminalreporter.write_line(
            f"built in {result.seconds:.1f}s, {result.cached_steps}/{result.steps} steps cached"
        )
        for name, stats in result.stages.items():
            terminalreporter.write_line(
                f"  {name:<14} {stats.seconds:6.1f}s  {stats.cached_steps}/{stats.steps} cached"
            )
