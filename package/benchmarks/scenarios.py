"""The scenarios: one commit's change each, applied in order to one copy of the project.

Each scenario's build finds in the registry what the previous scenario pushed, as a
pipeline finds what the previous commit's pipeline pushed.

The two merge scenarios are a feature branch merged into the default branch. Their
change is made on a branch first: before the clock starts, that branch's pipeline
(ref ``feature-x``, its own commit) builds and pushes the changed tree on an emptied
runner, as a merge request's pipeline does. The timed run is then the default branch's
pipeline (ref ``main``, a new commit) for the same tree, on an emptied runner again.
What the branch pipeline leaves behind, per variant:

* Stageline: the branch's tags ``IMAGE:<stage>--feature-x``; with promotion on
  (``STAGELINE_PROMOTE_MERGED=true`` for both pipelines) also the key tags
  ``IMAGE:<stage>--key.<hex>``, by which the default branch reuses the branch's images
  instead of building the stages again.
* The hand-written pipelines (``baseline``, ``multistage-latest``, ``per-stage-shell``):
  the branch's own tags (``IMAGE:feature-x``, or ``IMAGE:<stage>--feature-x``), which it
  read first and the default branch's after, as such pipelines are usually written. The
  default branch's pipeline then runs as always and reads only its own tags: it has no
  way to know which branch was merged. "Promotion" is a Stageline setting with no
  counterpart there, so in both modes they run the same scripts; the second mode is the
  same merge measured again. GitLab's registry-cache recipe (``registry-cache``) writes
  ``IMAGE:feature-x`` and the one cache ref every ref shares, which the default branch
  then reads.

The last scenario is a branch's first pipeline: ref ``feature-y``, which has no tag or
cache of its own yet, builds a commit that changes one Python file, and is timed itself.
Each variant falls back on what the default branch pushed (the merges' tree), as it
reads a branch's tags: Stageline ``IMAGE:<stage>--feature-y`` then ``IMAGE:<stage>``;
latest.sh ``IMAGE:feature-y`` then ``IMAGE:latest``; per-stage.sh each stage's branch
tag then the default branch's; the registry-cache recipe its one shared cache ref. Its
change stays on the branch: no later scenario may build on it (it is the last).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# A tiny pure-Python wheel (about 11 kB), pinned as the project pins everything.
ADDED_REQUIREMENT = "six==1.17.0"
# The feature branch of the merge scenarios (its CI_COMMIT_REF_SLUG).
MERGED_BRANCH = "feature-x"
# The branch whose first pipeline is timed (the last scenario).
NEW_BRANCH = "feature-y"


@dataclass(frozen=True)
class Scenario:
    """A named change to the project, and what it says in the table.

    ``branch``: a ref whose pipeline builds and pushes the change first, untimed; the
    timed run is then the default branch's. ``promote``: Stageline's promote-merged
    setting, for both pipelines. ``ref``: the ref of the timed pipeline (None: the
    default branch).
    """

    name: str
    title: str
    change: Callable[[Path, int], None]
    branch: str | None = None
    promote: bool = False
    ref: str | None = None


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


def change_python_on_branch(project: Path, repetition: int) -> None:
    """Add a comment to core/views.py, on branch feature-y (its first commit)."""
    _append(project / "core/views.py", f"\n# Branch {NEW_BRANCH}, change {repetition}.\n")


def merged_js_change(label: str) -> Callable[[Path, int], None]:
    """Return a change of assets/js/main.js that no earlier scenario made (the merged branch's)."""

    def change(project: Path, repetition: int) -> None:
        _append(
            project / "assets/js/main.js", f'\nwindow.stagelineMerge = "{label}-{repetition}";\n'
        )

    change.__doc__ = f"Change assets/js/main.js on branch {MERGED_BRANCH} ({label})."
    return change


SCENARIOS = (
    Scenario("cold", "cold (empty registry)", no_change),
    Scenario("no-change", "no change", no_change),
    Scenario("js", "one JS file changed", change_js),
    Scenario("requirement", "one requirement added", add_requirement),
    Scenario("python", "one Python file changed", change_python),
    Scenario(
        "merge",
        "merge to main (promotion off)",
        merged_js_change("merge"),
        branch=MERGED_BRANCH,
    ),
    Scenario(
        "merge-promoted",
        "merge to main (promotion on)",
        merged_js_change("merge-promoted"),
        branch=MERGED_BRANCH,
        promote=True,
    ),
    Scenario(
        "branch",
        "a branch's first pipeline (one Python file)",
        change_python_on_branch,
        ref=NEW_BRANCH,
    ),
)
SCENARIO_NAMES = tuple(scenario.name for scenario in SCENARIOS)
