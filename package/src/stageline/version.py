"""The one version of Stageline: the package metadata's, which pyproject.toml sets."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def installed_version() -> str:
    """Return the installed distribution's version ("unknown" when not installed)."""
    try:
        return version("stageline")
    except PackageNotFoundError:
        return "unknown"
