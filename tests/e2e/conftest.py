"""Fixtures for browser tests: headless Chromium against the production container.

The production image, the database and the running container come from
tests/docker/conftest.py (loaded here by path, so they are built the same way).
Without Chromium or an engine these tests SKIP; with CI set they FAIL.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_DOCKER_CONFTEST = Path(__file__).resolve().parents[1] / "docker" / "conftest.py"
_spec = importlib.util.spec_from_file_location("stageline_tests_docker_fixtures", _DOCKER_CONFTEST)
assert _spec is not None
assert _spec.loader is not None
_docker = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _docker  # dataclasses look their module up there
_spec.loader.exec_module(_docker)

# Re-exported fixtures: pytest finds them by name in this module.
api = _docker.api
production_image = _docker.production_image
fresh_database_url = _docker.fresh_database_url
production_server = _docker.production_server
pytest_terminal_summary = _docker.pytest_terminal_summary

REPORTS_DIR = Path(__file__).resolve().parents[2] / "reports" / "e2e"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Return the Chromium binary to drive (CHROMIUM_PATH, default /usr/bin/chromium)."""
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not (Path(path).is_file() and os.access(path, os.X_OK)) and not shutil.which(path):
        _docker.require(
            f"No Chromium at {path}",
            "install Debian's chromium package or set CHROMIUM_PATH",
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    """Start headless Chromium (Playwright gives it a fresh temporary profile)."""
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=chromium_path, headless=True, args=CHROMIUM_FLAGS
            )
        except Error as exc:
            first = str(exc).strip().splitlines()[0]
            pytest.fail(f"Chromium at {chromium_path} did not start: {first}", pytrace=False)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """Open a new page in a fresh browser context."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def reports_dir() -> Path:
    """Return reports/e2e/, created if missing (screenshots are kept as CI artifacts)."""
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    return REPORTS_DIR
