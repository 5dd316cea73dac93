"""Fixtures of the image tests: containers of the production image, removed after each test.

The production image itself, the main engine's client, the database and the running
server are the harness's session fixtures (testing/fixtures.py), shared with tests/e2e
and tests/faults: the image is built once per session. Without an engine these tests
SKIP with a message saying why; with CI set they FAIL instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import NotFound
from testing.checks import free_port
from testing.production_image import (
    PLANTED_SECRET,
    ProductionImage,
    copy_build_context,
    run_to_end,
)


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
    return copy_build_context(tmp_path / "context")


@pytest.fixture
def planted_secret() -> str:
    """Return the secret planted in the test build context (it must not reach the image)."""
    return PLANTED_SECRET


@pytest.fixture
def unused_port() -> int:
    """Return a loopback TCP port nothing listens on."""
    return free_port()
