"""Reading the settings' sources: the environment, ``.env``, pyproject.toml and git.

Each source is read here, once per task, and :func:`stageline.settings.parse_settings`
makes the settings from what was read. Environment variables win over ``.env``; git is
asked only for what no variable says.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path

from stageline import dotenv_file
from stageline.errors import SettingsError
from stageline.settings import GitFacts, Settings, needs_git, parse_settings


def read_dotenv(path: Path) -> dict[str, str]:
    """Return the variables of a ``.env`` file, refusing lines it cannot parse.

    The reader is shared with Django (stageline/dotenv_file.py); a bad line is a
    SettingsError here, named by file and line without echoing it (it may hold a secret).
    """
    try:
        return dotenv_file.read_dotenv(path)
    except dotenv_file.DotenvError as exc:
        raise SettingsError(str(exc)) from None


def git_output(root: Path, *args: str) -> str | None:
    """Return what ``git -C root ARGS`` prints, or None when it fails or prints nothing."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = result.stdout.strip()
    return out if result.returncode == 0 and out else None


def project_config(root: Path) -> dict[str, object]:
    """Return the ``[tool.stageline]`` table of ``root/pyproject.toml`` ({} without one)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"pyproject.toml cannot be parsed ({exc}); fix the file.") from None
    table = data.get("tool", {}).get("stageline", {})
    return table if isinstance(table, dict) else {}


def git_facts(root: Path, env: Mapping[str, str]) -> GitFacts:
    """Return the branch and short SHA git gives, asking only for what ``env`` lacks."""
    branch, short_sha = needs_git(env)
    return GitFacts(
        branch=git_output(root, "rev-parse", "--abbrev-ref", "HEAD") if branch else None,
        short_sha=git_output(root, "rev-parse", "--short=8", "HEAD") if short_sha else None,
    )


def load_settings(root: Path | str = ".", environ: Mapping[str, str] | None = None) -> Settings:
    """Return the settings for the project at ``root``.

    Sources, strongest first: ``environ`` (default: the process environment), the
    project's ``.env``, ``[tool.stageline]`` in pyproject.toml, then git.
    """
    root = Path(root).resolve()
    env: dict[str, str] = read_dotenv(root / ".env")
    env.update(os.environ if environ is None else environ)
    return parse_settings(root, env, project_config(root), git_facts(root, env))
