"""The tasks reach a dind-like daemon over TLS even with REQUESTS_CA_BUNDLE set (issue 6).

GitLab's build job talks to ``tcp://docker:2376`` with DOCKER_TLS_VERIFY=1 and
DOCKER_CERT_PATH=/certs/client, and many runners set REQUESTS_CA_BUNDLE to the machine's
bundle, which does not hold dind's CA. requests then verifies the daemon against that
bundle instead of dind's CA (docker-py issues 2433, 2598) unless the client ignores the
environment, as stageline's does.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import docker
import pytest
import requests
from docker.errors import DockerException
from testing.projects import copy_project
from testing.task_runner import ok, run_task
from testing.tls_daemon import TlsDaemon

pytestmark = pytest.mark.docker

MACHINE_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture
def machine_bundle(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Set REQUESTS_CA_BUNDLE to the machine's CA bundle, as on a GitLab runner."""
    if not MACHINE_BUNDLE.is_file():
        pytest.skip(f"{MACHINE_BUNDLE} does not exist on this machine")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(MACHINE_BUNDLE))
    return MACHINE_BUNDLE


def tls_environment(daemon: TlsDaemon, bundle: Path) -> dict[str, str]:
    """Return the build job's Docker variables, pointed at ``daemon``."""
    return {
        "DOCKER_HOST": daemon.docker_host,
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(daemon.client_certs),
        "REQUESTS_CA_BUNDLE": str(bundle),
    }


def test_a_plain_docker_client_fails_there_because_of_requests_ca_bundle(
    tls_daemon: TlsDaemon, machine_bundle: Path
) -> None:
    environment = tls_environment(tls_daemon, machine_bundle)
    # docker-py negotiates the API version as it is made: that first request fails.
    with pytest.raises(DockerException, match=r"SSLError|CERTIFICATE_VERIFY_FAILED"):
        docker.from_env(environment=environment, version="auto")
    # With the version a client ignoring requests' environment negotiated, pings fail too.
    plain = docker.from_env(environment=environment, version=tls_daemon.api().api_version)
    with pytest.raises(requests.exceptions.SSLError):
        plain.ping()
    # The same client ignoring requests' environment gets through: the bundle is the cause.
    plain.api.trust_env = False
    assert plain.ping()


def test_build_stages_reaches_the_tls_daemon_despite_requests_ca_bundle(
    tls_daemon: TlsDaemon,
    machine_bundle: Path,
    registry_address: str,
    base_images: dict[str, str],
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path / "project")
    image = f"{registry_address}/gitlab-tls-{uuid.uuid4().hex[:10]}/app"
    report = tmp_path / "report.json"
    env = {
        **tls_environment(tls_daemon, machine_bundle),
        "CI_REGISTRY_IMAGE": image,
        "STAGELINE_BUILD_NETWORK": "host",
        **base_images,
    }
    build = ok(
        run_task(
            project, "build-stages", "--stage", "build-python", "--report", str(report), env=env
        )
    )
    stages = build.report(report)["stages"]
    assert [stage["name"] for stage in stages] == ["build-python"]
    images = tls_daemon.api()
    assert images.inspect_image(f"{image}:build-python")["Id"] == stages[0]["image_id"]
