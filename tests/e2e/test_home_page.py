"""The home page of the production container in headless Chromium: the bundle's JS ran and
its CSS applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

# assets/css/main.css: body background var(--page-background) = #1f3b57, and once the
# JS has set data-bundle="loaded", #bundle-status gets a left border in the accent #f2a541.
BACKGROUND = "rgb(31, 59, 87)"
ACCENT = "rgb(242, 165, 65)"


def test_home_page_runs_the_bundle_js_and_applies_its_css(
    page: Any, production_server: Any, reports_dir: Path
) -> None:
    failed_requests: list[str] = []
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    response = page.goto(f"{production_server.url}/", wait_until="load")
    assert response is not None
    assert response.status == 200

    # assets/js/main.js replaces the status text and marks <body>.
    status = page.locator("#bundle-status")
    status.wait_for(state="visible")
    page.wait_for_function("document.body.dataset.bundle === 'loaded'", timeout=10_000)
    assert status.inner_text() == "The JavaScript bundle is loaded."

    # assets/css/main.css (extracted by webpack, served by whitenoise) applies.
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == BACKGROUND
    border = status.evaluate("el => getComputedStyle(el).borderLeftColor")
    assert border == ACCENT

    screenshot = reports_dir / "home.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    assert failed_requests == []
    assert errors == []
