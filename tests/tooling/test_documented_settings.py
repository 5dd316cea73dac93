"""Every variable the project reads is documented in README's Settings and .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Set by every CI system, never by a user; README's Quick start says what it changes.
NOT_SETTINGS = {"CI"}


def read_variables() -> set[str]:
    """Return the names of the environment variables the project's code and files read."""
    names: set[str] = set()
    for path in [*ROOT.glob("config/**/*.py"), ROOT / "manage.py"]:
        names |= set(re.findall(r'"((?:DJANGO|DATABASE|EMAIL|SENTRY)_[A-Z_]+)"', path.read_text()))
    settings = (ROOT / "stageline/settings.py").read_text()
    names |= set(
        re.findall(r'(?:get|_setting)\((?:env, (?:project, )?)?"([A-Z][A-Z_]+)"', settings)
    )
    for path in [*ROOT.glob("compose/production/*/*"), *ROOT.glob("docker-compose*.yml")]:
        names |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", path.read_text()))
    return names - NOT_SETTINGS


def settings_section() -> str:
    """Return README's "Settings" section."""
    readme = (ROOT / "README.md").read_text()
    return readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]


def test_the_reader_finds_the_variables_it_should() -> None:
    found = read_variables()
    for name in ("DJANGO_SECRET_KEY", "CI_COMMIT_REF_NAME", "GUNICORN_WORKERS", "POSTGRES_DB"):
        assert name in found


@pytest.mark.parametrize("variable", sorted(read_variables()))
def test_each_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in settings_section(), f"README's Settings omit {variable}"
    example = (ROOT / ".env.example").read_text()
    assert re.search(rf"^# {variable}=", example, re.MULTILINE), f".env.example omits {variable}"
