"""The local development stack (`invoke dev`, docker-compose.local.yml) on the real engine.

A copy of the project runs under a compose project of its own on a free port. The page
open in headless Chromium must change by itself when a Django template and then a JS file
change in the bind-mounted source, with no container restarted; `down -v` must then leave
no container, volume or network of that project behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import docker
import pytest
from testing.checks import free_port, require
from testing.projects import copy_project

pytestmark = pytest.mark.e2e

COMPOSE_FILE = "docker-compose.local.yml"
LOADED = "The JavaScript bundle is loaded."
EDITED = "The edited bundle is loaded."
# The first run builds the development image (the local requirements); later runs
# find it in the engine's build cache.
START_TIMEOUT = 600


@dataclass
class Stack:
    """A running `invoke dev` in a copy of the project."""

    project: Path
    name: str
    url: str
    environ: dict[str, str]
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `docker compose -f docker-compose.local.yml ARGS` for this project."""
        command = ["docker", "compose", "-f", COMPOSE_FILE, *args]
        return subprocess.run(
            command,
            cwd=self.project,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log_tail(self) -> str:
        """Return the end of the output of `invoke dev` (compose's build and service logs)."""
        return self.log_path.read_text(errors="replace")[-4000:]


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) with ``new`` in ``path``, as an editor saves."""
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new))


def require_compose() -> None:
    """Skip (fail in CI) unless the docker CLI and its compose plugin are installed."""
    if shutil.which("docker") is None:
        require("No docker CLI on PATH", "install Docker (.ci/install-packages)")
    version = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    if version.returncode != 0:
        require("docker compose does not run", "install the compose plugin (.ci/install-packages)")


def project_resources(api: docker.APIClient, name: str) -> list[str]:
    """Return the containers, volumes and networks the engine has for compose project NAME."""
    label = {"label": f"com.docker.compose.project={name}"}
    containers = [f"container {c['Names'][0]}" for c in api.containers(all=True, filters=label)]
    volumes = [f"volume {v['Name']}" for v in api.volumes(filters=label)["Volumes"] or []]
    networks = [f"network {n['Name']}" for n in api.networks(filters=label)]
    return containers + volumes + networks


def start_times(api: docker.APIClient, name: str) -> dict[str, str]:
    """Return each of the project's containers and when it last started."""
    label = {"label": f"com.docker.compose.project={name}"}
    return {
        c["Names"][0]: api.inspect_container(c["Id"])["State"]["StartedAt"]
        for c in api.containers(all=True, filters=label)
    }


def wait_for_page(stack: Stack, timeout: float = START_TIMEOUT) -> None:
    """Wait until the home page answers 200, failing early if `invoke dev` exits."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(
                f"`invoke dev` exited ({stack.process.returncode}) before serving "
                f"{stack.url}:\n{stack.log_tail()}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(f"{stack.url}/", timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(1)
    pytest.fail(f"{stack.url}/ did not answer 200 in {timeout:g}s ({last}):\n{stack.log_tail()}")


def stop(stack: Stack) -> subprocess.CompletedProcess[str]:
    """Run `down -v` (and drop the image it built); wait for `invoke dev` to end."""
    down = stack.compose("down", "-v", "--rmi", "local", "--timeout", "10")
    try:
        stack.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        stack.process.wait()
    stack.log.close()
    return down


@pytest.fixture
def stack(api: docker.APIClient, tmp_path: Path, reports_dir: Path) -> Iterator[Stack]:
    """Start `invoke dev` in a copy of the project; `down -v` it afterwards in any case."""
    require_compose()
    project = copy_project(tmp_path / "project")
    name = f"stageline-dev-test-{secrets.token_hex(4)}"
    port = free_port()
    environ = {**os.environ, "COMPOSE_PROJECT_NAME": name, "DJANGO_PORT": str(port)}
    log_path = reports_dir / "local-dev.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "dev"],
        cwd=project,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    running = Stack(project, name, f"http://127.0.0.1:{port}", environ, process, log, log_path)
    try:
        yield running
    finally:
        if process.poll() is None or project_resources(api, name):
            stop(running)


def test_the_open_page_follows_template_and_js_edits_and_down_leaves_nothing(
    page: Any, stack: Stack, api: docker.APIClient, reports_dir: Path
) -> None:
    started = time.monotonic()
    wait_for_page(stack)
    print(f"stack up and serving: {time.monotonic() - started:.0f} s")
    page.goto(f"{stack.url}/", wait_until="load")
    # Locators re-resolve after the page reloads itself, so these waits survive reloads.
    page.locator("#bundle-status", has_text=LOADED).wait_for(timeout=30_000)
    before = start_times(api, stack.name)
    assert len(before) == 3, before

    # A template edit: Django re-reads it, and django-browser-reload reloads the tab.
    edit(
        stack.project / "core/templates/core/home.html",
        "<h1>{{ project_name }}</h1>",
        '<h1>{{ project_name }}</h1>\n    <p id="edited">Edited while running.</p>',
    )
    page.locator("#edited").wait_for(timeout=30_000)

    # A JS edit: webpack --watch rebuilds main.js, and the tab reloads with the new bundle.
    edit(stack.project / "assets/js/main.js", LOADED, EDITED)
    page.locator("#bundle-status", has_text=EDITED).wait_for(timeout=60_000)
    page.screenshot(path=str(reports_dir / "local-dev.png"), full_page=True)
    assert start_times(api, stack.name) == before, "a container restarted"

    down = stop(stack)
    assert down.returncode == 0, down.stderr
    assert project_resources(api, stack.name) == []
    print(f"edits seen and stack removed: {time.monotonic() - started:.0f} s in all")
