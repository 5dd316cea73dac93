""".env: one strict reader for Django and the build tasks; its DJANGO_SETTINGS_MODULE counts.

Each test runs manage.py, the WSGI module or `invoke plan` in a subprocess, in a copy of
the project whose .env it writes, as a developer would run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.conftest import REPO_ROOT

PROJECT_FILES = ("manage.py", "tasks.py", "pyproject.toml", "Dockerfile")
PROJECT_DIRS = ("config", "core", "users")
SECRET = "s3cret-value-never-echoed"
MALFORMED = f'DJANGO_DEBUG=true\nDJANGO_SECRET_KEY="{SECRET}\n'
PRINT_SETTINGS = "from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG)"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Return a copy of the project's Python sources, without a .env."""
    root = tmp_path / "project"
    root.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPO_ROOT / name, root / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def clean_env(**values: str) -> dict[str, str]:
    """Return this process's environment without any setting the project reads, plus values."""
    prefixes = ("DJANGO_", "CI_", "STAGELINE_", "DATABASE_", "EMAIL_", "SENTRY_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(values)
    return env


def run(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` in ``project``."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Return the single stderr line of a run that failed as a user should see it."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert SECRET not in result.stdout + result.stderr, "the malformed line was echoed"
    return lines[0]


def test_a_malformed_line_stops_django_and_the_tasks_with_the_same_error(project: Path) -> None:
    (project / ".env").write_text(MALFORMED)

    django = one_error_line(run(project, "manage.py", "check"))
    tasks = one_error_line(run(project, "-m", "invoke", "plan"))

    assert django == tasks
    assert django.startswith("error: .env line 2: cannot parse it; write NAME=value")


def test_a_malformed_line_stops_the_wsgi_app(project: Path) -> None:
    (project / ".env").write_text(MALFORMED)

    line = one_error_line(run(project, "-c", "import config.wsgi"))

    assert line.startswith("error: .env line 2: cannot parse it")


@pytest.mark.parametrize("entry", ["manage.py", "config.wsgi", "config.asgi"])
def test_the_settings_module_named_in_dotenv_is_used(project: Path, entry: str) -> None:
    (project / ".env").write_text(
        "DJANGO_SETTINGS_MODULE=config.settings.production\n"
        f"DJANGO_SECRET_KEY={SECRET}\nDJANGO_DEBUG=true\n"
    )
    if entry == "manage.py":
        result = run(project, "manage.py", "shell", "--no-imports", "-c", PRINT_SETTINGS)
    else:
        result = run(project, "-c", f"import {entry}; {PRINT_SETTINGS}")

    assert result.returncode == 0, result.stderr
    # Production ignores DJANGO_DEBUG: the local settings would have turned it on.
    assert result.stdout.strip() == "config.settings.production False"


def test_the_environment_wins_over_dotenv(project: Path) -> None:
    (project / ".env").write_text("DJANGO_SETTINGS_MODULE=config.settings.production\n")
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.test")

    result = run(project, "manage.py", "shell", "--no-imports", "-c", PRINT_SETTINGS, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "config.settings.test False"


def test_without_a_settings_module_anywhere_the_local_settings_are_used(project: Path) -> None:
    (project / ".env").write_text("# nothing but a comment\n")

    result = run(project, "manage.py", "shell", "--no-imports", "-c", PRINT_SETTINGS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "config.settings.local True"


def test_dotenv_values_are_taken_literally(project: Path) -> None:
    (project / ".env").write_text(
        "DJANGO_SETTINGS_MODULE=config.settings.test\nDJANGO_ALLOWED_HOSTS=${HOME},b.example\n"
    )
    show = "from django.conf import settings; print(settings.ALLOWED_HOSTS)"

    result = run(project, "manage.py", "shell", "--no-imports", "-c", show)

    assert result.stdout.strip() == "['${HOME}', 'b.example']", result.stderr
