"""The ``.env`` reader of the settings: strict, where python-dotenv's own loader is lenient.

python-dotenv's own loader only warns about a line it cannot parse and drops it; a
dropped ``CI_REGISTRY_PASSWORD`` or ``DJANGO_SECRET_KEY`` fails much later and obscurely,
so this reader refuses the file instead, naming the line but never echoing it (it may
hold a secret). Values are taken literally: ``${OTHER}`` is not expanded.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream


class DotenvError(ValueError):
    """A line of a ``.env`` file cannot be parsed."""


def read_dotenv(path: Path) -> dict[str, str]:
    """Return the variables of a ``.env`` file ({} when there is none).

    Raises DotenvError, naming the file and line, for a line that cannot be parsed.
    """
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error:
                raise DotenvError(
                    f"{path.name} line {binding.original.line}: cannot parse it; "
                    "write NAME=value (quote values with spaces or #), or delete the line."
                )
    values = dotenv_values(path, interpolate=False)
    return {key: value for key, value in values.items() if value is not None}


def load_dotenv_into(path: Path, environ: MutableMapping[str, str] | None = None) -> None:
    """Set each variable of ``path`` in ``environ`` (the process's) that is not set there.

    A variable already in the environment wins, even when empty. Raises DotenvError.
    """
    target = os.environ if environ is None else environ
    for name, value in read_dotenv(path).items():
        target.setdefault(name, value)
