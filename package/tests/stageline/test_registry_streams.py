"""Login, push and pull through the engine, fed its recorded streams (no Docker needed).

streams/push-*.jsonl and pull-*.jsonl (see record_engine_streams.py) are Docker 26.1's
``push``/``pull(stream=True, decode=True)`` messages (containerd image store) for a tiny
image on the loopback registry: a first push (three layers uploaded, one mounted from
another repository), the same push again, a push to a port where nothing listens, a
pull of the image's own layers, and a pull of a missing tag (a 404 raised by the call).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import requests
from docker.errors import APIError, NotFound
from rich.console import Console

from stageline import registry
from stageline.console import Output
from stageline.errors import DaemonError, RegistryAuthError, RegistryError
from stageline.registry import PullOutcome, PushOutcome
from stageline.registry_errors import from_chunk, from_engine
from stageline.settings import Secret, Settings
from tests.stageline.replay import FakeEngine, recorded

REF = "localhost:5000/coverage-fixtures/app:app"
DIGEST = "sha256:c731f95549c7a1bba2fcf54b105e76b726fe47bc7e8d158b3a0d0116eb77fe78"


def plain() -> tuple[Output, io.StringIO]:
    shown = io.StringIO()
    return Output(shown, force_plain=True), shown


def test_a_first_push_counts_uploaded_and_mounted_layers_and_keeps_the_digest() -> None:
    engine = FakeEngine(recorded("push-new-layers.jsonl"))
    output, shown = plain()
    outcome = registry.push(engine, REF, output)
    assert outcome == PushOutcome(REF, digest=DIGEST, layers_pushed=3, layers_present=1)
    assert engine.calls == [
        (
            "push",
            "localhost:5000/coverage-fixtures/app",
            {"tag": "app", "stream": True, "decode": True},
        )
    ]
    assert shown.getvalue().count(": pushed\n") == 3


def test_a_push_of_what_the_registry_has_uploads_nothing() -> None:
    output, _ = plain()
    outcome = registry.push(FakeEngine(recorded("push-already-present.jsonl")), REF, output)
    assert outcome == PushOutcome(REF, digest=DIGEST, layers_pushed=0, layers_present=4)


def test_bars_on_a_terminal_do_not_change_what_a_push_counts() -> None:
    output, _ = plain()
    output.console = Console(file=io.StringIO(), force_terminal=True, width=100)
    outcome = registry.push(FakeEngine(recorded("push-new-layers.jsonl")), REF, output)
    assert outcome == PushOutcome(REF, digest=DIGEST, layers_pushed=3, layers_present=1)


def test_a_registry_that_does_not_answer_is_retried_with_backoff_then_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = recorded("push-unreachable.jsonl")
    engine, waits = FakeEngine(stream, stream, stream), list[float]()
    output, _ = plain()
    with pytest.raises(RegistryError) as failed:
        registry.push(engine, REF, output, retries=2, delay=1.0, sleep=waits.append)
    assert waits == [1.0, 2.0]
    message = str(failed.value)
    assert message.startswith(f"pushing {REF} to registry localhost:5000 failed after 3 attempts: ")
    assert "dial tcp 127.0.0.1:5999: connect: connection refused" in message
    assert message.endswith("; check the registry and push again.")
    warnings = capsys.readouterr().err.splitlines()
    assert [line.split("retrying in ")[-1] for line in warnings] == ["1 s", "2 s"]


def test_a_refused_push_is_not_retried_and_names_the_credentials() -> None:
    denied = APIError("403 Client Error", explanation="denied: requested access is denied")
    engine, waits = FakeEngine(denied), list[float]()
    with pytest.raises(RegistryAuthError) as failed:
        registry.push(engine, REF, plain()[0], sleep=waits.append)
    assert waits == []
    assert str(failed.value) == (
        f"registry localhost:5000 refused the push of {REF}: denied: requested access is "
        "denied; check CI_REGISTRY_USER/CI_REGISTRY_PASSWORD and that the user may push."
    )


def test_a_daemon_that_goes_away_during_a_push_is_a_daemon_error() -> None:
    engine = FakeEngine(requests.exceptions.ConnectionError("socket closed"))
    with pytest.raises(DaemonError, match="the Docker daemon failed while pushing"):
        registry.push(engine, REF, plain()[0])


def test_a_pull_of_the_image_layers_is_pulled() -> None:
    engine = FakeEngine(recorded("pull-new-layers.jsonl"))
    outcome = registry.pull(engine, REF, plain()[0])
    assert outcome.status == "pulled"
    assert engine.calls[0][:2] == ("pull", "localhost:5000/coverage-fixtures/app")
    assert engine.calls[0][2]["tag"] == "app"


def not_found(name: str) -> NotFound:
    """Return the error the engine raised instead of a stream (recorded as JSON)."""
    (answer,) = recorded(name)
    return NotFound(f"404 Client Error: {answer['raised']}", explanation=answer["explanation"])


def test_a_missing_cache_source_is_an_outcome_not_an_error() -> None:
    outcome = registry.pull(FakeEngine(not_found("pull-missing-tag.jsonl")), REF, plain()[0])
    assert outcome.status == "missing"
    assert outcome.detail.endswith("localhost:5000/coverage-fixtures/app:missing: not found")


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (recorded("push-unreachable.jsonl"), "unreachable"),  # an error in the stream
        (APIError("401", explanation="unauthorized: authentication required"), "denied"),
        (APIError("500", explanation="manifest unknown"), "missing"),
    ],
)
def test_a_pull_that_fails_is_classified(answer: Any, status: str) -> None:
    outcome = registry.pull(FakeEngine(answer), REF, plain()[0])
    assert outcome == PullOutcome(REF, status, outcome.detail)
    assert outcome.detail


def test_a_daemon_that_goes_away_during_a_pull_is_a_daemon_error() -> None:
    engine = FakeEngine(requests.exceptions.ConnectionError("socket closed"))
    with pytest.raises(DaemonError, match=f"while pulling {REF}"):
        registry.pull(engine, REF, plain()[0])


def answered(status: int, explanation: str) -> APIError:
    """Return the APIError docker-py raises for an engine answer of HTTP ``status``."""
    response = requests.Response()
    response.status_code = status
    return APIError(f"{status} Server Error", response=response, explanation=explanation)


def test_registry_errors_are_classified_by_status_and_code_not_by_words() -> None:
    (error,) = [chunk for chunk in recorded("push-unreachable.jsonl") if "error" in chunk]
    assert from_chunk(error).kind == "unreachable"
    missing = not_found("pull-missing-tag.jsonl").explanation
    assert from_engine(missing, 404).kind == "missing"
    assert from_engine("unauthorized: authentication required").kind == "denied"
    # Words alone decide nothing: a message that merely mentions them is not classified.
    assert from_engine("the layer was not found; access denied?").kind == "unreachable"


def test_a_push_refused_with_a_status_is_not_retried() -> None:
    engine, waits = FakeEngine(answered(403, "")), list[float]()
    with pytest.raises(RegistryAuthError, match=r"refused the push of .*; check CI_REGISTRY_USER"):
        registry.push(engine, REF, plain()[0], sleep=waits.append)
    assert waits == []


def test_a_push_that_fails_without_a_message_is_retried_and_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = [{"error": "", "errorDetail": {"message": ""}}]
    engine, waits = FakeEngine(empty, answered(500, "\n")), list[float]()
    with pytest.raises(RegistryError) as failed:
        registry.push(engine, REF, plain()[0], retries=1, sleep=waits.append)
    assert str(failed.value).endswith(
        "failed after 2 attempts: no detail; check the registry and push again."
    )
    assert waits == [1.0]
    assert "(no detail); retrying in 1 s" in capsys.readouterr().err


def test_a_pull_refused_by_status_is_denied_and_an_error_chunk_code_counts() -> None:
    outcome = registry.pull(FakeEngine(answered(401, "Get /v2/: EOF")), REF, plain()[0])
    assert outcome.status == "denied"
    chunk = {"error": "x", "errorDetail": {"code": 404, "message": "x"}}
    assert registry.pull(FakeEngine([chunk]), REF, plain()[0]).status == "missing"


def settings(user: str | None = "ci-user") -> Settings:
    return Settings(
        root=Path("."),
        image="localhost:5000/group/app",
        ref_slug="main",
        default_branch="main",
        registry_user=user,
        registry_password=Secret("s3cret-pass") if user else None,
    )


def test_login_uses_the_image_registry_and_never_shows_the_password() -> None:
    engine = FakeEngine([])
    output, shown = plain()
    registry.login(engine, settings(), output)
    (call,) = engine.calls
    assert call[2] == {
        "username": "ci-user",
        "password": "s3cret-pass",
        "registry": "localhost:5000",
        "reauth": True,
    }
    assert shown.getvalue() == "==> log in to localhost:5000 as ci-user\n"


def test_no_credentials_no_login() -> None:
    engine = FakeEngine()
    registry.login(engine, settings(user=None), plain()[0])
    assert engine.calls == []


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (APIError("401", explanation="unauthorized: incorrect username or password"),
         RegistryAuthError, "rejected the credentials of user 'ci-user'"),
        (answered(401, "Get https://localhost:5000/v2/: 401 Unauthorized"),
         RegistryAuthError, "rejected the credentials of user 'ci-user'"),
        (APIError("500", explanation="Get https://localhost:5000/v2/: EOF"),
         RegistryError, "cannot log in to registry localhost:5000: it did not answer"),
        (requests.exceptions.ConnectionError("socket closed"),
         DaemonError, "the Docker daemon failed during login to localhost:5000"),
    ],
)  # fmt: skip
def test_a_failed_login_says_whose_fault_it_is(answer: Exception, error: type, words: str) -> None:
    with pytest.raises(error) as failed:
        registry.login(FakeEngine(answer), settings(), plain()[0])
    assert words in str(failed.value)
    assert "s3cret-pass" not in str(failed.value)
