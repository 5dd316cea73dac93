"""Deploy and rollback by digest, to the local engine reached over SSH through a real sshd.

The production image (built once per session) is pushed to the loopback registry as
digest A; a second image B (``FROM A`` + a label) is pushed beside it. ``stageline deploy``
runs the template's own docker-compose.yml with PostgreSQL on the Docker host
``DOCKER_HOST=ssh://root@127.0.0.1:PORT`` names. What runs is read from the engine
(``docker inspect``) and from the app itself (/healthz over HTTP), not from our output.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests

from testing.checks import TEMPLATE_ROOT, assert_one_error_line, free_port, require
from testing.production_image import ProductionImage
from testing.sshd import SSHServer

pytestmark = pytest.mark.docker

SERVICE_LABELS = ("com.docker.compose.project", "com.docker.compose.service")


@dataclass(frozen=True)
class Pushed:
    """The two images deploys switch between: tag and pinned (``IMAGE@digest``) references."""

    repository: str
    tag_a: str
    pinned_a: str
    tag_b: str
    pinned_b: str


def registry_digest(ref: str) -> str:
    """Return the digest the loopback registry gives for ``host/repo:tag``."""
    host, _, path = ref.partition("/")
    repository, _, tag = path.rpartition(":")
    accept = ",".join(
        [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ]
    )
    answer = requests.head(
        f"http://{host}/v2/{repository}/manifests/{tag}", headers={"Accept": accept}, timeout=30
    )
    assert answer.status_code == 200, (ref, answer.status_code)
    return answer.headers["Docker-Content-Digest"]


def push(api: docker.APIClient, ref: str) -> None:
    """Push ``ref`` through the main engine, failing on an error chunk."""
    repository, _, tag = ref.rpartition(":")
    for chunk in api.push(repository, tag=tag, stream=True, decode=True):
        assert "error" not in chunk, chunk


@pytest.fixture(scope="module")
def pushed(
    api: docker.APIClient,
    production_image: ProductionImage,
    registry_address: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pushed]:
    """Push the production image as A, and A plus a label as B; untag both at the end."""
    repository = f"{registry_address}/deploy-{uuid.uuid4().hex[:10]}/app"
    tag_a, tag_b = f"{repository}:aaaa0001", f"{repository}:bbbb0002"
    api.tag(production_image.image_id, repository, tag="aaaa0001")
    push(api, tag_a)
    pinned_a = f"{repository}@{registry_digest(tag_a)}"
    if (
        shutil.which("docker") is None
        or subprocess.run(
            ["docker", "buildx", "version"], capture_output=True, check=False
        ).returncode
    ):
        require("docker buildx is missing", "install docker-buildx (.ci/install-packages)")
    context = tmp_path_factory.mktemp("image-b")
    (context / "Dockerfile").write_text(f"FROM {pinned_a}\nLABEL org.stageline.test=b\n")
    build = subprocess.run(
        ["docker", "buildx", "build", "--provenance=false", "--push", "-t", tag_b, str(context)],
        env={k: v for k, v in os.environ.items() if k != "DOCKER_HOST"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    pinned_b = f"{repository}@{registry_digest(tag_b)}"
    assert pinned_a != pinned_b
    yield Pushed(repository, tag_a, pinned_a, tag_b, pinned_b)
    for ref in (tag_a, tag_b, pinned_a, pinned_b):
        # Not on the engine (a digest reference compose did not pull), or in use: leave it.
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(ref)


@dataclass(frozen=True)
class Stack:
    """A project folder, the environment deployed to, and how to run the command line."""

    root: Path
    environment: str
    project: str
    port: int
    environ: dict[str, str]
    secret: str

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``stageline -C ROOT ARGS`` as a deploy job would; capture its output."""
        command = [sys.executable, "-m", "stageline", "-C", str(self.root), *args]
        return subprocess.run(
            command, env=self.environ, capture_output=True, text=True, timeout=900, check=False
        )


@pytest.fixture
def stack(
    sshd: SSHServer, pushed: Pushed, tmp_path: Path, api: docker.APIClient
) -> Iterator[Stack]:
    """A project with the template's docker-compose.yml, deployed over SSH; removed after."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(TEMPLATE_ROOT / "docker-compose.yml", root / "docker-compose.yml")
    environment = f"test-{uuid.uuid4().hex[:8]}"
    port, secret = free_port(), secrets.token_urlsafe(32)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "STAGELINE_"))}
    environ = {
        **sshd.client_environ(base),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "CI_REGISTRY_IMAGE": pushed.repository,
        "CI_COMMIT_SHORT_SHA": "aaaa0001",
        "POSTGRES_IMAGE": os.environ.get("POSTGRES_IMAGE", "postgres:15"),
        "DJANGO_PORT": str(port),
        "DJANGO_SECRET_KEY": secret,
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "STAGELINE_DEPLOY_WAIT_SECONDS": "240",
    }
    made = Stack(root, environment, f"stageline-{environment}", port, environ, secret)
    yield made
    local = {k: v for k, v in environ.items() if k != "DOCKER_HOST"}
    compose = ["docker", "compose", "-p", made.project, "-f", str(root / "docker-compose.yml")]
    subprocess.run(
        [*compose, "down", "--volumes", "--remove-orphans"],
        env=local,
        capture_output=True,
        check=False,
        timeout=300,
    )


def running_image(api: docker.APIClient, project: str) -> str:
    """Return the image reference of the project's running django container (docker inspect)."""
    filters = {"label": [f"{SERVICE_LABELS[0]}={project}", f"{SERVICE_LABELS[1]}=django"]}
    containers = api.containers(filters=filters)
    assert len(containers) == 1, containers
    return str(api.inspect_container(containers[0]["Id"])["Config"]["Image"])


def healthz(port: int) -> dict[str, str]:
    """Return /healthz's JSON, read over HTTP from the published port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        assert response.status == 200
        body: dict[str, str] = json.loads(response.read())
        return body


def assert_succeeded(result: subprocess.CompletedProcess[str], stack: Stack) -> None:
    """Assert exit 0, and that no secret of the stack reached the output."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for secret in (stack.secret, stack.environ["POSTGRES_PASSWORD"]):
        assert secret not in result.stdout + result.stderr


def test_deploy_by_digest_then_rollback(
    stack: Stack, pushed: Pushed, api: docker.APIClient
) -> None:
    first = stack.run("deploy", "--environment", stack.environment)
    assert_succeeded(first, stack)
    assert running_image(api, stack.project) == pushed.pinned_a
    assert healthz(stack.port)["status"] == "ok"
    assert pushed.pinned_a in first.stdout.splitlines()[-1]

    second = stack.run("deploy", "--environment", stack.environment, "--image", pushed.tag_b)
    assert_succeeded(second, stack)
    assert running_image(api, stack.project) == pushed.pinned_b
    assert healthz(stack.port)["database"] == "ok"

    back = stack.run("rollback", "--environment", stack.environment)
    assert_succeeded(back, stack)
    assert running_image(api, stack.project) == pushed.pinned_a
    assert healthz(stack.port)["status"] == "ok"

    # A's container records no deployment before it: nothing further to roll back to.
    again = stack.run("rollback", "--environment", stack.environment)
    line = assert_one_error_line(again, "no earlier deployment to roll back to")
    assert pushed.pinned_a in line
    assert running_image(api, stack.project) == pushed.pinned_a


def test_deploying_a_missing_tag_fails_clearly(stack: Stack, pushed: Pushed) -> None:
    result = stack.run(
        "deploy", "--environment", stack.environment, "--image", f"{pushed.repository}:nope"
    )
    line = assert_one_error_line(result, f"{pushed.repository}:nope is not in the registry")
    assert "--image" in line


def test_rollback_with_nothing_deployed_fails_clearly(stack: Stack) -> None:
    result = stack.run("rollback", "--environment", stack.environment)
    line = assert_one_error_line(result, "no earlier deployment to roll back to")
    assert "nothing runs" in line


def test_an_unreachable_docker_host_fails_clearly(stack: Stack) -> None:
    closed = f"ssh://root@127.0.0.1:{free_port()}"
    stack.environ["DOCKER_HOST"] = closed
    result = stack.run("deploy", "--environment", stack.environment)
    line = assert_one_error_line(result, f"the Docker engine at {closed} does not answer")
    assert "Connection refused" in line
    assert "check DOCKER_HOST, the SSH key and known_hosts" in line


def test_a_project_without_a_compose_file_fails_clearly(stack: Stack) -> None:
    (stack.root / "docker-compose.yml").unlink()
    result = stack.run("rollback", "--environment", stack.environment)
    assert_one_error_line(result, f"docker-compose.yml is not in {stack.root}")


def test_an_app_that_never_becomes_healthy_fails_with_its_log(stack: Stack, pushed: Pushed) -> None:
    # A malformed setting stops the app at start: it never becomes healthy, however fast the
    # engine (a 2-second wait on a healthy app was met once on a warm engine).
    stack.environ["DJANGO_SECURE_HSTS_SECONDS"] = "not-a-number"
    stack.environ["STAGELINE_DEPLOY_WAIT_SECONDS"] = "60"
    result = stack.run("deploy", "--environment", stack.environment)
    line = assert_one_error_line(result, "django did not become healthy")
    assert "stageline rollback" in line
    assert "==> last 30 log lines of django" in result.stdout
    assert "\x1b" not in result.stdout.split("==> last 30 log lines of django")[1]
    assert stack.secret not in result.stdout + result.stderr
