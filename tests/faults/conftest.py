"""Fixtures for the fault tests: a runner daemon of their own, registries, small projects.

Every fault is real: registries are CNCF registries on loopback ports 5010-5019 that a
test stops and starts, the runner is a second dockerd (its own bridge ``docker4``) that a
test restarts, and the tasks run as ``python -m invoke ...`` in a copy of a project.
Missing components SKIP with a message, or FAIL when CI is set (``tests.support.require``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from docker import APIClient

from stageline.builders.buildkit import INSTALL_HINT, buildkit_missing_reason
from tests.pipeline.conftest import TaskRun, base_environ, base_images, engine  # noqa: F401
from tests.pipeline.services import (
    MANIFEST_TYPES,
    EmptyRunner,
    LoopbackRegistry,
    registry_tags,
    running,
)
from tests.support import require

RUNNER_BRIDGE = "docker4"
RUNNER_CIDR = "172.28.0.1/24"
REGISTRY_PORTS = range(5010, 5020)
# The daemon retries a failed layer download itself, 5 times over about 50 s, before it
# reports the failure. The runner gives up at once, so a registry that stops during a
# pull surfaces in seconds. (dockerd has no such option for uploads: a push that loses
# its registry mid-layer takes those 50 s, as it does for users.)
RUNNER_DAEMON_FLAGS = ("--max-download-attempts=1",)
TASK_TIMEOUT = 600


# --------------------------------------------------------------------------- runner


class QuickPullRunner(EmptyRunner):
    """The runner daemon, started with RUNNER_DAEMON_FLAGS."""

    def listen_args(self) -> list[str]:
        """Return the daemon's listen arguments and RUNNER_DAEMON_FLAGS."""
        return [*super().listen_args(), *RUNNER_DAEMON_FLAGS]


@dataclass
class Runner:
    """The faults' own runner daemon (empty cache at start) and how to reach it."""

    daemon: EmptyRunner

    @property
    def docker_host(self) -> str:
        """Return DOCKER_HOST for this daemon."""
        return self.daemon.docker_host

    def api(self) -> APIClient:
        """Return a low-level client of this daemon."""
        api: APIClient = self.daemon.api()
        return api

    def restart(self) -> None:
        """Stop the daemon and start it again: what a runner host's reboot does."""
        self.daemon.stop()
        self.daemon.start()

    def containers(self) -> list[dict[str, Any]]:
        """Return every container on the daemon, running or not."""
        containers: list[dict[str, Any]] = self.api().containers(all=True)
        return containers

    def env(self) -> dict[str, str]:
        """Return the settings that make the tasks build on this daemon."""
        return {"DOCKER_HOST": self.docker_host, "STAGELINE_BUILD_NETWORK": "host"}


@pytest.fixture(scope="session")
def runner(engine: None) -> Iterator[Runner]:  # noqa: F811 (the engine fixture is imported)
    """Yield the faults' own runner daemon, stopped and deleted at the end."""
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        require("the runner daemon needs root and dockerd", "run as root with docker.io installed")
    root = Path("/tmp") / f"stageline-faults-{uuid.uuid4().hex[:8]}"
    with running(QuickPullRunner(root, bridge=RUNNER_BRIDGE, cidr=RUNNER_CIDR)) as daemon:
        yield Runner(daemon)


def require_builder(builder: str) -> None:
    """Skip (or fail with CI set) when ``builder`` cannot run here."""
    missing = buildkit_missing_reason(os.environ) if builder == "buildkit" else None
    if missing:
        require(f"the buildkit builder cannot run: {missing}", INSTALL_HINT)


# --------------------------------------------------------------------------- registries


def port_in_use(port: int) -> bool:
    """Return whether something listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LoopbackRegistry]]:
    """Return a function that starts a registry on a free port of 5010-5019.

    Every registry it started is stopped at the end of the test module.
    """
    if shutil.which("docker-registry") is None and shutil.which("registry") is None:
        require("docker-registry is not installed", "apt-get install docker-registry")
    started: list[LoopbackRegistry] = []

    def start(user: str | None = None, password: str | None = None) -> LoopbackRegistry:
        if user and shutil.which("htpasswd") is None:
            require("htpasswd is not installed", "apt-get install apache2-utils")
        port = next((p for p in REGISTRY_PORTS if not port_in_use(p)), None)
        if port is None:
            pytest.fail("ports 5010-5019 are all in use; stop what listens there", pytrace=False)
        root = tmp_path_factory.mktemp("registry") / f"registry-{port}"
        service = LoopbackRegistry(root, port, user, password)
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def manifest(registry: str, repository: str, tag: str) -> dict[str, Any]:
    """Return the manifest the registry serves for ``repository:tag``, with its digest."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        document = dict(json.load(response))
        document["_digest"] = response.headers.get("Docker-Content-Digest")
        return document


def image_manifests(registry: str, repository: str, tag: str) -> list[dict[str, Any]]:
    """Return the image manifests of a tag: itself, or every one an image index lists.

    With the containerd image store a push writes an index (image plus attestations).
    """
    document = manifest(registry, repository, tag)
    children = [child["digest"] for child in document.get("manifests", [])]
    return [manifest(registry, repository, child) for child in children] or [document]


def blob_present(registry: str, repository: str, digest: str) -> bool:
    """Return whether the registry has the whole blob ``digest`` of ``repository``."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/blobs/{digest}", method="HEAD"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
    except urllib.error.HTTPError:
        return False
    return status == 200


def whole_tags(registry: str, repository: str) -> set[str]:
    """Return the repository's tags, asserting each one's manifest and blobs all resolve."""
    tags = registry_tags(registry, repository)
    for tag in tags:
        for document in image_manifests(registry, repository, tag):
            digests = [document["config"]["digest"], *(lay["digest"] for lay in document["layers"])]
            missing = [d for d in digests if not blob_present(registry, repository, d)]
            assert missing == [], f"{repository}:{tag} names blobs the registry lacks: {missing}"
    return tags


def image_ids(registry: str, repository: str, tag: str) -> set[str]:
    """Return the digests an engine may use as the ID of the image ``repository:tag`` holds.

    The classic image store's image ID is the config digest; the containerd store's is
    the digest of the manifest (or index) itself.
    """
    ids = {str(manifest(registry, repository, tag)["_digest"])}
    return ids | {
        str(doc["config"]["digest"]) for doc in image_manifests(registry, repository, tag)
    }


# --------------------------------------------------------------------------- tasks


def start_task(project: Path, *args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start ``invoke ARGS`` in ``project`` (own session) with ``env`` on a scrubbed base."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=project,
        env={**base_environ(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run_task_until(
    project: Path,
    *args: str,
    env: Mapping[str, str],
    when: Callable[[str], bool],
    then: Callable[[subprocess.Popen[str]], None],
    timeout: float = TASK_TIMEOUT,
) -> tuple[TaskRun, bool]:
    """Run a task, call ``then(process)`` at the first stdout line for which ``when`` holds.

    Returns the finished run and whether ``then`` was called.
    """
    process = start_task(project, *args, env=env)
    assert process.stdout is not None
    assert process.stderr is not None
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    watchdog = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    watchdog.start()
    stdout: list[str] = []
    fired = False
    try:
        for line in process.stdout:
            stdout.append(line)
            if not fired and when(line.rstrip("\n")):
                fired = True
                then(process)
        returncode = process.wait()
        reader.join()
    finally:
        watchdog.cancel()
    return TaskRun(returncode, "".join(stdout), "".join(stderr)), fired


# --------------------------------------------------------------------------- images


def image_contains(api: APIClient, image: str, needles: list[bytes]) -> list[bytes]:
    """Return those ``needles`` found anywhere in ``docker save IMAGE``.

    The saved tar holds the image config (env, labels, history) and every layer as
    an uncompressed tar, so this searches every file of every layer too.
    """
    longest = max(len(needle) for needle in needles)
    found: set[bytes] = set()
    tail = b""
    for chunk in api.get_image(image, chunk_size=1024 * 1024):
        window = tail + chunk
        found.update(needle for needle in needles if needle in window)
        tail = window[-longest:]
    return [needle for needle in needles if needle in found]


def processes_mentioning(text: str) -> list[str]:
    """Return the command lines of running processes that contain ``text``."""
    matches = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            matches.append(f"{entry.name}: {command.strip()}")
    return matches


def task_env(
    runner: Runner,
    base_images: Mapping[str, str],  # noqa: F811 (a value here, not the fixture)
    image: str,
    ref: str = "main",
    sha: str = "cafe0001",
    builder: str = "classic",
    **extra: str,
) -> dict[str, str]:
    """Return the settings of a task run on the runner for ``image`` on branch ``ref``."""
    return {
        **runner.env(),
        **base_images,
        "CI_REGISTRY_IMAGE": image,
        "CI_COMMIT_REF_SLUG": ref,
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_SHORT_SHA": sha,
        "STAGELINE_BUILDER": builder,
        **extra,
    }


def file_in_image(runner: Runner, image: str, path: str) -> str:
    """Return the text of ``path`` in ``image``, read by running a container of it."""
    output: bytes = runner.daemon.client().containers.run(
        image, ["cat", path], remove=True, network_mode="none"
    )
    return output.decode()
