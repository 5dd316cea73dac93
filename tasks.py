"""Build, tag, pull and push every stage of the Docker image: `invoke --list`.

The tasks are thin: they parse arguments, build the settings and call the
``stageline`` library. A foreseeable failure prints one or two lines and exits 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from stageline import stages
from stageline.errors import StagelineError
from stageline.report import Output, write_json_report, write_metrics
from stageline.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent
F = TypeVar("F", bound=Callable[..., Any])

STAGE_HELP = "Build only this stage and the stages before it (default: all)."
BUILDER_HELP = "auto (default), classic or buildkit; overrides STAGELINE_BUILDER."


def friendly(function: F) -> F:
    """Turn a StagelineError into `error: ...` and exit code 1, without a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except StagelineError as exc:
            raise Exit(f"error: {exc}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted: nothing was pushed by this step.", code=130) from None

    return wrapper  # type: ignore[return-value]


def settings() -> Settings:
    """Return this project's settings (environment, then .env)."""
    return load_settings(ROOT)


@task(
    help={"stage": STAGE_HELP, "no_cache": "Plan a build without cache.", "builder": BUILDER_HELP}
)
@friendly
def plan(
    c: Context, stage: str | None = None, no_cache: bool = False, builder: str | None = None
) -> None:
    """Show each stage's tags and cache sources, and what a push would write (no Docker)."""
    config = settings()
    _, build_plan = stages.load_plan(config, stage, no_cache)
    stages.show_plan(build_plan, config, stages.choose_builder(config, builder), Output())


@task(
    name="pull-stages",
    help={"stage": STAGE_HELP, "no_cache": "Pull nothing (the build will not use a cache)."},
)
@friendly
def pull_stages(c: Context, stage: str | None = None, no_cache: bool = False) -> None:
    """Pull every stage's cache sources from the registry; missing ones are skipped."""
    config = settings()
    _, build_plan = stages.load_plan(config, stage, no_cache)
    stages.pull_stages(config, build_plan, Output())


@task(
    name="build-stages",
    help={
        "stage": STAGE_HELP,
        "no_cache": "Build without any cache and re-pull the base images.",
        "report": "Write the JSON build report to this file.",
        "metrics": "Write cache-hit ratios as a GitLab metrics report to this file.",
        "builder": BUILDER_HELP,
    },
)
@friendly
def build_stages(
    c: Context,
    stage: str | None = None,
    no_cache: bool = False,
    report: str | None = None,
    metrics: str | None = None,
    builder: str | None = None,
) -> None:
    """Build each stage in Dockerfile order with every cache source, tag it, and summarise."""
    config = settings()
    _, build_plan = stages.load_plan(config, stage, no_cache)
    choice = stages.choose_builder(config, builder)
    result = stages.build_stages(config, build_plan, Output(), choice)
    if report:
        write_json_report(Path(report), result)
    if metrics:
        write_metrics(Path(metrics), result)


@task(name="push-stages", help={"stage": STAGE_HELP})
@friendly
def push_stages(c: Context, stage: str | None = None) -> None:
    """Push exactly the tags this branch may write, with a summary of layers uploaded."""
    config = settings()
    _, build_plan = stages.load_plan(config, stage)
    stages.push_stages(config, build_plan, Output())
