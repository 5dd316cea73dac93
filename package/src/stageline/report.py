"""The build report: each stage's outcome, and the files it is written to.

``--report`` writes it as JSON (pull-stages, build-stages and push-stages each add
their part to one file), ``--metrics`` as a GitLab metrics report. What the user sees
on the console is :mod:`stageline.console`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
    platforms: list[str] = field(default_factory=list)  # what it was built for (or reused as)

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
        """Return the report as the JSON-ready mapping the docs document (report-json)."""
        return {
            "image": self.image,
            "ref": self.ref,
            "builder": self.builder,
            "total_seconds": round(self.total_seconds, 2),
            "stages": [
                {**asdict(stage), "seconds": round(stage.seconds, 2)} for stage in self.stages
            ],
        }


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
