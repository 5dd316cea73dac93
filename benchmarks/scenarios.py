"""The scenarios: one commit's change each, applied in order to one copy of the project.

Each scenario's build finds in the registry what the previous scenario pushed, as a
pipeline finds what the previous commit's pipeline pushed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# A tiny pure-Python wheel (about 11 kB), pinned as the project pins everything.
ADDED_REQUIREMENT = "six==1.17.0"


@dataclass(frozen=True)
class Scenario:
    """A named change to the project, and what it says in the table."""

    name: str
    title: str
    change: Callable[[Path, int], None]


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)


def no_change(project: Path, repetition: int) -> None:
    """Change nothing (a commit that touches no file in the image, or a re-run)."""


def change_js(project: Path, repetition: int) -> None:
    """Change one statement's worth of code in assets/js/main.js (the bundle changes)."""
    _append(project / "assets/js/main.js", f'\nwindow.stagelineBuild = "bench-{repetition}";\n')


def add_requirement(project: Path, repetition: int) -> None:
    """Append a small pinned pure-Python package to requirements/production.txt."""
    _append(project / "requirements/production.txt", f"{ADDED_REQUIREMENT}\n")


def change_python(project: Path, repetition: int) -> None:
    """Add a comment to core/views.py."""
    _append(project / "core/views.py", f"\n# Benchmark change {repetition}.\n")


SCENARIOS = (
    Scenario("cold", "cold (empty registry)", no_change),
    Scenario("no-change", "no change", no_change),
    Scenario("js", "one JS file changed", change_js),
    Scenario("requirement", "one requirement added", add_requirement),
    Scenario("python", "one Python file changed", change_python),
)
