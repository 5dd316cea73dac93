"""Helpers shared by the test suites that need real services."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest


def require(what: str, fix: str) -> NoReturn:
    """Fail when CI is set, skip otherwise: ``what`` is missing, ``fix`` says what to do.

    A CI machine that lost its engine, registry or browser must not pass green; a
    laptop without them still runs everything else.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{what}; {fix} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(f"{what}; {fix}")


def free_port() -> int:
    """Return a TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
