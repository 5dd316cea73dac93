"""Fixtures for the pipeline tests: real engine, empty-cache runner, real registry.

The invoke tasks run as a user runs them (``python -m invoke ...`` in a copy of
the project), so exit codes, messages and reports are what a user gets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.services import engine_available
from tests.support import require

__all__ = ["require"]  # re-exported: other suites import it from here

REPO_ROOT = Path(__file__).resolve().parents[2]
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    "node_modules",
    ".nox",
    ".venv",
    "venv",
    "__pycache__",
    "dist",
    "staticfiles",
    "reports",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "db.sqlite3",
    ".env",
    "results",
)
SCRUBBED_PREFIXES = ("CI_", "STAGELINE_", "DOCKER_", "GITLAB_")


@dataclass
class TaskRun:
    """A finished ``invoke`` run."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Return stdout and stderr together."""
        return self.stdout + self.stderr

    def report(self, path: Path) -> dict[str, Any]:
        """Return the JSON report the run wrote to ``path``."""
        return dict(json.loads(path.read_text()))


def copy_project(destination: Path) -> Path:
    """Copy this checkout (uncommitted changes included) without local clutter."""
    shutil.copytree(REPO_ROOT, destination, ignore=NOT_COPIED, symlinks=True)
    return destination


def base_environ() -> dict[str, str]:
    """Return this process's environment without CI, Docker or Stageline settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}


def run_task(project: Path, *args: str, env: Mapping[str, str], timeout: int = 1200) -> TaskRun:
    """Run ``invoke ARGS`` in ``project`` with ``env`` added to a scrubbed environment."""
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=project,
        env={**base_environ(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return TaskRun(result.returncode, result.stdout, result.stderr)


def ok(run: TaskRun) -> TaskRun:
    """Return ``run`` if it exited 0; otherwise fail with the end of its output."""
    assert run.returncode == 0, f"invoke failed ({run.returncode}):\n{run.output[-4000:]}"
    return run


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


@pytest.fixture(scope="session")
def engine() -> None:
    """Require the main Docker engine."""
    reason = engine_available(os.environ.get("DOCKER_HOST"))
    if reason:
        require(f"no Docker engine answers ({reason})", "start one: .ci/start-services")


@pytest.fixture(scope="module")
def image_name(registry_address: str) -> str:
    """Return a registry image name no other test run uses."""
    return f"{registry_address}/pipeline-{uuid.uuid4().hex[:10]}/app"
