"""copier's `sentry` question: yes adds sentry-sdk and the hook; no leaves no trace of either.

The hook is tested working: a project that answered yes sends an error report to a local
stand-in for Sentry's ingest endpoint (sentry-sdk is installed from requirements/sentry.txt
by `nox -s template`).
"""

from __future__ import annotations

import gzip
import http.server
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from testing.task_runner import TaskRun

from tests.template.conftest import ACME, REPO_ROOT, run, start_project

pytestmark = pytest.mark.template

REPORT = """
import django, sentry_sdk
django.setup()
sentry_sdk.capture_message("the anvil fell on the wrong coyote")
sentry_sdk.flush(timeout=10)
"""


@pytest.fixture(scope="module")
def sentry_project(
    tmp_path_factory: pytest.TempPathFactory, template_repo: Path, environ: dict[str, str]
) -> Path:
    """Return a project started with `sentry` answered yes."""
    destination = tmp_path_factory.mktemp("sentry") / "shop"
    return start_project(template_repo, destination, {**ACME, "sentry": "true"}, environ)


class Ingest(http.server.BaseHTTPRequestHandler):
    """Sentry's envelope endpoint, keeping what it is sent."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test's output quiet."""


@pytest.fixture
def ingest() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """Yield a DSN pointing at a local ingest endpoint, and what that endpoint received."""
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (Ingest,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_address[1]}/42", received
    finally:
        server.shutdown()
        server.server_close()


def production(project: Path, environ: dict[str, str], code: str, **values: str) -> TaskRun:
    """Run ``python -c CODE`` in ``project`` with its production settings."""
    env = {
        **environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": f"sqlite:///{project / 'db.sqlite3'}",
        **values,
    }
    return run([sys.executable, "-c", code], project, env, check=False)


def test_without_sentry_the_project_has_neither_the_package_nor_the_hook(
    acme_project: Path,
) -> None:
    assert "sentry" not in (acme_project / "requirements/production.txt").read_text()
    assert not (acme_project / "config/sentry.py").exists()
    assert not (acme_project / "requirements/sentry.txt").exists()
    for name in ("config/settings/production.py", ".env.example"):
        text = (acme_project / name).read_text()
        assert not re.search("sentry", text, re.IGNORECASE), f"{name} mentions Sentry"
    assert "SENTRY_DSN" not in (acme_project / "README.md").read_text()


def test_with_sentry_the_pinned_package_and_the_hook_are_there(sentry_project: Path) -> None:
    pin = (REPO_ROOT / "requirements/sentry.txt").read_text().splitlines()[-1]
    assert re.fullmatch(r"sentry-sdk==[\d.]+", pin)
    requirements = (sentry_project / "requirements/production.txt").read_text()
    assert requirements.splitlines()[-1] == pin
    assert "\npsycopg[binary]==" in requirements, "the other requirements stay"
    settings = (sentry_project / "config/settings/production.py").read_text()
    assert "\nfrom config.sentry import init_sentry\n" in settings
    assert settings.endswith("\ninit_sentry()\n")
    assert (sentry_project / "config/sentry.py").read_text() == (
        REPO_ROOT / "config/sentry.py"
    ).read_text()
    assert "\n# SENTRY_DSN=" in (sentry_project / ".env.example").read_text()
    assert "`SENTRY_DSN`" in (sentry_project / "README.md").read_text()


def test_with_sentry_an_error_reaches_the_dsn(
    sentry_project: Path,
    environ: dict[str, str],
    ingest: tuple[str, list[tuple[str, bytes]]],
) -> None:
    dsn, received = ingest

    result = production(sentry_project, environ, REPORT, SENTRY_DSN=dsn)

    assert result.returncode == 0, result.output
    [(path, body)] = received
    assert path == "/api/42/envelope/"
    assert b"the anvil fell on the wrong coyote" in body
    assert b'"environment":"production"' in body


def test_with_sentry_but_no_dsn_nothing_is_sent_and_django_starts(
    sentry_project: Path,
    environ: dict[str, str],
    ingest: tuple[str, list[tuple[str, bytes]]],
) -> None:
    result = production(sentry_project, environ, REPORT)

    assert result.returncode == 0, result.output
    assert ingest[1] == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SENTRY_DSN", "https://o0.ingest.example.com/s3cret"),
        ("SENTRY_TRACES_SAMPLE_RATE", "half"),
        ("SENTRY_TRACES_SAMPLE_RATE", "2"),
    ],
)
def test_a_bad_sentry_setting_is_one_line(
    sentry_project: Path, environ: dict[str, str], variable: str, value: str
) -> None:
    values = {"SENTRY_DSN": "https://key@o0.ingest.example.com/1", variable: value}

    result = production(sentry_project, environ, "import config.wsgi", **values)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {variable}")
    assert "s3cret" not in result.output
