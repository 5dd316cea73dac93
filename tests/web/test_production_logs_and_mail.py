"""Production logs JSON lines with the request id, and sends mail where the environment says.

Production settings are loaded in subprocesses (manage.py, or python -c), as in a container.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import project
from config.mail import EmailSettings, parse_email_url
from tests.web.conftest import run_python
from tests.web.smtp_sink import smtp_sink
from tests.web.test_production import assert_one_line_error, production_env, run_manage

REQUESTS = """
import logging, django
django.setup()
from django.test import Client
client = Client()
client.get("/no-such-page", HTTP_X_REQUEST_ID="req-42")
client.get("/no-such-page")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("shop").exception("failed\\nover two lines", extra={"order": 7})
"""


def python(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c CODE`` from the repository root."""
    return run_python(env, "-c", code)


def test_logs_are_one_json_object_per_line_with_the_request_id(tmp_path: Path) -> None:
    env = production_env(
        tmp_path, DJANGO_ALLOWED_HOSTS="testserver", DJANGO_SECURE_SSL_REDIRECT="false"
    )

    result = python(env, REQUESTS)

    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    not_found = [r for r in records if r["logger"] == "django.request"]
    assert [r.get("request_id") for r in not_found] == ["req-42", None]
    assert not_found[0]["level"] == "WARNING"
    assert not_found[0]["message"] == "Not Found: /no-such-page"
    assert not_found[0]["status_code"] == 404
    [failure] = [r for r in records if r["logger"] == "shop"]
    assert failure["message"] == "failed\nover two lines"
    assert failure["order"] == 7
    assert "ZeroDivisionError" in failure["exception"]
    assert {"time", "level", "logger", "message"} <= set(failure)


def test_log_level_and_request_id_header_come_from_the_environment(tmp_path: Path) -> None:
    env = production_env(
        tmp_path,
        DJANGO_ALLOWED_HOSTS="testserver",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_REQUEST_ID_HEADER="X-Amzn-Trace-Id",
        DJANGO_LOG_LEVEL="error",
    )
    code = REQUESTS.replace('HTTP_X_REQUEST_ID="req-42"', 'HTTP_X_AMZN_TRACE_ID="Root=1-5e"')

    records = [json.loads(line) for line in python(env, code).stdout.splitlines()]

    assert [r["logger"] for r in records] == ["shop"], "WARNING records pass DJANGO_LOG_LEVEL"
    env["DJANGO_LOG_LEVEL"] = "info"
    records = [json.loads(line) for line in python(env, code).stdout.splitlines()]
    assert records[0]["request_id"] == "Root=1-5e"


def test_errors_are_mailed_to_the_admins_through_email_url(tmp_path: Path) -> None:
    with smtp_sink() as sink:
        env = production_env(
            tmp_path,
            EMAIL_URL=f"smtp://127.0.0.1:{sink.server_address[1]}",
            DJANGO_ADMINS="Ops Team <ops@example.com>, dev@example.com",
            DJANGO_SERVER_EMAIL="Shop Errors <errors@example.com>",
        )
        code = "import django; django.setup(); from django.core.mail import mail_admins\n"
        result = python(env, code + "mail_admins('it broke', 'details')")

        assert result.returncode == 0, result.stderr
        [message] = sink.messages
    assert message["Subject"] == f"[{project.NAME}] it broke"
    assert message["From"] == "Shop Errors <errors@example.com>"
    assert message["To"] == "ops@example.com, dev@example.com"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, {"EMAIL_HOST": "localhost", "EMAIL_PORT": 25, "EMAIL_USE_TLS": False}),
        (
            {"EMAIL_URL": "smtp+tls://ada%40shop:pa%3Ass@mail.example.com"},
            {"EMAIL_HOST": "mail.example.com", "EMAIL_PORT": 587, "EMAIL_HOST_USER": "ada@shop"},
        ),
        (
            {
                "DJANGO_EMAIL_HOST": "smtp.example.com",
                "DJANGO_EMAIL_PORT": "2525",
                "DJANGO_EMAIL_HOST_USER": "shop",
                "DJANGO_EMAIL_USE_TLS": "true",
            },
            {"EMAIL_HOST": "smtp.example.com", "EMAIL_PORT": 2525, "EMAIL_USE_TLS": True},
        ),
        (
            {"EMAIL_URL": "console://", "DJANGO_DEFAULT_FROM_EMAIL": "shop@example.com"},
            {
                "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
                "DEFAULT_FROM_EMAIL": "shop@example.com",
                "SERVER_EMAIL": "shop@example.com",
            },
        ),
    ],
    ids=["unset", "email-url", "django-email-variables", "console"],
)
def test_email_settings_come_from_the_environment(
    tmp_path: Path, variables: dict[str, str], expected: dict[str, object]
) -> None:
    names = ", ".join(expected)
    shown = ", ".join(f"s.{name}" for name in expected)
    code = f"import django; django.setup(); from django.conf import settings as s; print([{shown}])"

    result = python(production_env(tmp_path, **variables), code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(list(expected.values())), names


@pytest.mark.parametrize(
    ("variable", "values"),
    [
        ("EMAIL_URL", {"EMAIL_URL": "smtps://ada:s3cret@mail.example.com"}),
        ("EMAIL_URL", {"EMAIL_URL": "smtp://ada:s3cret@mail.example.com:port"}),
        ("EMAIL_URL", {"EMAIL_URL": "ada:s3cret@mail.example.com"}),
        ("EMAIL_URL", {"EMAIL_URL": "smtp://", "DJANGO_EMAIL_HOST_PASSWORD": "s3cret"}),
        ("DJANGO_EMAIL_PORT", {"DJANGO_EMAIL_HOST": "mail", "DJANGO_EMAIL_PORT": "smtp"}),
        ("DJANGO_EMAIL_USE_TLS", {"DJANGO_EMAIL_HOST": "mail", "DJANGO_EMAIL_USE_TLS": "maybe"}),
        ("DJANGO_ADMINS", {"DJANGO_ADMINS": "Ops Team"}),
        ("DJANGO_ADMINS", {"DJANGO_ADMINS": "ops@example.com, , Ops <ops>"}),
        ("DJANGO_DEFAULT_FROM_EMAIL", {"DJANGO_DEFAULT_FROM_EMAIL": "the shop"}),
        ("DJANGO_SERVER_EMAIL", {"DJANGO_SERVER_EMAIL": "root"}),
        ("DJANGO_LOG_LEVEL", {"DJANGO_LOG_LEVEL": "loud"}),
    ],
    ids=[
        "unknown-scheme",
        "bad-port",
        "no-scheme",
        "url-and-variables",
        "port",
        "tls",
        "admins-without-address",
        "admins-bad-item",
        "from",
        "server",
        "log-level",
    ],
)
def test_a_bad_mail_or_log_setting_is_one_line_without_the_password(
    tmp_path: Path, variable: str, values: dict[str, str]
) -> None:
    result = run_manage(production_env(tmp_path, **values), "check")

    assert_one_line_error(result, variable)
    assert "s3cret" not in result.stderr


def test_email_url_decodes_user_and_password_and_picks_tls_by_scheme() -> None:
    assert parse_email_url("smtp+ssl://a%40b:p%2Fw@mx.example.com") == EmailSettings(
        host="mx.example.com", port=465, user="a@b", password="p/w", use_ssl=True
    )
    assert parse_email_url("SMTP://mx:2525").port == 2525
    with pytest.raises(ImproperlyConfigured, match="names no host"):
        parse_email_url("smtp://:pw@:25")
