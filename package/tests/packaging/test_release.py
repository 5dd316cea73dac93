"""The release: one version everywhere, a wheel and an sdist that twine accepts, and a
wheel that runs from a clean virtualenv."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.packaging.conftest import PACKAGE_ROOT, Installed

pytestmark = pytest.mark.packaging

REPOSITORY = PACKAGE_ROOT.parent


def changelog_version() -> str:
    """Return CHANGELOG.md's newest released version."""
    text = (REPOSITORY / "CHANGELOG.md").read_text()
    found = re.search(r"^## (\d+\.\d+\.\d+) - ", text, re.MULTILINE)
    assert found, "CHANGELOG.md has no '## X.Y.Z - date' heading"
    return found.group(1)


def test_one_version_in_the_changelog_the_metadata_and_the_templates_pin() -> None:
    project = tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())["project"]
    pin = re.search(
        r"^stageline\[invoke\]==(\S+)$",
        (REPOSITORY / "requirements/build.txt").read_text(),
        re.MULTILINE,
    )
    assert pin, "requirements/build.txt does not pin stageline[invoke]==X.Y.Z"
    assert project["version"] == changelog_version() == pin.group(1)


def test_a_git_tag_on_this_commit_is_the_version() -> None:
    tags = subprocess.run(
        ["git", "tag", "--points-at", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True
    ).stdout.split()
    releases = [tag for tag in tags if re.fullmatch(r"v\d+\.\d+\.\d+", tag)]
    assert all(tag == f"v{changelog_version()}" for tag in releases), releases


def test_the_installed_command_prints_the_changelogs_version(installed: Installed) -> None:
    shown = subprocess.run(
        [installed.command("stageline"), "--version"],
        cwd=installed.venv,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == f"stageline {changelog_version()}"


def test_twine_accepts_the_wheel_and_the_sdist(release_files: Path) -> None:
    files = sorted(str(path) for path in release_files.glob("stageline-*"))
    assert len(files) == 2, files
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files], check=True)


def test_the_wheel_is_typed_and_holds_the_library_only(release_files: Path) -> None:
    (wheel,) = release_files.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "stageline/py.typed" in names
    assert "stageline/cli.py" in names
    assert "stageline/tasks.py" in names
    assert not [name for name in names if name.startswith(("tests/", "testing/", "benchmarks/"))]


def test_the_sdist_holds_the_tests_and_the_harness(release_files: Path) -> None:
    (sdist,) = release_files.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    for part in ("src/stageline/cli.py", "tests/conftest.py", "testing/fixtures.py"):
        assert any(name.endswith(part) for name in names), part


def test_the_invoke_collection_needs_the_invoke_extra(installed: Installed) -> None:
    """Without the extra, the command runs and the collection says what to install."""
    result = subprocess.run(
        [installed.command("python"), "-c", "import stageline.tasks"],
        cwd=installed.venv,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "pip install 'stageline[invoke]'" in result.stderr
