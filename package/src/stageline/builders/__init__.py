"""Builders: the classic builder (docker SDK) and BuildKit (docker buildx).

Both are made from the same arguments (:func:`stageline.builders.choice.make_builder`),
take the same plan and context, tag the same way and end the same way
(:meth:`Builder.build_stage`): the engine's size of the image and one
:class:`~stageline.report.StageResult`, so pushing, reports and tables are shared.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from docker import APIClient
from docker.errors import APIError

from stageline.cache import CacheChoice
from stageline.console import Output
from stageline.context import BuildContext
from stageline.engine import api_error_text
from stageline.errors import DaemonError
from stageline.plan import Plan, StagePlan
from stageline.report import StageResult
from stageline.settings import Settings

TAIL_LINES = 12


@dataclass(frozen=True)
class BuildConfig:
    """What every stage build of a run shares; a stage's command line is made from it."""

    settings: Settings
    cache: CacheChoice
    progress: str = "plain"  # what BuildKit is asked to print: "rawjson" or "plain"


@dataclass(frozen=True)
class StageBuild:
    """How the stages of one run are built: reused stages' images, and whether to push.

    ``contexts`` maps a reused stage, or a base image, to the image (``REPOSITORY@DIGEST``)
    a builder that can takes instead of building the stage or resolving the name;
    ``push`` asks a builder that can to push each stage's tags itself
    (:attr:`Builder.pushes`).
    """

    output: Output
    contexts: Mapping[str, str] = field(default_factory=dict)
    push: bool = False


class Builder:
    """Builds the planned stages; a subclass runs the builds."""

    name = ""
    pushes = False  # whether build_stages pushes the tags itself when asked to

    def __init__(self, client: APIClient, config: BuildConfig) -> None:
        self.client = client
        self.config = config

    def build_stages(
        self, plan: Plan, stages: list[StagePlan], context: BuildContext, build: StageBuild
    ) -> list[StageResult]:
        """Build and tag ``stages``, one at a time here; return their results in order."""
        return [self.build_stage(plan, stage, context, build.output) for stage in stages]

    def build_stage(
        self, plan: Plan, stage: StagePlan, context: BuildContext, output: Output
    ) -> StageResult:
        """Build ``stage`` with its cache sources, tag it per the plan, and report it."""
        started = time.monotonic()
        image_id, tally = self.run_build(plan, stage, context, output)
        return self.stage_result(stage, image_id, tally, time.monotonic() - started)

    def run_build(
        self, plan: Plan, stage: StagePlan, context: BuildContext, output: Output
    ) -> tuple[str, StageTally]:
        """Build and tag ``stage``; return its image ID and its steps' tally."""
        raise NotImplementedError

    def stage_result(
        self, stage: StagePlan, image: str, tally: StageTally, seconds: float
    ) -> StageResult:
        """Return the report of a built stage, with the engine's ID and size of ``image``."""
        try:
            inspected = self.client.inspect_image(image)
        except APIError as exc:
            raise DaemonError(
                f"stage {stage.name} was built, but the engine cannot show its image: "
                f"{api_error_text(exc)}"
            ) from None
        return StageResult(
            name=stage.name,
            tags=list(stage.tags),
            cache_from=list(stage.cache_from),
            steps=tally.steps,
            cached_steps=tally.cached,
            seconds=seconds,
            image_id=str(inspected.get("Id", image)),
            size_bytes=int(inspected.get("Size", 0)),
        )


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
