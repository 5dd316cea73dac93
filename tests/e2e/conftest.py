"""Fixtures for browser tests: headless Chromium against the production container and
the local development stack (test_local_dev.py, which starts its own).

The production image, the database and the running container are the harness's
session fixtures (testing/fixtures.py), so this suite and tests/docker share one build.
Without Chromium or an engine these tests SKIP; with CI set they FAIL.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testing.checks import require

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
        require(
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
