"""Nox sessions of the stageline package: `nox -f package/noxfile.py` runs every test session.

Sessions that need a Docker engine, registries or root (`pipeline`, `faults`, `bench`) skip
their tests with a message when those are missing, and fail when CI is set.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "release", "pipeline", "faults"]
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"

HERE = Path(__file__).resolve().parent
TEST_REQUIREMENTS = "requirements/test.txt"
CHANGELOG = HERE.parent / "CHANGELOG.md"
DIST = HERE / "dist"


def install(session: nox.Session, *requirements: str) -> None:
    """Install the package from this folder (editable), then ``requirements`` files."""
    files = requirements or (TEST_REQUIREMENTS,)
    session.install("-e", ".[invoke]", *[arg for name in files for arg in ("-r", name)])


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and check the formatting of the package, its tests, harness and benchmark."""
    install(session)
    session.run("ruff", "check", *(session.posargs or ["."]))
    session.run("ruff", "format", "--check", *(session.posargs or ["."]))


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package, the harness and this noxfile (mypy strict)."""
    install(session)
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the library's and harness's tests, and the daemon-free pipeline and faults tests."""
    install(session)
    suites = [
        "tests/stageline",
        "tests/frontends",
        "tests/harness",
        "tests/pipeline",
        "tests/faults",
    ]
    selected = "daemon_free or not (docker or faults)"
    session.run("pytest", *suites, "-m", selected, *session.posargs)


@nox.session
def pipeline(session: nox.Session) -> None:
    """Build, reuse and push stages on real engines and registries; adopt the installed wheel."""
    install(session)
    suites = ["tests/pipeline", "tests/platforms", "tests/packaging"]
    session.run("pytest", *suites, "-m", "(docker or packaging) and not faults", *session.posargs)


@nox.session
def faults(session: nox.Session) -> None:
    """Stop registries and the daemon mid-task, feed bad input and hunt for leaked secrets."""
    install(session)
    session.run("pytest", "tests/faults", "-m", "faults", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark Stageline against the pipelines it replaces (benchmarks/results/)."""
    install(session, "requirements/bench.txt")
    session.run("pytest", "tests/bench", "-q")  # the measures, before spending minutes
    session.run("python", "-m", "benchmarks", *session.posargs)


def changelog_version() -> str:
    """Return the newest released version in CHANGELOG.md (its first `## X.Y.Z` heading)."""
    found = re.search(r"^## \[?(\d+\.\d+\.\d+)\]?", CHANGELOG.read_text(), re.MULTILINE)
    if not found:
        raise SystemExit(f"{CHANGELOG} has no `## X.Y.Z` heading")
    return found.group(1)


@nox.session
def release(session: nox.Session) -> None:
    """Build the wheel and sdist into dist/, check them, and try the wheel in a clean venv."""
    session.install("-r", TEST_REQUIREMENTS)
    for old in DIST.glob("stageline-*"):
        old.unlink()
    session.run("python", "-m", "build", "--outdir", str(DIST), ".")
    session.run("twine", "check", "--strict", *map(str, DIST.glob("stageline-*")))
    version = changelog_version()
    (wheel,) = DIST.glob(f"stageline-{version}-py3-none-any.whl")
    with tempfile.TemporaryDirectory(prefix="stageline-release-") as scratch:
        venv = Path(scratch) / "venv"
        session.run("python", "-m", "venv", str(venv))
        session.run(str(venv / "bin/pip"), "install", "--quiet", str(wheel), external=True)
        shown = session.run(str(venv / "bin/stageline"), "--version", external=True, silent=True)
        # No checkout on its path: run from the scratch folder, not from here.
        if str(shown).strip() != f"stageline {version}":
            session.error(f"the wheel says {str(shown).strip()!r}; CHANGELOG.md says {version}")
    session.log(f"stageline {version}: {', '.join(p.name for p in DIST.glob('stageline-*'))}")
