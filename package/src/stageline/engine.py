"""A connection to the Docker engine that behaves the same on a laptop and in CI.

``REQUESTS_CA_BUNDLE`` is set on many CI machines; requests lets it override the CA
docker-py configured for a TLS daemon such as GitLab's ``tcp://docker:2376`` dind
service (docker-py issues 2433 and 2598). The client here ignores requests'
environment (``trust_env = False``).

The API version is negotiated as the Docker CLI does: the highest that the daemon and
docker-py both speak, never below the daemon's minimum (Docker 29 refuses
clients below API 1.44), so one client works from Docker 20.10 to today's dind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import requests
from docker import APIClient
from docker.constants import DEFAULT_DOCKER_API_VERSION, MINIMUM_DOCKER_API_VERSION
from docker.errors import APIError, DockerException
from docker.utils import kwargs_from_env

from stageline.dockerfile.platforms import DEFAULT_PLATFORM, Platform
from stageline.errors import DaemonError

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# Builds and pushes can be silent for minutes (a long RUN step); allow that.
STREAM_TIMEOUT_SECONDS = 1800


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def negotiated_version(server: Mapping[str, object]) -> str:
    """Return the API version to use with a daemon, given its ``/version`` answer.

    The lower of the daemon's version and docker-py's, raised to the daemon's minimum
    when docker-py's is older than that (docker-py speaks newer APIs well enough).
    """
    server_api = str(server.get("ApiVersion") or DEFAULT_DOCKER_API_VERSION)
    version = min(server_api, DEFAULT_DOCKER_API_VERSION, key=_version_tuple)
    minimum = str(server.get("MinAPIVersion") or version)
    return str(max(version, minimum, key=_version_tuple))


def daemon_address(environ: Mapping[str, str]) -> str:
    """Return where the daemon is expected, as the user would write it."""
    return environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def no_daemon_message(environ: Mapping[str, str]) -> str:
    """Return the one-line message for an unreachable daemon."""
    address = daemon_address(environ)
    hint = (
        "check DOCKER_HOST and that the daemon there is running"
        if environ.get("DOCKER_HOST")
        else "start Docker (e.g. `sudo systemctl start docker`) "
        "or set DOCKER_HOST to a running daemon"
    )
    return f"cannot reach the Docker daemon at {address}: {hint}."


def connect(environ: Mapping[str, str]) -> APIClient:
    """Return a low-level client for the daemon named by ``DOCKER_HOST`` (TLS from env).

    The caller closes it (or uses :func:`connected`, which does).
    """
    try:
        kwargs = kwargs_from_env(environment=dict(environ))
    except DockerException as exc:
        raise DaemonError(f"the Docker settings in the environment are unusable: {exc}.") from None
    try:
        probe = APIClient(version=MINIMUM_DOCKER_API_VERSION, timeout=30, **kwargs)
    except (DockerException, requests.exceptions.RequestException, OSError):
        raise DaemonError(no_daemon_message(environ)) from None
    try:
        probe.trust_env = False
        server = probe.version(api_version=False)
    except (DockerException, requests.exceptions.RequestException, OSError):
        raise DaemonError(no_daemon_message(environ)) from None
    finally:
        probe.close()
    version = negotiated_version(server)
    client = APIClient(version=version, timeout=STREAM_TIMEOUT_SECONDS, **kwargs)
    client.trust_env = False
    return client


@contextmanager
def connected(environ: Mapping[str, str]) -> Iterator[APIClient]:
    """Yield a client as :func:`connect` makes it, and close it when the block ends."""
    client = connect(environ)
    try:
        yield client
    finally:
        client.close()


def api_error_text(exc: APIError) -> str:
    """Return the daemon's own explanation of a failed API call."""
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or exc).strip()


def engine_platform(client: APIClient) -> Platform:
    """Return the engine's own platform: the ``Os`` and ``Arch`` of its ``/version``.

    BuildKit on that engine runs there: it is the build platform, and the target
    platform when none is named.
    """
    try:
        version = client.version()
    except (DockerException, requests.exceptions.RequestException, OSError):
        return DEFAULT_PLATFORM
    os_name, arch = str(version.get("Os") or ""), str(version.get("Arch") or "")
    return Platform(os_name.lower(), arch.lower()) if os_name and arch else DEFAULT_PLATFORM
