"""What a registry failure was, from its structured parts rather than its wording.

A failure reaches Stageline three ways, each with structure to read:

* the registry's own answer (:mod:`stageline.registry_api`): the HTTP status and the
  distribution API's ``{"errors": [{"code": "MANIFEST_UNKNOWN", ...}]}`` body;
* the engine's answer to an API call (docker-py's ``APIError``): the HTTP status the
  engine chose (404 for a missing image, 401 for rejected credentials);
* an error chunk in a pull or push stream: ``errorDetail.code`` where the engine sets
  it, and the registry's error as the engine serialises it, ``<code>: <message>`` with
  the code in lower-case words (``denied: requested access ...``).

:func:`kind` turns these into ``denied``, ``missing`` or ``unreachable``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stageline.errors import RegistryError

# The distribution API's error codes (distribution spec, "Error Codes"), and the OAuth
# bearer errors a token-auth registry names in its challenge.
DENIED_CODES = frozenset({"UNAUTHORIZED", "DENIED", "INSUFFICIENT_SCOPE", "INVALID_TOKEN"})
MISSING_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN"})
OTHER_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "NAME_INVALID",
        "SIZE_INVALID",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    }
)
KNOWN_CODES = DENIED_CODES | MISSING_CODES | OTHER_CODES
DENIED_STATUSES = frozenset({401, 403})
# An HTTP status as Go prints it inside an engine message ("...: 403 Forbidden").
STATUS_PART_RE = re.compile(r"^([1-5]\d\d) [A-Z][A-Za-z ]*$")


@dataclass(frozen=True)
class RegistryFailure:
    """One registry failure: its message and the structured parts that classify it."""

    message: str
    statuses: tuple[
        int, ...
    ] = ()  # the HTTP statuses of the answers (the engine's, the registry's)
    codes: tuple[str, ...] = ()  # distribution error codes, e.g. DENIED, MANIFEST_UNKNOWN

    @property
    def kind(self) -> str:
        """Return ``denied``, ``missing`` or ``unreachable``."""
        if DENIED_STATUSES & set(self.statuses) or DENIED_CODES & set(self.codes):
            return "denied"
        if 404 in self.statuses or MISSING_CODES & set(self.codes):
            return "missing"
        return "unreachable"

    @property
    def first_line(self) -> str:
        """Return the message's first non-blank line, or ``no detail`` for an empty one."""
        return first_line(self.message) or "no detail"


class RegistryFailed(RegistryError):
    """A registry error reported in an engine stream, with its structured parts."""

    def __init__(self, failure: RegistryFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def first_line(text: str) -> str:
    """Return the first non-blank line of ``text``, stripped; "" when there is none."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def engine_parts(message: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Return the HTTP statuses and distribution codes an engine message carries.

    The engine joins causes with ``": "``; a registry error is one part spelled as its
    code in lower-case words (``manifest unknown``), an HTTP answer one spelled as Go
    prints a status (``401 Unauthorized``). Other words never count.
    """
    statuses: list[int] = []
    codes: list[str] = []
    for part in (part.strip() for part in message.split(": ")):
        status = STATUS_PART_RE.match(part)
        code = part.upper().replace(" ", "_")
        if status:
            statuses.append(int(status.group(1)))
        elif code in KNOWN_CODES:
            codes.append(code)
    return tuple(statuses), tuple(codes)


def from_engine(message: str, status: int | None = None) -> RegistryFailure:
    """Return the failure of an engine message, answered with HTTP ``status`` (None: a chunk)."""
    statuses, codes = engine_parts(message)
    own = (status,) if status is not None else ()
    return RegistryFailure(message, own + statuses, codes)


def from_chunk(chunk: Mapping[str, Any]) -> RegistryFailure:
    """Return the failure an error chunk of a pull or push stream reports."""
    detail = chunk.get("errorDetail")
    detail = detail if isinstance(detail, Mapping) else {}
    message = str(chunk.get("error") or detail.get("message") or "")
    code = detail.get("code")
    return from_engine(message, code if isinstance(code, int) and code >= 400 else None)


def body_codes(body: object) -> tuple[tuple[str, ...], str]:
    """Return the distribution codes of an error body and its first error's message."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, list):
        return (), ""
    entries = [entry for entry in errors if isinstance(entry, Mapping)]
    codes = tuple(str(entry.get("code", "")).upper() for entry in entries if entry.get("code"))
    message = str(entries[0].get("message") or "") if entries else ""
    return codes, message


def from_answer(status: int, body: object, text: str) -> RegistryFailure:
    """Return the failure of a registry's HTTP answer: its status and its JSON error body."""
    codes, message = body_codes(body)
    detail = " ".join(part for part in (*codes[:1], message) if part) or first_line(text)[:200]
    return RegistryFailure(f"{status} {detail}".rstrip(), (status,), codes)
