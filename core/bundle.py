"""Find out whether the webpack bundle can be served, and say how to fix it when not."""

from __future__ import annotations

import json
from pathlib import Path

from webpack_loader.utils import get_loader

BUILD_HINT = "Run `npm run build` (or `nox -s js`) to build the front end into assets/dist/."


def manifest_path() -> Path:
    """Return the webpack-stats.json that django-webpack-loader reads."""
    return Path(get_loader("DEFAULT").config["STATS_FILE"])


def bundle_problem() -> str | None:
    """Return why the webpack manifest is unusable, or None when it is ready to serve."""
    path = manifest_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"The webpack manifest {path} does not exist: the front end has not been built."
    except OSError as exc:
        return f"The webpack manifest {path} cannot be read ({exc.strerror})."
    try:
        stats = json.loads(text)
    except json.JSONDecodeError:
        return f"The webpack manifest {path} is not valid JSON."
    status = stats.get("status") if isinstance(stats, dict) else None
    if status == "error":
        return f"The last webpack build failed (see {path} or the output of `npm run build`)."
    if status not in ("done", "compile"):
        return f"The webpack manifest {path} has no usable status ({status!r})."
    return None
