"""The engine the tests run on is the one GitLab's dind runs today, and the tasks speak to it.

CI runs Docker Engine 26.1 with the containerd image store (.ci/start-services), the
store Docker 29 turns on by default; Docker 29 also refuses clients below API 1.44.
These assertions read the running engine, so a machine that silently fell back to an
older engine or the classic store fails here first, not somewhere in a build.
"""

from __future__ import annotations

import os

import pytest

from stageline.engine import connect
from testing.daemons import SNAPSHOTTER_TYPE

pytestmark = pytest.mark.docker

MIN_ENGINE_MAJOR = 26
MIN_API = (1, 44)


def version_tuple(version: str) -> tuple[int, ...]:
    """Return "26.1.5+dfsg1" or "1.45" as numbers: (26, 1, 5), (1, 45)."""
    return tuple(int(part.split("+")[0].split("-")[0]) for part in version.split("."))


@pytest.fixture
def engine_info(engine: None) -> dict[str, object]:
    """Return the main engine's /info, read through the tasks' own client."""
    client = connect(os.environ)
    info: dict[str, object] = client.info()
    return info


def test_the_engine_is_docker_26_or_newer(engine: None) -> None:
    server = connect(os.environ).version()
    assert version_tuple(str(server["Version"]))[0] >= MIN_ENGINE_MAJOR, server["Version"]


def test_the_engine_keeps_images_in_the_containerd_store(engine_info: dict[str, object]) -> None:
    status = dict(engine_info.get("DriverStatus") or [])  # type: ignore[call-overload]
    assert status.get("driver-type") == SNAPSHOTTER_TYPE, (engine_info["Driver"], status)


def test_the_tasks_client_negotiates_api_1_44_or_newer(engine: None) -> None:
    client = connect(os.environ)
    server = client.version(api_version=False)
    assert version_tuple(client.api_version) >= MIN_API
    # Negotiated: never above what the daemon speaks, never below what it accepts.
    assert version_tuple(client.api_version) <= version_tuple(server["ApiVersion"])
    assert version_tuple(client.api_version) >= version_tuple(server["MinAPIVersion"])
    assert client.ping()
