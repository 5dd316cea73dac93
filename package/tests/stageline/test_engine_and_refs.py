"""Image references as Docker reads them, and what the user reads when the engine fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker.constants import DEFAULT_DOCKER_API_VERSION as DOCKER_PY
from docker.errors import APIError

from stageline.engine import api_error_text, connect, negotiated_version, no_daemon_message
from stageline.errors import DaemonError
from stageline.image_ref import (
    ImageRef,
    familiar_name,
    names_registry_host,
    parse_image_ref,
    pinned_ref,
    registry_of,
    split_image_ref,
)


@pytest.mark.parametrize(
    ("ref", "parsed", "api_host"),
    [
        ("python:3.13", ImageRef("docker.io", "library/python", "3.13"), "registry-1.docker.io"),
        ("bitnami/redis", ImageRef("docker.io", "bitnami/redis", "latest"), "registry-1.docker.io"),
        ("localhost:5000/mirror/python:3.13",
         ImageRef("localhost:5000", "mirror/python", "3.13"), "localhost:5000"),
        ("localhost/app", ImageRef("localhost", "app", "latest"), "localhost"),
        ("registry.gitlab.com/group/app@sha256:abc",
         ImageRef("registry.gitlab.com", "group/app", "sha256:abc"), "registry.gitlab.com"),
        ("registry.example.com:5050/g/app:v1@sha256:abc",
         ImageRef("registry.example.com:5050", "g/app", "sha256:abc"), "registry.example.com:5050"),
    ],
)  # fmt: skip
def test_a_reference_names_its_registry_repository_and_tag_or_digest(
    ref: str, parsed: ImageRef, api_host: str
) -> None:
    assert parse_image_ref(ref) == parsed
    assert parse_image_ref(ref).api_host == api_host


def test_the_registry_port_is_not_a_tag() -> None:
    assert split_image_ref("localhost:5000/group/app") == ("localhost:5000/group/app", "latest")
    assert split_image_ref("localhost:5000/group/app:main") == ("localhost:5000/group/app", "main")
    assert registry_of("group/app:main") == "docker.io"
    assert registry_of("registry.example.com/group/app") == "registry.example.com"
    assert not names_registry_host("stageline")
    assert not names_registry_host("group/app")


@pytest.mark.parametrize(
    ("ref", "familiar", "pinned"),
    [
        ("python:3.13", "python:3.13", "docker.io/library/python@sha256:d"),
        ("docker.io/library/python:3.13", "python:3.13", "docker.io/library/python@sha256:d"),
        ("docker.io/bitnami/redis:latest", "bitnami/redis", "docker.io/bitnami/redis@sha256:d"),
        ("localhost:5000/mirror/python:3.13", "localhost:5000/mirror/python:3.13",
         "localhost:5000/mirror/python@sha256:d"),
    ],
)  # fmt: skip
def test_a_base_image_is_pinned_under_the_name_buildkit_looks_it_up_by(
    ref: str, familiar: str, pinned: str
) -> None:
    assert familiar_name(ref) == familiar
    assert pinned_ref(ref, "sha256:d") == pinned


@pytest.mark.parametrize(
    ("server", "version"),
    [
        ({"ApiVersion": "1.41", "MinAPIVersion": "1.12"}, "1.41"),  # Docker 20.10
        ({"ApiVersion": "1.99", "MinAPIVersion": "1.44"}, DOCKER_PY),  # newer than docker-py
        ({"ApiVersion": "1.99", "MinAPIVersion": "1.98"}, "1.98"),  # refuses docker-py's
        ({}, DOCKER_PY),
    ],
)
def test_the_api_version_is_the_highest_both_speak_never_below_the_daemon_s_minimum(
    server: dict[str, object], version: str
) -> None:
    assert negotiated_version(server) == version


def test_an_unreachable_daemon_says_where_it_was_looked_for_and_what_to_do() -> None:
    assert no_daemon_message({}) == (
        "cannot reach the Docker daemon at unix:///var/run/docker.sock: start Docker "
        "(e.g. `sudo systemctl start docker`) or set DOCKER_HOST to a running daemon."
    )
    assert no_daemon_message({"DOCKER_HOST": "tcp://docker:2376"}) == (
        "cannot reach the Docker daemon at tcp://docker:2376: check DOCKER_HOST and that "
        "the daemon there is running."
    )


def test_connecting_to_no_daemon_or_with_unusable_tls_settings_fails_with_one_line(
    tmp_path: Path,
) -> None:
    socket = f"unix://{tmp_path}/docker.sock"
    with pytest.raises(DaemonError) as absent:
        connect({"DOCKER_HOST": socket})
    assert str(absent.value) == no_daemon_message({"DOCKER_HOST": socket})
    tls = {"DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_VERIFY": "1"}
    with pytest.raises(DaemonError, match="the Docker settings in the environment are unusable"):
        connect({**tls, "DOCKER_CERT_PATH": str(tmp_path / "no-certs")})


def test_the_daemon_s_own_explanation_is_shown() -> None:
    explained = APIError("500 Server Error", explanation=b"no space left on device\n")
    assert api_error_text(explained) == "no space left on device"
    assert api_error_text(APIError("500 Server Error")) == "500 Server Error"
