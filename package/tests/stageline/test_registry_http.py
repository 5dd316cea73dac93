"""The registry API client's HTTP logic against a scripted stand-in (no registry needed).

The stand-in is Python's http.server in a thread: it answers each request with the next
scripted answer and keeps what it was sent. It stands in for the auth, retry and bytes
logic only; tests/pipeline/test_registry_api.py runs the client against a real registry.

streams/registry-build-node-*.json are the exact bytes the loopback registry served for
a stage pushed by the pipeline tests (BuildKit, containerd image store): the stage's
image index (an amd64 image and its attestation), the amd64 image manifest, and its
config, which carries the stage's content key label.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from stageline.errors import RegistryAuthError, RegistryError
from stageline.registry_api import (
    MANIFEST_TYPES,
    Manifest,
    RegistryAPI,
    base_url,
    content_digest,
    parse_challenge,
)

STREAMS = Path(__file__).parent / "streams"
INDEX = (STREAMS / "registry-build-node-index.json").read_bytes()
CONFIG = (STREAMS / "registry-build-node-config.json").read_bytes()
INDEX_TYPE = MANIFEST_TYPES[0]


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class StandIn:
    """What the stand-in will answer, and what it was asked."""

    host: str = ""
    answers: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def client(self, **options: object) -> RegistryAPI:
        waits = options.pop("waits", None)
        sleep = waits.append if isinstance(waits, list) else (lambda _: None)
        return RegistryAPI(self.host, sleep=sleep, **options)  # type: ignore[arg-type]


def handler_for(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            stand_in.seen.append(Seen(self.command, url.path, parse_qs(url.query), headers, body))
            answer = stand_in.answers.pop(0)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_HEAD = do_PUT = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    served = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(served))
    served.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()
    assert served.answers == [], "the client sent fewer requests than scripted"


def manifest_answer() -> Answer:
    return Answer(200, INDEX, {"Content-Type": f"{INDEX_TYPE}; charset=utf-8"})


def bearer(stand_in: StandIn) -> Answer:
    realm = f"http://{stand_in.host}/token"
    challenge = f'Bearer realm="{realm}",service="stand-in",scope="repository:group/app:pull"'
    return Answer(401, b'{"errors":[]}', {"WWW-Authenticate": challenge})


def test_a_bearer_challenge_gets_a_token_for_the_scope_and_keeps_it(stand_in: StandIn) -> None:
    token = Answer(200, json.dumps({"token": "t0k"}).encode())
    stand_in.answers = [bearer(stand_in), token, manifest_answer(), manifest_answer()]
    api = stand_in.client(credentials=("ci", "pa55"))
    first = api.get_manifest("group/app", "build-node")
    again = api.get_manifest("group/app", "build-node")
    assert first == again == Manifest(INDEX, INDEX_TYPE, content_digest(INDEX))
    assert first is not None
    assert first.is_index
    assert len(first.document["manifests"]) == 2
    asked = stand_in.seen[1]
    assert (asked.path, asked.query) == (
        "/token",
        {"scope": ["repository:group/app:pull"], "service": ["stand-in"]},
    )
    assert asked.headers["authorization"] == "Basic " + base64.b64encode(b"ci:pa55").decode()
    assert stand_in.seen[0].path == "/v2/group/app/manifests/build-node"
    assert "authorization" not in stand_in.seen[0].headers
    assert [s.headers["authorization"] for s in stand_in.seen[2:]] == ["Bearer t0k"] * 2
    assert stand_in.seen[2].headers["accept"] == ",".join(MANIFEST_TYPES)


def test_a_write_asks_for_a_push_scope_and_sends_the_manifest_byte_for_byte(
    stand_in: StandIn,
) -> None:
    token = Answer(200, json.dumps({"access_token": "w"}).encode())
    written = Answer(201, headers={"Docker-Content-Digest": "sha256:from-registry"})
    stand_in.answers = [bearer(stand_in), token, written]
    manifest = Manifest(INDEX, INDEX_TYPE, content_digest(INDEX))
    assert stand_in.client().put_manifest("group/app", "copy", manifest) == "sha256:from-registry"
    assert stand_in.seen[1].query["scope"] == ["repository:group/app:pull,push"]
    assert "authorization" not in stand_in.seen[1].headers  # anonymous: no credentials
    put = stand_in.seen[2]
    assert (put.method, put.path, put.body) == ("PUT", "/v2/group/app/manifests/copy", INDEX)
    assert put.headers["content-type"] == INDEX_TYPE


def test_a_basic_challenge_is_answered_with_the_credentials(stand_in: StandIn) -> None:
    stand_in.answers = [Answer(401, headers={"WWW-Authenticate": 'Basic realm="r"'}), Answer(404)]
    assert stand_in.client(credentials=("ci", "pa55")).get_manifest("group/app", "x") is None
    assert stand_in.seen[1].headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("answers", "error", "message"),
    [
        ([Answer(401, headers={"WWW-Authenticate": "Negotiate"})], RegistryError,
         "asked for an unknown authentication (negotiate); Stageline speaks Basic and Bearer"),
        ([None, Answer(401)], RegistryAuthError,
         "refused a token to user 'ci': check CI_REGISTRY_USER and CI_REGISTRY_PASSWORD"),
        ([None, Answer(200, b"<html>")], RegistryError,
         "the token service of registry {host} answered 200 without a token."),
        ([None, Answer(200, b'{"token": "t"}'), Answer(403)], RegistryAuthError,
         "refused GET group/app/manifests/x for user 'ci' (403); check CI_REGISTRY_USER"),
    ],
)  # fmt: skip
def test_a_refused_authentication_says_what_to_check(
    stand_in: StandIn, answers: list[Answer | None], error: type, message: str
) -> None:
    stand_in.answers = [answer or bearer(stand_in) for answer in answers]
    with pytest.raises(error) as failed:
        stand_in.client(credentials=("ci", "pa55")).get_manifest("group/app", "x")
    assert message.format(host=stand_in.host) in str(failed.value)
    assert "pa55" not in str(failed.value)


def test_busy_and_failing_answers_are_retried_with_backoff(stand_in: StandIn) -> None:
    stand_in.answers = [Answer(429), Answer(503), manifest_answer()]
    waits: list[float] = []
    manifest = stand_in.client(waits=waits).get_manifest("group/app", "x")
    assert manifest is not None
    assert manifest.content == INDEX
    assert waits == [0.5, 1.0]


def test_the_last_failing_answer_is_reported_with_its_first_line(stand_in: StandIn) -> None:
    stand_in.answers = [Answer(503, b"down for maintenance\nmore")] * 3
    waits: list[float] = []
    with pytest.raises(RegistryError) as failed:
        stand_in.client(retries=2, waits=waits).get_manifest("group/app", "x")
    assert str(failed.value) == (
        f"registry {stand_in.host} could not read manifest group/app:x: 503 down for maintenance"
    )
    assert waits == [0.5, 1.0]


def test_a_registry_that_does_not_answer_is_tried_twice() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{probe.getsockname()[1]}"
    waits: list[float] = []
    api = RegistryAPI(host, sleep=waits.append)
    with pytest.raises(RegistryError) as failed:
        api.head_manifest("group/app", "x")
    assert str(failed.value) == (
        f"registry {host} did not answer (ConnectionError); check that it is up and reachable."
    )
    assert waits == [0.5]


def test_a_head_gives_the_registry_digest_or_computes_it(stand_in: StandIn) -> None:
    digest = {"Docker-Content-Digest": "sha256:given"}
    stand_in.answers = [Answer(200, headers=digest), Answer(200), manifest_answer(), Answer(404)]
    api = stand_in.client()
    assert api.head_manifest("group/app", "a") == "sha256:given"
    assert api.head_manifest("group/app", "b") == content_digest(INDEX)  # no header: GET
    assert api.head_manifest("group/app", "c") is None
    assert [s.method for s in stand_in.seen] == ["HEAD", "HEAD", "GET", "HEAD"]


def test_a_blob_is_checked_against_its_digest(stand_in: StandIn) -> None:
    digest = content_digest(CONFIG)
    stand_in.answers = [Answer(200, CONFIG), Answer(200, CONFIG + b" ")]
    api = stand_in.client()
    labels = api.get_json_blob("group/app", digest)["config"]["Labels"]
    assert labels["io.stageline.content-key"].startswith("sha256:c47244810f2610c1")
    with pytest.raises(RegistryError, match=f"sent blob {digest[:19]} with other content"):
        api.get_json_blob("group/app", digest)


def test_challenges_hosts_and_documents_are_read_as_registries_write_them() -> None:
    header = 'Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry"'
    assert parse_challenge(header) == (
        "bearer",
        {"realm": "https://gitlab.example.com/jwt/auth", "service": "container_registry"},
    )
    assert parse_challenge("") == ("", {})
    assert base_url("localhost:5000") == "http://localhost:5000/v2/"
    assert base_url("127.0.0.2:5000") == "http://127.0.0.2:5000/v2/"
    assert base_url("[::1]") == "http://[::1]/v2/"
    assert base_url("registry.gitlab.com") == "https://registry.gitlab.com/v2/"
    assert Manifest(b"[]", MANIFEST_TYPES[-1], "sha256:x").document == {}
