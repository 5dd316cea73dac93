"""Checks every suite makes: is a service here (skip, or fail under CI), a free port, a
clean one-line failure; and running Python in the checkout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import pytest

from stageline.builders.buildkit import INSTALL_HINT, buildkit_missing_reason

TEMPLATE_ROOT = Path(__file__).resolve().parents[2]


def require(what: str, fix: str) -> NoReturn:
    """Fail when CI is set, skip otherwise: ``what`` is missing, ``fix`` says what to do.

    A CI machine that lost its engine, registry or browser must not pass green; a
    laptop without them still runs everything else.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{what}; {fix} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(f"{what}; {fix}")


def require_builder(builder: str) -> None:
    """Skip (or fail with CI set) when ``builder`` cannot run here."""
    missing = buildkit_missing_reason(os.environ) if builder == "buildkit" else None
    if missing:
        require(f"the buildkit builder cannot run: {missing}", INSTALL_HINT)


def free_port() -> int:
    """Return a TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_python(
    env: Mapping[str, str], *args: str, cwd: Path = TEMPLATE_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` (this interpreter) in ``cwd`` with ``env``; capture its output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], start: str) -> str:
    """Assert a clean failure: exit 1, no traceback, one stderr line ``error: START...``."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {start}"), lines[0]
    return lines[0]
