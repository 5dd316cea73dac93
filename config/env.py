"""Read typed settings from the environment, failing with one line that names the variable.

Every reader raises ``ImproperlyConfigured`` with a message of the form
``NAME <what is wrong>; expected <what is allowed>``; ``manage.py`` and ``config.wsgi``
print it as ``error: <message>`` and exit 1. An empty value counts as unset.

``.env`` is read strictly: python-dotenv's own loader only warns about a line it cannot
parse and drops it (a dropped ``DJANGO_SECRET_KEY`` fails much later and obscurely), so a
malformed line stops start-up with one message naming the line, never echoing it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values
from dotenv.parser import parse_stream

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS_MODULE = "config.settings.local"


def load_env_file(base_dir: Path = BASE_DIR) -> None:
    """Load ``<base_dir>/.env`` if present; variables already in the environment win.

    Raises ``ImproperlyConfigured`` for a line it cannot parse (named, never echoed).
    """
    path = base_dir / ".env"
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error:
                raise ImproperlyConfigured(
                    f"{path.name} line {binding.original.line}: cannot parse it; "
                    "write NAME=value (quote values with spaces or #), or delete the line."
                )
    for name, value in dotenv_values(path, interpolate=False).items():
        if value is not None:
            os.environ.setdefault(name, value)


def _raw(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def env_str(name: str, default: str | None = None, *, expected: str = "a value") -> str:
    """Return the variable's value, the default when unset, or fail when there is neither."""
    value = _raw(name)
    if value is not None:
        return value
    if default is None:
        raise ImproperlyConfigured(f"{name} is not set; expected {expected}")
    return default


def env_bool(name: str, default: bool) -> bool:
    """Return the variable as a boolean (true/false, yes/no, on/off, 1/0)."""
    value = _raw(name)
    if value is None:
        return default
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; expected true or false (also yes/no, on/off, 1/0)"
    )


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """Return the variable as an integer no smaller than ``minimum``."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a whole number; expected an integer >= {minimum}"
        )
    return number


def env_float(name: str, default: float, *, minimum: float = 0.0, maximum: float) -> float:
    """Return the variable as a number from ``minimum`` to ``maximum``."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not minimum <= number <= maximum:
        raise ImproperlyConfigured(
            f"{name}={value!r} is out of range; expected a number from {minimum:g} to {maximum:g}"
        )
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    """Return the variable as a comma-separated list, ignoring blanks around items."""
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


DATABASE_URL_EXPECTED = (
    "a URL such as postgres://USER:PASSWORD@HOST:5432/NAME or sqlite:////abs/path/db.sqlite3"
)


def database_from_env(
    default_sqlite: Path, *, name: str = "DATABASE_URL", conn_max_age: int = 0
) -> dict[str, Any]:
    """Return Django's DATABASES["default"] from ``name``, or SQLite at ``default_sqlite``.

    The URL is parsed by dj-database-url; the message never repeats the URL, which may hold
    a password.
    """
    url = _raw(name)
    if url is None:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(default_sqlite),
        }
    scheme, separator, _ = url.partition("://")
    if not separator or not scheme:
        reason = "has no scheme"
    else:
        try:
            config: dict[str, Any] = dict(
                dj_database_url.parse(
                    url, conn_max_age=conn_max_age, conn_health_checks=conn_max_age > 0
                )
            )
        except dj_database_url.UnknownSchemeError:
            reason = f"has an unsupported scheme {scheme!r}"
        except ValueError:
            reason = "cannot be parsed (quote special characters in the password as %XX)"
        else:
            if config["ENGINE"] == "django.db.backends.postgresql":
                # Fail within seconds, not minutes, when the server does not answer.
                config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 10)
            if config.get("NAME") or config["ENGINE"].endswith("sqlite3"):
                return config
            reason = "names no database"
    raise ImproperlyConfigured(f"{name} {reason}; expected {DATABASE_URL_EXPECTED}")


def start_django(exit_code: int = 1) -> None:
    """Load ``.env``, then the settings module it or the environment names; or exit.

    ``.env`` is read first so that its ``DJANGO_SETTINGS_MODULE`` counts (the environment
    still wins); unset in both, it is ``config.settings.local``. A malformed ``.env`` or
    setting prints ``error: <message>`` and exits with ``exit_code``.
    """
    try:
        load_env_file()
    except ImproperlyConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exit_code) from None
    if not _raw("DJANGO_SETTINGS_MODULE"):
        os.environ["DJANGO_SETTINGS_MODULE"] = DEFAULT_SETTINGS_MODULE
    exit_on_bad_settings(exit_code)


def exit_on_bad_settings(exit_code: int = 1) -> None:
    """Load the settings now; on a bad setting print ``error: <message>`` and exit.

    Used by manage.py and the WSGI/ASGI modules so that a missing or malformed variable
    stops start-up with one line instead of a traceback.
    """
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018  (importing the settings module is the point)
    except ImproperlyConfigured as exc:
        message = str(exc)
    except ModuleNotFoundError as exc:
        module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
        if not exc.name or not (module + ".").startswith(exc.name + "."):
            raise
        message = (
            f"DJANGO_SETTINGS_MODULE={module!r} cannot be imported; expected "
            "config.settings.local, config.settings.production or config.settings.test"
        )
    else:
        return
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(exit_code)
