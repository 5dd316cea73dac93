"""Logging for containers: one JSON object per record on stdout, with the request's id.

A proxy or load balancer that sets a request-id header (``X-Request-ID`` unless
``DJANGO_REQUEST_ID_HEADER`` names another) gets that id into every record logged while
Django handles the request, so the proxy's access log and the app's lines can be joined.
Production uses this (config/settings/production.py); the other settings log plain text.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from config.env import env_str

DEFAULT_HEADER = "X-Request-ID"
# The id of the request being handled, or None; set by RequestIdMiddleware.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# What a proxy's id may look like (uuids, trace ids); anything else is not logged.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:=/+-]{1,200}$")
# LogRecord's own attributes; anything else on a record came from `extra=` and is logged.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def well_formed_id(value: object) -> str | None:
    """Return ``value`` if it looks like a request id (not arbitrary client text), else None."""
    return value if isinstance(value, str) and _REQUEST_ID_RE.match(value) else None


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: time, level, logger, message and extras."""

    def __init__(self, request_id_header: str = DEFAULT_HEADER) -> None:
        super().__init__()
        self.meta_key = meta_key(request_id_header)

    def record_request_id(self, record: logging.LogRecord) -> str | None:
        """Return the id of the request the record is about, or being handled, if any."""
        # django.request logs a 4xx/5xx after the middleware returned: read its request.
        request = getattr(record, "request", None)
        meta = getattr(request, "META", None)
        from_request = well_formed_id(meta.get(self.meta_key)) if isinstance(meta, dict) else None
        return from_request or request_id.get()

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON object on one line (tracebacks included, escaped)."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = self.record_request_id(record)
        if current:
            entry["request_id"] = current
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in entry and key != "request":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def meta_key(header: str) -> str:
    """Return the WSGI META key of a header name: X-Request-ID -> HTTP_X_REQUEST_ID."""
    return "HTTP_" + header.upper().replace("-", "_")


class RequestIdMiddleware:
    """Note the request-id header's value for the log records of this request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.conf import settings

        self.get_response = get_response
        self.meta_key = meta_key(getattr(settings, "REQUEST_ID_HEADER", DEFAULT_HEADER))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Handle the request with its id (if it has a well-formed one) in the context."""
        token = request_id.set(well_formed_id(request.META.get(self.meta_key)))
        try:
            return self.get_response(request)
        finally:
            request_id.reset(token)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level_from_env(name: str, default: str) -> str:
    """Return a logging level name from the variable ``name`` (any case)."""
    level = env_str(name, default).upper()
    if level not in LEVELS:
        raise ImproperlyConfigured(
            f"{name}={level.lower()!r} is not a log level; expected one of {', '.join(LEVELS)}"
        )
    return level


def json_logging(level: str, request_id_header: str = DEFAULT_HEADER) -> dict[str, Any]:
    """Return Django's LOGGING: every record as JSON on stdout, from ``level`` up."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "request_id_header": request_id_header}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json",
                # On the handler too: Django's loggers have their own level (INFO).
                "level": level,
            },
        },
        # Django's own loggers keep their defaults (errors mailed to ADMINS; the console
        # handler prints only with DEBUG on) and pass every record on to this one.
        "root": {"handlers": ["stdout"], "level": level},
    }
