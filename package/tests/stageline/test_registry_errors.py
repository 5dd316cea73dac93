"""Registry failures are classified by their structured parts: status, code, chunk fields."""

from __future__ import annotations

import pytest

from stageline.registry_errors import (
    RegistryFailure,
    engine_parts,
    first_line,
    from_answer,
    from_chunk,
    from_engine,
)


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        ("denied: requested access to the resource is denied", ((), ("DENIED",))),
        ("manifest for x:y not found: manifest unknown: manifest unknown",
         ((), ("MANIFEST_UNKNOWN", "MANIFEST_UNKNOWN"))),
        ("unexpected status from HEAD request to https://r/v2/: 403 Forbidden", ((403,), ())),
        ("pull access denied, may require authorization: server message: insufficient_scope: "
         "authorization failed", ((), ("INSUFFICIENT_SCOPE",))),
        ("dial tcp 127.0.0.1:5999: connect: connection refused", ((), ())),
        ("", ((), ())),
    ],
)  # fmt: skip
def test_the_engine_s_message_parts_give_statuses_and_codes(
    message: str, parts: tuple[tuple[int, ...], tuple[str, ...]]
) -> None:
    assert engine_parts(message) == parts


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (RegistryFailure("x", statuses=(401,)), "denied"),
        (RegistryFailure("x", statuses=(404,), codes=("DENIED",)), "denied"),
        (RegistryFailure("x", statuses=(404,)), "missing"),
        (RegistryFailure("x", statuses=(500,), codes=("NAME_UNKNOWN",)), "missing"),
        (RegistryFailure("x", statuses=(503,), codes=("TOOMANYREQUESTS",)), "unreachable"),
        (RegistryFailure("not found, unauthorized, denied"), "unreachable"),
    ],
)
def test_the_kind_comes_from_statuses_and_codes(failure: RegistryFailure, kind: str) -> None:
    assert failure.kind == kind


def test_an_empty_message_has_no_first_line_and_never_fails() -> None:
    assert first_line("") == first_line("\n \n") == ""
    assert first_line("\n  first \nsecond") == "first"
    assert RegistryFailure("").first_line == "no detail"
    assert from_engine("", 500).first_line == "no detail"


def test_an_error_chunk_s_code_counts_only_when_it_is_an_http_error() -> None:
    assert from_chunk({"errorDetail": {"code": 401, "message": ""}}).kind == "denied"
    assert from_chunk({"error": "boom", "errorDetail": {"code": 1}}).statuses == ()
    assert from_chunk({"error": "denied: no", "errorDetail": "odd"}).kind == "denied"
    assert from_chunk({"errorDetail": None}).message == ""


def test_a_registry_answer_is_named_by_its_status_and_first_error_code() -> None:
    body = {"errors": [{"code": "MANIFEST_INVALID", "message": "manifest invalid"}]}
    failure = from_answer(400, body, "ignored")
    assert (failure.message, failure.codes, failure.kind) == (
        "400 MANIFEST_INVALID manifest invalid",
        ("MANIFEST_INVALID",),
        "unreachable",
    )
    assert from_answer(404, {"errors": [{"code": "NAME_UNKNOWN"}]}, "").kind == "missing"
    assert from_answer(503, None, "\n<html>down</html>\n").message == "503 <html>down</html>"
    assert from_answer(502, {"errors": "odd"}, "").message == "502"
