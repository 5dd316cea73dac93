"""Builders: the classic builder (docker SDK) and BuildKit (docker buildx).

Both take the same plan and context, tag the same way and return the same
:class:`~stageline.report.StageResult`, so pushing, reports and tables are shared.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from stageline.context import BuildContext
from stageline.plan import Plan, StagePlan
from stageline.report import Output, StageResult

TAIL_LINES = 12


class Builder(Protocol):
    """Builds one stage of a plan and tags it."""

    name: str

    def solve_together(
        self, plan: Plan, stages: list[StagePlan], context: BuildContext, output: Output
    ) -> None:
        """Prepare building ``stages`` (all but reused ones), before the first is built."""
        ...

    def build_stage(
        self, plan: Plan, stage: StagePlan, context: BuildContext, output: Output
    ) -> StageResult:
        """Build ``stage`` with its cache sources, tag it per the plan, and report it."""
        ...


@dataclass
class StageTally:
    """Cacheable steps of one stage seen in build output, and how many were cached."""

    steps: int = 0
    cached: int = 0


@dataclass
class StepLog:
    """Tracks which stage and step the build output is in, and the step's last lines."""

    stages: dict[str, StageTally] = field(default_factory=dict)
    stage: str | None = None
    step: str | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))

    def tally(self, stage: str) -> StageTally:
        """Return the tally of ``stage`` (zero if it printed nothing)."""
        return self.stages.get(stage, StageTally())

    def start_stage(self, name: str) -> None:
        """Note that output now belongs to stage ``name``."""
        self.stage = name
        self.stages.setdefault(name, StageTally())

    def start_step(self, text: str, cacheable: bool = True) -> None:
        """Note that a new step began; count it in the current stage if cacheable."""
        self.step = text
        self.tail.clear()
        if cacheable and self.stage is not None:
            self.stages[self.stage].steps += 1

    def mark_cached(self) -> None:
        """Count the current step of the current stage as served from cache."""
        if self.stage is not None:
            self.stages[self.stage].cached += 1

    def remember(self, line: str) -> None:
        """Keep ``line`` among the current step's last lines."""
        if line.strip():
            self.tail.append(line.rstrip())

    def failure(self, stage: str, error: str) -> str:
        """Return the message for a failed step: the stage, the step and its last lines."""
        where = f"stage {self.stage or stage}"
        if self.step:
            where += f", step `{self.step}`"
        lines = [f"build failed in {where}: {error.strip()}"]
        tail = [line for line in self.tail if line.strip() != error.strip()]
        if tail:
            lines.append("last output:")
            lines.extend(f"  {line}" for line in tail)
        return "\n".join(lines)
