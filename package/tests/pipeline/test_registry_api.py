"""The registry client against a real CNCF registry: htpasswd auth and GitLab-style tokens.

Images are written with the distribution API itself (a config blob and a manifest), so
these tests need the registry binary but no Docker engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from stageline.content_key import KEY_LABEL
from stageline.errors import RegistryAuthError, RegistryError
from stageline.registry_api import MANIFEST_TYPES, Manifest, RegistryAPI, content_digest
from stageline.reuse import image_key
from testing.checks import free_port
from testing.registries import LoopbackRegistry, RegistryPool
from testing.token_service import TokenService

pytestmark = pytest.mark.docker

USER, PASSWORD = "ci-user", "s3cret-Passw0rd"
REPOSITORY = "group/project/app"


def write_image(api: RegistryAPI, repository: str, tag: str, key: str) -> Manifest:
    """Upload a config blob labelled with ``key`` and a manifest naming it; return it."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Labels": {KEY_LABEL: key}}}
    )
    blob = config.encode()
    digest = content_digest(blob)
    started = api.request("POST", repository, "blobs/uploads/")
    assert started.status_code == 202, started.text
    location = urlsplit(started.headers["Location"])
    path = location.path.split(f"/v2/{repository}/", 1)[1]
    response = api.request("PUT", repository, f"{path}?{location.query}&digest={digest}", data=blob)
    assert response.status_code == 201, response.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPES[3],
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(blob),
                "digest": digest,
            },
            "layers": [],
        },
        indent=3,  # unusual whitespace: a re-serialised copy would get another digest
    ).encode()
    written = Manifest(manifest, MANIFEST_TYPES[3], content_digest(manifest))
    assert api.put_manifest(repository, tag, written) == written.digest
    return written


@pytest.fixture(scope="module")
def start_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., LoopbackRegistry]]:
    """Return a function that starts a registry on a free port; all are stopped at the end."""
    pool = RegistryPool(tmp_path_factory.mktemp("registry"))
    yield pool.start
    pool.stop_all()


@pytest.fixture(scope="module")
def htpasswd_registry(start_registry: Callable[..., LoopbackRegistry]) -> LoopbackRegistry:
    return start_registry(user=USER, password=PASSWORD)


@pytest.fixture(scope="module")
def token_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenService]:
    service = TokenService(tmp_path_factory.mktemp("token"), free_port(), USER, PASSWORD)
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def token_registry(
    start_registry: Callable[..., LoopbackRegistry], token_service: TokenService
) -> LoopbackRegistry:
    return start_registry(auth_lines=token_service.registry_config())


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_a_manifest_copy_keeps_its_bytes_and_digest(
    auth: str, htpasswd_registry: LoopbackRegistry, token_registry: LoopbackRegistry
) -> None:
    registry = htpasswd_registry if auth == "htpasswd" else token_registry
    api = RegistryAPI(registry.address, (USER, PASSWORD))
    original = write_image(api, REPOSITORY, "build-python", "sha256:" + "a" * 64)
    copied = api.put_manifest(REPOSITORY, "build-python--feature", original)
    assert copied == original.digest
    again = api.get_manifest(REPOSITORY, "build-python--feature")
    assert again is not None
    assert (again.content, again.media_type, again.digest) == (
        original.content,
        original.media_type,
        original.digest,
    )
    assert api.head_manifest(REPOSITORY, "build-python--feature") == original.digest
    assert image_key(api, REPOSITORY, again) == "sha256:" + "a" * 64
    assert api.get_manifest(REPOSITORY, "no-such-tag") is None


def test_token_auth_asks_the_realm_for_the_scope_it_needs(
    token_registry: LoopbackRegistry, token_service: TokenService
) -> None:
    token_service.scopes_asked.clear()
    api = RegistryAPI(token_registry.address, (USER, PASSWORD))
    write_image(api, "scoped/app", "x", "sha256:" + "b" * 64)
    api.get_manifest("scoped/app", "x")
    assert "repository:scoped/app:pull,push" in token_service.scopes_asked
    # One token per scope, reused for every later request of that scope.
    assert token_service.scopes_asked.count("repository:scoped/app:pull") <= 1


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_wrong_or_missing_credentials_say_which_user_and_what_to_check(
    auth: str, htpasswd_registry: LoopbackRegistry, token_registry: LoopbackRegistry
) -> None:
    registry = htpasswd_registry if auth == "htpasswd" else token_registry
    with pytest.raises(RegistryAuthError) as wrong:
        RegistryAPI(registry.address, (USER, "wrong")).get_manifest(REPOSITORY, "x")
    assert f"{USER!r}" in str(wrong.value)
    assert "CI_REGISTRY_PASSWORD" in str(wrong.value)
    assert "wrong" not in str(wrong.value)
    with pytest.raises(RegistryAuthError) as anonymous:
        RegistryAPI(registry.address).get_manifest(REPOSITORY, "x")
    assert "anonymous" in str(anonymous.value)


class Flaky(BaseHTTPRequestHandler):
    """Answers 503, then 429, then 200 with a manifest."""

    answers: ClassVar[list[int]] = [503, 429, 200]
    seen: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        status = self.answers[min(len(self.seen), len(self.answers) - 1)]
        self.seen.append(status)
        body = b'{"schemaVersion": 2}' if status == 200 else b""
        self.send_response(status)
        self.send_header("Content-Type", MANIFEST_TYPES[3])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_busy_and_failing_answers_are_retried_with_backoff() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    Thread(target=server.serve_forever, daemon=True).start()
    waits: list[float] = []
    try:
        api = RegistryAPI(f"127.0.0.1:{server.server_port}", sleep=waits.append)
        manifest = api.get_manifest("app", "latest")
        assert manifest is not None
        assert manifest.content == b'{"schemaVersion": 2}'
        assert Flaky.seen == [503, 429, 200]
        assert waits == [0.5, 1.0]
        Flaky.seen.clear()
        Flaky.answers = [503]
        with pytest.raises(RegistryError, match="503"):
            RegistryAPI(f"127.0.0.1:{server.server_port}", sleep=waits.append).get_manifest(
                "app", "latest"
            )
        assert len(Flaky.seen) == 5  # the first try and four retries
    finally:
        server.shutdown()
        server.server_close()


def test_a_registry_that_is_down_is_one_clear_error(tmp_path: Path) -> None:
    api = RegistryAPI(f"127.0.0.1:{free_port()}", retries=1, sleep=lambda _: None)
    with pytest.raises(RegistryError, match="did not answer"):
        api.head_manifest("app", "latest")
