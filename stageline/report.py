"""What the user sees: header lines, live output, the summary table and report files.

On a terminal, rich draws tables and progress bars; in CI (not a TTY) the same
calls print plain lines that read well in a job log.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.table import Table

from stageline.errors import StagelineError


@dataclass
class StageResult:
    """The outcome of building one stage; the JSON report's ``stages`` items."""

    name: str
    tags: list[str]
    cache_from: list[str]
    steps: int
    cached_steps: int
    seconds: float
    image_id: str
    size_bytes: int
    outcome: str = "built"  # reused (found by key, not built), cached (every step) or built
    key: str | None = None  # the stage's content key (see stageline.content_key)
    reused_from: str | None = None  # the registry image a reused stage is
    pulled_bytes: int = 0  # layers pull-stages downloaded for it (pull-stages --report)
    pushed_bytes: int = 0  # layers push-stages uploaded for it (push-stages --report)

    @property
    def fully_cached(self) -> bool:
        """Return whether every cacheable step of the stage came from cache."""
        return self.cached_steps == self.steps

    def settle(self) -> StageResult:
        """Set the outcome of a built stage from its steps; return it."""
        if self.outcome != "reused":
            self.outcome = "cached" if self.fully_cached else "built"
        return self


@dataclass
class BuildReport:
    """The JSON report of one ``build-stages`` run."""

    image: str
    ref: str
    builder: str
    total_seconds: float = 0.0
    stages: list[StageResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """Return the report as the JSON-ready mapping documented in the README."""
        return {
            "image": self.image,
            "ref": self.ref,
            "builder": self.builder,
            "total_seconds": round(self.total_seconds, 2),
            "stages": [
                {**asdict(stage), "seconds": round(stage.seconds, 2)} for stage in self.stages
            ],
        }


def human_size(size: float) -> str:
    """Return ``size`` bytes as a short human-readable string (MB are 10^6 bytes)."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - loop always returns


class Output:
    """Prints headers, raw build output, warnings and tables."""

    def __init__(self, stream: IO[str] | None = None, force_plain: bool = False) -> None:
        self.console = Console(
            file=stream or sys.stdout,
            highlight=False,
            soft_wrap=True,
            force_terminal=False if force_plain else None,
        )
        self.errors = Console(file=sys.stderr, highlight=False, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        """Return whether output goes to a terminal (progress bars) or a log (plain lines)."""
        return self.console.is_terminal

    def header(self, text: str) -> None:
        """Print one header line announcing an action."""
        self.console.print(f"==> {text}", style="bold", markup=False)

    def line(self, text: str) -> None:
        """Print one line of tool output exactly as given."""
        self.console.print(text, markup=False)

    def warn(self, text: str) -> None:
        """Print a warning line (to stderr)."""
        self.errors.print(f"warning: {text}", style="yellow", markup=False)

    def table(self, title: str, columns: list[str], rows: Iterable[list[str]]) -> None:
        """Print a table (boxed on a terminal, aligned plain text in a log)."""
        table = Table(title=title, title_justify="left", box=None)
        for index, column in enumerate(columns):
            table.add_column(column, justify="left" if index == 0 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        self.console.print(table)


def print_summary(output: Output, report: BuildReport) -> None:
    """Print the per-stage summary table: steps cached/total, seconds, size."""
    rows = []
    for stage in report.stages:
        steps = "-" if stage.outcome == "reused" else f"{stage.cached_steps}/{stage.steps}"
        rows.append(
            [
                stage.name,
                stage.outcome,
                steps,
                f"{stage.seconds:.1f}",
                human_size(stage.size_bytes),
            ]
        )
    output.table(
        f"{report.image} on {report.ref} ({report.builder} builder, {report.total_seconds:.1f} s)",
        ["stage", "outcome", "cached/steps", "seconds", "size"],
        rows,
    )


def load_json_report(path: Path, image: str, ref: str) -> dict[str, object]:
    """Return the report at ``path`` if it is one for ``image`` on ``ref``, else a new one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or (data.get("image"), data.get("ref")) != (image, ref):
        return {"image": image, "ref": ref, "stages": []}
    if not isinstance(data.get("stages"), list):
        data["stages"] = []
    return data


def report_stages(data: dict[str, object]) -> dict[str, dict[str, object]]:
    """Return a loaded report's stages by name."""
    stages = data["stages"]
    assert isinstance(stages, list)
    return {str(s["name"]): s for s in stages if isinstance(s, dict) and "name" in s}


def write_json_report(path: Path, report: BuildReport) -> None:
    """Write the JSON report to ``path``, keeping what pull-stages noted there."""
    data = load_json_report(path, report.image, report.ref)
    earlier = report_stages(data)
    for stage in report.stages:
        pulled = earlier.get(stage.name, {}).get("pulled_bytes", 0)
        stage.pulled_bytes = pulled if isinstance(pulled, int) else 0
    document = report.as_dict()
    if isinstance(data.get("step_seconds"), dict):
        document["step_seconds"] = data["step_seconds"]
    _write(path, json.dumps(document, indent=2) + "\n")


def record_step_seconds(path: Path, image: str, ref: str, step: str, seconds: float) -> None:
    """Note how long a task (``pull``, ``build`` or ``push``) took in the report at ``path``."""
    data = load_json_report(path, image, ref)
    steps = data.get("step_seconds")
    data["step_seconds"] = {**(steps if isinstance(steps, dict) else {}), step: round(seconds, 2)}
    _write(path, json.dumps(data, indent=2) + "\n")


def update_json_report(
    path: Path, image: str, ref: str, fields: dict[str, dict[str, object]]
) -> None:
    """Set ``fields`` of each named stage in the report at ``path`` (made if absent)."""
    data = load_json_report(path, image, ref)
    stages = report_stages(data)
    for name, values in fields.items():
        stages.setdefault(name, {"name": name}).update(values)
    data["stages"] = list(stages.values())
    _write(path, json.dumps(data, indent=2) + "\n")


def metrics_text(report: BuildReport) -> str:
    """Return the report as a GitLab metrics report (``name value`` per line)."""
    lines = [f"stageline_build_seconds {report.total_seconds:.2f}"]
    for stage in report.stages:
        key = re.sub(r"[^a-zA-Z0-9_]", "_", stage.name)
        ratio = stage.cached_steps / stage.steps if stage.steps else 1.0
        lines.append(f"stageline_cache_hit_ratio_{key} {ratio:.2f}")
        lines.append(f"stageline_stage_reused_{key} {int(stage.outcome == 'reused')}")
        lines.append(f"stageline_seconds_{key} {stage.seconds:.2f}")
    return "\n".join(lines) + "\n"


def write_metrics(path: Path, report: BuildReport) -> None:
    """Write the GitLab metrics report to ``path``."""
    _write(path, metrics_text(report))


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StagelineError(f"cannot write {path}: {exc.strerror}; choose another path.") from None
