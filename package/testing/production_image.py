"""The production image, built once per test session with Stageline's own library.

``build_production_image`` runs the code behind ``invoke build-stages`` (BuildKit where
buildx is installed, as in CI) on the main engine, whose build cache other suites share.
The build context is a copy of the checkout with files planted that .dockerignore must
keep out (PLANTED_SECRET). The helpers run containers of it and wait for it to serve.
"""

from __future__ import annotations

import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import DockerException
from docker.utils import kwargs_from_env

from stageline import actions
from stageline.builders.choice import choose_builder
from stageline.console import Output
from stageline.errors import StagelineError
from stageline.report import BuildReport
from stageline.settings_loader import load_settings
from testing.checks import require
from testing.projects import copy_project

DEFAULT_TEST_DATABASE_URL = "postgres://stageline:stageline@127.0.0.1:5432/stageline"
PRODUCTION_IMAGE = "stageline-test/app"
# A secret planted in the test build context: it must never reach the image. Random,
# so that no file of the checkout contains it.
PLANTED_SECRET = f"planted-secret-{secrets.token_hex(8)}"


def docker_api() -> docker.APIClient:
    """Return a low-level client for the engine at DOCKER_HOST (or the default socket)."""
    kwargs: dict[str, Any] = kwargs_from_env()
    where = kwargs.get("base_url") or "unix:///var/run/docker.sock"
    try:
        api = docker.APIClient(version="auto", timeout=900, **kwargs)
        # REQUESTS_CA_BUNDLE and proxies from the environment must not apply to the engine.
        api.trust_env = False
        api.ping()
    except (DockerException, OSError) as exc:
        text = str(exc).strip().replace("Error while fetching server API version: ", "")
        first = text.splitlines()[0] if text else type(exc).__name__
        require(
            f"No Docker engine answers at {where} ({first})",
            "start one (.ci/start-services) or set DOCKER_HOST",
        )
    return api


@dataclass
class ProductionImage:
    """The production image built for this test session, and its build report."""

    image_id: str
    tag: str
    report: BuildReport

    @property
    def stages(self) -> list[str]:
        """Return the stages built, in order."""
        return [stage.name for stage in self.report.stages]


def build_production_image(context: Path) -> ProductionImage:
    """Build every stage of ``context`` with Stageline's library, on the main engine.

    The same library code and builder choice as ``invoke build-stages`` (BuildKit where
    buildx is installed, as in CI), so these tests exercise the path users take; the
    engine's cache is shared with other suites.
    """
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CI_", "STAGELINE_"))},
        "CI_REGISTRY_IMAGE": PRODUCTION_IMAGE,
        "CI_COMMIT_REF_SLUG": "main",
        "CI_COMMIT_SHORT_SHA": "test0000",
        # The production image only, not every target [tool.stageline] lists.
        "STAGELINE_TARGET": "production",
    }
    settings = load_settings(context, environ=environ)
    plan = actions.load_plan(settings)
    try:
        choice = choose_builder(settings, plan)
        report = actions.build_stages(settings, plan, Output(force_plain=True), choice)
    except StagelineError as exc:
        pytest.fail(f"building the production image failed: {exc}", pytrace=False)
    final = report.stages[-1]
    return ProductionImage(final.image_id, f"{PRODUCTION_IMAGE}:production", report)


def copy_build_context(destination: Path) -> Path:
    """Copy the repository's source (not its heavy ignored dirs) and plant must-ignore files."""
    copy_project(destination)
    # Things .dockerignore must keep out of the image; a leak is a test failure.
    planted = {
        ".env": f"DJANGO_SECRET_KEY={PLANTED_SECRET}\n",
        ".env.production": f"DJANGO_SECRET_KEY={PLANTED_SECRET}\n",
        ".git/config": f"[remote]\n\turl = https://user:{PLANTED_SECRET}@example.invalid\n",
        "node_modules/leak/index.js": f"// {PLANTED_SECRET}\n",
        "db.sqlite3": PLANTED_SECRET,
    }
    for relative, text in planted.items():
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return destination


def container_output(api: docker.APIClient, container_id: str) -> str:
    """Return the container's stdout and stderr as text."""
    logs: bytes = api.logs(container_id, stdout=True, stderr=True)
    return logs.decode(errors="replace")


def run_to_end(
    api: docker.APIClient,
    containers: Callable[..., str],
    image: str,
    command: list[str],
    environment: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, str]:
    """Run `command` in a new container of `image`; return its exit code and output."""
    container_id = containers(image, command=command, environment=dict(environment or {}))
    status = api.wait(container_id, timeout=timeout)
    return int(status["StatusCode"]), container_output(api, container_id)


def database_admin_url() -> str:
    """Return TEST_DATABASE_URL (or the documented default): a role that may CREATE DATABASE."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@dataclass
class Server:
    """A running production container serving HTTP on the host's loopback."""

    container_id: str
    url: str
    database_url: str


def production_environment(
    database_url: str, port: int, workers: int, wait_seconds: int
) -> dict[str, str]:
    """Return the environment the production image runs with here: a throwaway secret key,
    local hosts, no HTTPS redirect, ``port`` and ``workers`` for gunicorn.
    """
    return {
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_WAIT_SECONDS": str(wait_seconds),
        "PORT": str(port),
        "GUNICORN_WORKERS": str(workers),
    }


def wait_for_http(api: docker.APIClient, container_id: str, url: str, timeout: float = 90) -> None:
    """Wait until `url` answers 200, failing early (with the logs) if the container stops."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        state = api.inspect_container(container_id)["State"]
        if not state["Running"]:
            pytest.fail(
                f"the production container exited ({state['ExitCode']}) before serving {url}:\n"
                + container_output(api, container_id)[-3000:],
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    pytest.fail(
        f"{url} did not answer 200 within {timeout:g}s ({last}); container output:\n"
        + container_output(api, container_id)[-3000:],
        pytrace=False,
    )
