"""A wheelhouse holding the stageline package built from this working tree.

A project pins ``stageline[invoke]==X`` (requirements/build.txt), which no index has
before a release. Jobs and commands that install a project's requirements find the
working tree's wheel here through PIP_FIND_LINKS and UV_FIND_LINKS
(``find_links_variables``), as they would find the released one on an index.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# The stageline distribution's source: package/ of this repository.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def wheel_command(directory: Path) -> list[str]:
    """Return the command that builds the wheel into ``directory``: pip's, else uv's.

    A virtualenv made by uv (nox's uv backend) has no pip, but uv is beside it or on PATH.
    """
    if importlib.util.find_spec("pip"):
        pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
        return [*pip, str(PACKAGE_ROOT), "-w", str(directory)]
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv") or "uv"
    return [uv, "build", "--wheel", "--quiet", str(PACKAGE_ROOT), "--out-dir", str(directory)]


def build_wheelhouse(directory: Path) -> Path:
    """Build the stageline wheel from PACKAGE_ROOT into ``directory``; return the wheel."""
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        wheel_command(directory),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wheels = sorted(directory.glob("stageline-*.whl"))
    if result.returncode != 0 or not wheels:
        raise RuntimeError(
            f"building the wheel of {PACKAGE_ROOT} failed ({result.returncode}):\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    return wheels[-1]


def find_links_variables(
    directory: Path | str, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return PIP_FIND_LINKS and UV_FIND_LINKS with ``directory`` added to their values.

    pip splits PIP_FIND_LINKS on whitespace, uv splits UV_FIND_LINKS on commas; a value
    already set (a machine's own wheel folder) is kept.
    """
    environ = os.environ if environ is None else environ
    location = str(directory)
    pip = " ".join(filter(None, [environ.get("PIP_FIND_LINKS", ""), location]))
    uv = ",".join(filter(None, [environ.get("UV_FIND_LINKS", ""), location]))
    return {"PIP_FIND_LINKS": pip, "UV_FIND_LINKS": uv}
