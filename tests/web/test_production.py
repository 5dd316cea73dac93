"""Production settings: refuse bad configuration in one line, pass the deploy checks, serve.

These run manage.py and gunicorn in subprocesses, as a deployment would.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values

from tests.web.conftest import (
    REPO_ROOT,
    FakeBuild,
    assert_one_error_line,
    free_port,
    run_python,
    write_fake_build,
)

GUNICORN = (sys.executable, "-m", "gunicorn", "--workers", "1")
SETTINGS_VARIABLES = (
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_LOG_LEVEL",
    "DJANGO_REQUEST_ID_HEADER",
    "EMAIL_URL",
    "DJANGO_EMAIL_HOST",
    "DJANGO_EMAIL_PORT",
    "DJANGO_EMAIL_HOST_USER",
    "DJANGO_EMAIL_HOST_PASSWORD",
    "DJANGO_EMAIL_USE_TLS",
    "DJANGO_ADMINS",
    "DJANGO_DEFAULT_FROM_EMAIL",
    "DJANGO_SERVER_EMAIL",
    "SENTRY_DSN",
    "SENTRY_ENVIRONMENT",
    "SENTRY_TRACES_SAMPLE_RATE",
)


def production_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """Return an environment with production settings and exactly the given values.

    The repository's .env (if a developer has one) must not leak in: python-dotenv only
    fills variables that are not set, so anything it defines is set to "" (= unset).
    """
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env.update(dict.fromkeys(dotenv_values(REPO_ROOT / ".env"), ""))
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    env.update(values)
    return env


def settings_with_fake_build(tmp_path: Path, build: FakeBuild, static_root: Path) -> str:
    """Write a settings module: production, but with a fake webpack build; return its name."""
    module = "stageline_production_with_fake_build"
    (tmp_path / f"{module}.py").write_text(
        "from config.settings.production import *  # noqa: F403\n"
        "WEBPACK_LOADER = {'DEFAULT': {**WEBPACK_LOADER['DEFAULT'], "
        f"'STATS_FILE': {str(build.stats_file)!r}}}}}\n"
        f"STATICFILES_DIRS = [('bundles', {str(build.bundles_dir)!r})]\n"
        f"STATIC_ROOT = {str(static_root)!r}\n"
    )
    return module


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py from the repository root and capture its output."""
    return run_python(env, "manage.py", *args)


def assert_one_line_error(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert "expected" in assert_one_error_line(result, variable)


@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_production_refuses_to_start_without_a_secret_key(
    tmp_path: Path, value: str | None
) -> None:
    env = production_env(tmp_path)
    if value is None:
        env.pop("DJANGO_SECRET_KEY")
        if "DJANGO_SECRET_KEY" in dotenv_values(REPO_ROOT / ".env"):
            env["DJANGO_SECRET_KEY"] = ""  # as unset: keep the developer's .env out
    else:
        env["DJANGO_SECRET_KEY"] = value

    assert_one_line_error(run_manage(env, "check"), "DJANGO_SECRET_KEY")


@pytest.mark.parametrize(
    "url",
    [
        "localhost:5432/stageline",
        "mysqlx://user:pw@db/stageline",
        "postgres://user:s3cret@db:port/stageline",
        "postgres://user:s3cret@db:5432",
    ],
    ids=["no-scheme", "unknown-scheme", "bad-port", "no-database-name"],
)
def test_production_refuses_a_malformed_database_url_without_echoing_it(
    tmp_path: Path, url: str
) -> None:
    result = run_manage(production_env(tmp_path, DATABASE_URL=url), "check")

    assert_one_line_error(result, "DATABASE_URL")
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DJANGO_SECURE_SSL_REDIRECT", "maybe"), ("DJANGO_SECURE_HSTS_SECONDS", "a year")],
)
def test_production_refuses_malformed_security_settings(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = run_manage(production_env(tmp_path, **{variable: value}), "check")

    assert_one_line_error(result, variable)


def test_an_unknown_settings_module_is_one_line(tmp_path: Path) -> None:
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings.staging")

    assert_one_line_error(run_manage(env, "check"), "DJANGO_SETTINGS_MODULE")


def test_check_deploy_passes_with_production_values(tmp_path: Path) -> None:
    build = write_fake_build(tmp_path / "dist")
    env = production_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE=settings_with_fake_build(tmp_path, build, tmp_path / "static"),
        PYTHONPATH=str(tmp_path),
        DJANGO_ALLOWED_HOSTS="stageline.example.com",
    )

    result = run_manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_fails_when_the_bundle_was_never_built(tmp_path: Path) -> None:
    build = FakeBuild(tmp_path / "missing.json", tmp_path, "main.js", "main.css")
    env = production_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE=settings_with_fake_build(tmp_path, build, tmp_path / "static"),
        PYTHONPATH=str(tmp_path),
    )

    result = run_manage(env, "check")

    assert result.returncode == 1
    assert "core.E001" in result.stderr
    assert "npm run build" in result.stderr
    assert "Traceback" not in result.stderr


def test_gunicorn_stops_on_a_missing_secret_key_instead_of_restarting_workers(
    tmp_path: Path,
) -> None:
    env = production_env(tmp_path, DJANGO_SECRET_KEY="")

    result = subprocess.run(
        [*GUNICORN, "--bind", "127.0.0.1:0", "config.wsgi"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "error: DJANGO_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def production_server(tmp_path: Path) -> Iterator[str]:
    """Run gunicorn with production settings, a fake build and collected static files."""
    static_root = tmp_path / "static"
    build = write_fake_build(tmp_path / "dist")
    env = production_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE=settings_with_fake_build(tmp_path, build, static_root),
        PYTHONPATH=str(tmp_path),
    )
    collected = run_manage(env, "collectstatic", "--no-input")
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [*GUNICORN, "--bind", f"127.0.0.1:{port}", "config.wsgi"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/healthz", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # it answers (a 503 is still an answer)
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log_text = (tmp_path / "gunicorn.log").read_text()
                    pytest.fail(f"gunicorn did not start:\n{log_text}")
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """GET ``url`` without following redirects; return status, headers and body."""
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_production_server_behind_a_tls_proxy(production_server: str) -> None:
    https = {"X-Forwarded-Proto": "https"}

    status, headers, _ = fetch(f"{production_server}/")
    assert status == 301
    assert headers["Location"].startswith("https://")

    status, headers, html = fetch(f"{production_server}/", https)
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    [script] = [part.split('"')[0] for part in html.split('<script src="')[1:]]
    assert script.startswith("/static/bundles/main.0a1b2c3d.")

    status, headers, _ = fetch(f"{production_server}{script}", https)
    assert status == 200
    assert headers["Cache-Control"] == "max-age=315360000, public, immutable"

    # Health checks probe over plain HTTP and must not be redirected.
    status, _, body = fetch(f"{production_server}/healthz")
    assert status == 200
    assert '"status": "ok"' in body
