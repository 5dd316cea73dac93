"""Every variable the project reads is documented in docs/reference/settings.md and .env.example."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from stageline.settings import PROJECT_KEYS

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_PAGE = ROOT / "docs/reference/settings.md"
# Every module of the stageline package: its settings may move between modules.
PACKAGE_SOURCE = ROOT / "package/src/stageline"
# Set by every CI system or the OS, never by a user for this project (CI: the harness's
# missing service fails instead of skipping; PATH: where docker is looked up).
NOT_SETTINGS = {"CI", "PATH"}
# The Docker client's own variables (the engine and the docker CLI's config), read as the
# docker CLI reads them: they describe the machine, not the project, so the settings page
# documents them and .env.example need not.
ENGINE_VARIABLES = {"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"}
# An environment variable's name: upper-case words joined by underscores (PATH, CI too).
VARIABLE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
# Calls that read a variable by name: env.get("X"), os.getenv("X"), _get(env, "X"),
# _int_setting(env, "X", 4), _flag_setting(env, project, "X", "key").
READERS = re.compile(r"^(?:get|getenv|_get|\w*_setting)$")


def package_variables() -> set[str]:
    """Return the variable names the stageline package's modules read from an environment."""
    names: set[str] = set()
    for path in sorted(PACKAGE_SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if READERS.match(name):
                    names |= {
                        arg.value
                        for arg in node.args
                        if isinstance(arg, ast.Constant)
                        and isinstance(arg.value, str)
                        and VARIABLE.match(arg.value)
                        and len(arg.value) > 1
                    }
            elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
                key = node.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    names.add(key.value)
    return names


def read_variables() -> set[str]:
    """Return the names of the environment variables the project's code and files read."""
    names: set[str] = set()
    for path in [*ROOT.glob("config/**/*.py"), ROOT / "manage.py"]:
        names |= set(re.findall(r'"((?:DJANGO|DATABASE|EMAIL|SENTRY)_[A-Z_]+)"', path.read_text()))
    names |= package_variables()
    for path in [*ROOT.glob("compose/production/*/*"), *ROOT.glob("docker-compose*.yml")]:
        names |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", path.read_text()))
    return names - NOT_SETTINGS


def settings_page() -> str:
    """Return the docs' Settings page."""
    return SETTINGS_PAGE.read_text(encoding="utf-8")


def test_the_reader_finds_the_variables_it_should() -> None:
    found = read_variables()
    for name in (
        "DJANGO_SECRET_KEY",
        "CI_COMMIT_REF_NAME",
        "CI_REGISTRY_IMAGE",
        "STAGELINE_PUSH_RETRIES",
        "STAGELINE_PROMOTE_MERGED",
        "GUNICORN_WORKERS",
        "POSTGRES_DB",
    ):
        assert name in found


@pytest.mark.parametrize("variable", sorted(read_variables()))
def test_each_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in settings_page(), f"docs/reference/settings.md omits {variable}"
    if variable in ENGINE_VARIABLES:
        return
    example = (ROOT / ".env.example").read_text()
    assert re.search(rf"^# {variable}=", example, re.MULTILINE), f".env.example omits {variable}"


def test_each_tool_stageline_key_is_documented() -> None:
    keys: set[str] = set()
    for path in sorted(PACKAGE_SOURCE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r'project(?:\.get\(|\[)"([a-z][a-z-]*)"', source))
        keys |= set(re.findall(r'_setting\((?:[\w]+, )+"[A-Z_]+", "([a-z][a-z-]*)"\)', source))
        keys |= set(re.findall(r'_names_setting\(\s*project, "([a-z][a-z-]*)"', source))
    assert {"image", "target", "build-args", "secrets", "promote-merged"} <= keys
    section = settings_page().split("## `[tool.stageline]` in pyproject.toml", 1)[1]
    for key in keys:
        assert f"| `{key}` |" in section, f"settings.md's [tool.stageline] table omits {key}"


# The other way round: the page documents nothing the code does not read.


def test_every_documented_stageline_variable_is_read() -> None:
    documented = set(re.findall(r"`(STAGELINE_[A-Z0-9_]+)`", settings_page()))
    assert documented, "no STAGELINE_* variable on the settings page"
    unread = documented - read_variables()
    assert not unread, f"docs/reference/settings.md documents what nothing reads: {unread}"


def test_the_tool_stageline_table_is_the_keys_the_code_accepts() -> None:
    section = settings_page().split("## `[tool.stageline]` in pyproject.toml", 1)[1]
    section = section.split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z][a-z-]*)` \|", section, re.MULTILINE))
    assert documented == set(PROJECT_KEYS), (
        "settings.md's [tool.stageline] table and stageline.settings.PROJECT_KEYS differ: "
        f"{sorted(documented ^ set(PROJECT_KEYS))}"
    )
