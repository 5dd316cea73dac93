"""The pytest plugin of the real-service harness (tests/conftest.py loads it).

Session fixtures every suite may ask for by name: the main engine, the loopback registry,
the mirror base images, the production image built once, a fresh PostgreSQL database and
the production container serving on it. A missing service skips the test with a message,
or fails it when CI is set (checks.require). ``arm64_emulation`` (arm64 under QEMU, for
tests marked ``arm64``) always fails when it is missing.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import docker
import pytest

from testing.checks import free_port, require
from testing.daemons import engine_available
from testing.emulation import Arm64Mirror, arm64_readiness
from testing.production_image import (
    ProductionImage,
    Server,
    build_production_image,
    copy_build_context,
    database_admin_url,
    docker_api,
    production_environment,
    wait_for_http,
)
from testing.sshd import INSTALL_HINT, SSHServer, sshd_missing_reason, start_sshd, stop_sshd
from testing.wheelhouse import build_wheelhouse

_built: list[ProductionImage] = []


@pytest.fixture(scope="session")
def engine() -> None:
    """Require the main Docker engine."""
    reason = engine_available(os.environ.get("DOCKER_HOST"))
    if reason:
        require(f"no Docker engine answers ({reason})", "start one: .ci/start-services")


@pytest.fixture(scope="session")
def registry_address() -> str:
    """Return the loopback registry of the test environment."""
    address = os.environ.get("STAGELINE_TEST_REGISTRY")
    if not address:
        require("STAGELINE_TEST_REGISTRY is not set", "run `.ci/start-services; source .ci/env`")
    return address


@pytest.fixture(scope="session")
def base_images() -> dict[str, str]:
    """Return PYTHON_IMAGE and NODE_IMAGE as the environment sets them."""
    images = {name: os.environ.get(name, "") for name in ("PYTHON_IMAGE", "NODE_IMAGE")}
    if not all(images.values()):
        require("PYTHON_IMAGE and NODE_IMAGE are not set", "`source .ci/env` (mirror images)")
    return images


def pytest_configure(config: pytest.Config) -> None:
    """Declare the harness's own markers (--strict-markers), for every suite that loads it."""
    config.addinivalue_line(
        "markers",
        "arm64: runs arm64 images under QEMU emulation (the arm64_emulation fixture)",
    )


@pytest.fixture(scope="session")
def arm64_emulation() -> Arm64Mirror:
    """Require arm64 under QEMU: the binfmt handler with the F flag, and an arm64 mirror.

    Fails, never skips, with one line naming the fix (.ci/start-services or
    .ci/build-base-images): a test that asks for arm64 must not pass green without it.
    Returns the mirror's python index (PYTHON_IMAGE) and its platforms' digests.
    """
    ready = arm64_readiness(os.environ)
    if isinstance(ready, str):
        pytest.fail(ready, pytrace=False)
    return ready


@pytest.fixture(scope="module")
def image_name(registry_address: str) -> str:
    """Return a registry image name no other test run uses."""
    return f"{registry_address}/pipeline-{uuid.uuid4().hex[:10]}/app"


@pytest.fixture(scope="session")
def api() -> docker.APIClient:
    """Return a client for the main engine (skip, or fail with CI set, when there is none)."""
    return docker_api()


@pytest.fixture(scope="session")
def production_image(
    api: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> ProductionImage:
    """Build the production image once per session from a copy of the working tree."""
    context = copy_build_context(tmp_path_factory.mktemp("context") / "stageline")
    image = build_production_image(context)
    _built.append(image)
    return image


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder holding the stageline wheel built from this working tree.

    Pass it on with testing.wheelhouse.find_links_variables: a project's pin of stageline
    then installs this checkout's package, which no index has before a release.
    """
    directory = tmp_path_factory.mktemp("wheelhouse")
    try:
        build_wheelhouse(directory)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    return directory


@pytest.fixture(scope="session")
def fresh_database_url() -> Iterator[str]:
    """Create an empty database next to TEST_DATABASE_URL's, drop it at the end."""
    import psycopg

    admin_url = database_admin_url()
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


@pytest.fixture(scope="session")
def production_server(
    api: docker.APIClient, production_image: ProductionImage, fresh_database_url: str
) -> Iterator[Server]:
    """Start the production image against a fresh PostgreSQL database; remove it at the end."""
    port = free_port()
    environment = production_environment(fresh_database_url, port, workers=2, wait_seconds=30)
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


# SSH to this machine, for deploy tests (DOCKER_HOST=ssh://root@127.0.0.1:PORT).


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """Run a real sshd on a free loopback port with a key pair made for this session.

    ``sshd.client_environ(os.environ)`` gives DOCKER_HOST and the ``ssh`` that reaches it
    non-interactively (its own key and known_hosts); the server stops at the end.
    """
    missing = sshd_missing_reason()
    if missing:
        require(f"no sshd to test deploys over SSH ({missing})", INSTALL_HINT)
    folder = tmp_path_factory.mktemp("sshd")
    try:
        server = start_sshd(folder, free_port())
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"starting sshd failed: {exc}; see {folder}/sshd.log", pytrace=False)
    try:
        yield server
    finally:
        stop_sshd(server.process)
