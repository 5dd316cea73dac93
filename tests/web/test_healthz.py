"""/healthz tells whether the database answers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.utils import load_backend
from django.test import Client


@pytest.mark.django_db
def test_healthz_is_200_when_the_database_answers(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["vendor"] == connections["default"].vendor
    assert "no-cache" in response["Cache-Control"]


def closed_port() -> int:
    """Return a loopback TCP port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def unreachable_database(tmp_path: Path, django_db_blocker: Any) -> Iterator[None]:
    """Point the default connection at a database that cannot be reached."""
    settings = dict(connections["default"].settings_dict)
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        settings["NAME"] = str(tmp_path / "no-such-directory" / "db.sqlite3")
    else:
        settings.update(HOST="127.0.0.1", PORT=str(closed_port()))
    unreachable = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, "default")
    original = connections["default"]
    connections["default"] = unreachable
    try:
        with django_db_blocker.unblock():
            yield
    finally:
        unreachable.close()
        connections["default"] = original


def test_healthz_is_503_when_the_database_is_unreachable(
    client: Client, unreachable_database: None
) -> None:
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "unavailable"
    assert body["error"] == "OperationalError"
