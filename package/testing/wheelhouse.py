"""A wheelhouse holding the stageline package built from this working tree.

A project pins ``stageline[invoke]==X`` (requirements/build.txt), which no index has
before a release. Jobs and commands that install a project's requirements find the
working tree's wheel here through PIP_FIND_LINKS and UV_FIND_LINKS
(``find_links_variables``), as they would find the released one on an index.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# The stageline distribution's source: package/ of this repository.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def build_wheelhouse(directory: Path) -> Path:
    """Build the stageline wheel from PACKAGE_ROOT into ``directory``; return the wheel."""
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
    result = subprocess.run(
        [*command, str(PACKAGE_ROOT), "-w", str(directory)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wheels = sorted(directory.glob("stageline-*.whl"))
    if result.returncode != 0 or not wheels:
        raise RuntimeError(
            f"`pip wheel {PACKAGE_ROOT}` failed ({result.returncode}):\n"
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
