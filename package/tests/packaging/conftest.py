"""The package as users get it: a wheel and an sdist built from this folder, and the wheel
installed into a clean virtualenv outside any checkout."""

from __future__ import annotations

import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    """A virtualenv with only the wheel (and its dependencies) installed."""

    venv: Path
    wheel: Path

    def command(self, name: str) -> str:
        """Return the path of a console script of the virtualenv."""
        return str(self.venv / "bin" / name)


@pytest.fixture(scope="session")
def release_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel and the sdist of the working tree into a folder, as a release does."""
    folder = tmp_path_factory.mktemp("release_files")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(folder), str(PACKAGE_ROOT)],
        check=True,
        capture_output=True,
    )
    return folder


@pytest.fixture(scope="session")
def installed(release_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Install the wheel into a clean virtualenv (no checkout on its path)."""
    root = tmp_path_factory.mktemp("clean-venv") / "venv"
    venv.create(root, with_pip=True)
    (wheel,) = release_files.glob("stageline-*.whl")
    subprocess.run(
        [str(root / "bin/pip"), "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        cwd=root,
    )
    return Installed(root, wheel)
