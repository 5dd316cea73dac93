"""Build, tag, pull and push every stage of the Docker image: `invoke --list`.

The tasks are thin: they parse arguments, build the settings and call the
``stageline`` library. A foreseeable failure prints one or two lines and exits 1.
"""

from __future__ import annotations

import functools
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task, task

from stageline import actions, local_dev
from stageline.build_args import parse_build_arg
from stageline.builders.choice import choose_builder
from stageline.console import Output
from stageline.errors import StagelineError
from stageline.plan import Plan, Request
from stageline.report import record_step_seconds, write_json_report, write_metrics
from stageline.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent
F = TypeVar("F", bound=Callable[..., Any])

STAGE_HELP = "Only this stage and its ancestors (default: the target and its ancestors)."
TARGET_HELP = "The stage the image is (default: STAGELINE_TARGET, [tool.stageline] target, last)."
BUILD_ARG_HELP = "NAME=VALUE for an ARG the Dockerfile declares; repeatable."
BUILDER_HELP = "auto (default), classic or buildkit; overrides STAGELINE_BUILDER."
SECRET_HELP = "A build secret: NAME (that variable), id=ID,env=VAR or id=ID,src=FILE; repeatable."
SELECTION_HELP = {"stage": STAGE_HELP, "target": TARGET_HELP, "build_arg": BUILD_ARG_HELP}
REPEATABLE = ("build_arg", "secret")
PULL_STAGE_HELP = (
    "Pull the cache sources of this stage and its ancestors only "
    "(default: the target and its ancestors)."
)
PUSH_STAGE_HELP = (
    "Push the tags of this stage and its ancestors only (default: the target and its ancestors)."
)


NOTHING_PUSHED = "nothing was pushed by this step."
PUSHED_TAGS_WHOLE = (
    "each tag already pushed is whole (a registry shows a tag only once its manifest "
    "is written); run `invoke push-stages` again to push the rest."
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, which is how GitLab cancels a job: handled as Ctrl-C is."""


def raise_terminated(signum: int, frame: object) -> None:
    """Turn SIGTERM into an interruption, so every step cleans up as on Ctrl-C."""
    raise Terminated


def friendly_errors(interrupted: str = NOTHING_PUSHED) -> Callable[[F], F]:
    """Turn a StagelineError into `error: ...` and exit code 1, without a traceback.

    Ctrl-C (SIGINT) and SIGTERM end the task with ``interrupted: <what is safe>`` and
    exit code 130 or 143, after the step in progress has cleaned up.
    """

    def decorate(task_function: F) -> F:
        @functools.wraps(task_function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            previous = signal.signal(signal.SIGTERM, raise_terminated)
            try:
                return task_function(*args, **kwargs)
            except StagelineError as exc:
                raise Exit(f"error: {exc}", code=1) from None
            except KeyboardInterrupt as exc:
                code = 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
                raise Exit(f"interrupted: {interrupted}", code=code) from None
            finally:
                signal.signal(signal.SIGTERM, previous)

        return wrapper  # type: ignore[return-value]

    return decorate


friendly = friendly_errors()


def settings() -> Settings:
    """Return this project's settings (environment, then .env)."""
    return load_settings(ROOT)


def load_plan(
    stage: str | None,
    target: str | None,
    build_arg: list[str] | None,
    no_cache: bool = False,
    secret: list[str] | None = None,
) -> tuple[Settings, Plan]:
    """Return this project's settings and the plan for the task's selection options."""
    config = settings()
    request = Request(
        target=target,
        stage=stage,
        build_args=tuple(parse_build_arg(text) for text in build_arg or []),
        secrets=tuple(secret or []),
        no_cache=no_cache,
    )
    return config, actions.load_plan(config, request)


def stage_task(
    name: str | None = None, interrupted: str = NOTHING_PUSHED, **own_help: str
) -> Callable[[Callable[..., None]], Task[Any]]:
    """Declare a task over the stage selection (--stage, --target, --build-arg).

    ``own_help`` documents the task's other options and may reword the selection's;
    the repeatable ones it takes (--build-arg, --secret) collect every value given.
    Errors and interruptions end the task as :func:`friendly_errors` says.
    """
    help_ = {**SELECTION_HELP, **own_help}
    iterable = [option for option in REPEATABLE if option in help_]

    def declare(task_function: Callable[..., None]) -> Task[Any]:
        friendly_function = friendly_errors(interrupted)(task_function)
        declared: Task[Any] = task(name=name, iterable=iterable, help=help_)(friendly_function)
        return declared

    return declare


def note_seconds(report: str | None, build_plan: Plan, step: str, started: float) -> None:
    """Note the task's wall time in the JSON report, when the task writes one."""
    if report:
        seconds = time.monotonic() - started
        record_step_seconds(Path(report), build_plan.image, build_plan.ref, step, seconds)


@stage_task(
    secret=SECRET_HELP,
    no_cache="Plan a build without cache.",
    builder=BUILDER_HELP,
    json="Print the plan as one JSON object (schema in README).",
)
def plan(
    c: Context,
    stage: str | None = None,
    target: str | None = None,
    build_arg: list[str] | None = None,
    secret: list[str] | None = None,
    no_cache: bool = False,
    builder: str | None = None,
    json_: bool = False,
) -> None:
    """Show the target, each stage's parents, tags and cache sources, and the pushes."""
    config, build_plan = load_plan(stage, target, build_arg, no_cache, secret)
    choice = choose_builder(config, build_plan, builder)
    cache = actions.probe_cache(config, build_plan, choice)
    if json_:
        print(json.dumps(actions.plan_document(build_plan, choice, cache, config), indent=2))
    else:
        actions.show_plan(build_plan, config, choice, cache, Output())


@stage_task(
    "pull-stages",
    stage=PULL_STAGE_HELP,
    no_cache="Pull nothing (the build will not use a cache).",
    builder=BUILDER_HELP,
    report="Note each stage's pulled bytes in this JSON report (build-stages keeps them).",
)
def pull_stages(
    c: Context,
    stage: str | None = None,
    target: str | None = None,
    build_arg: list[str] | None = None,
    no_cache: bool = False,
    builder: str | None = None,
    report: str | None = None,
) -> None:
    """Pull the cache sources of the stages to build (BuildKit reads the registry itself)."""
    started = time.monotonic()
    config, build_plan = load_plan(stage, target, build_arg, no_cache)
    choice = choose_builder(config, build_plan, builder)
    actions.pull_stages(config, build_plan, Output(), choice, Path(report) if report else None)
    note_seconds(report, build_plan, "pull", started)


@stage_task(
    "build-stages",
    secret=SECRET_HELP,
    no_cache="Build without any cache and re-pull the base images.",
    report="Write the JSON build report to this file.",
    metrics="Write cache-hit ratios as a GitLab metrics report to this file.",
    builder=BUILDER_HELP,
)
def build_stages(
    c: Context,
    stage: str | None = None,
    target: str | None = None,
    build_arg: list[str] | None = None,
    secret: list[str] | None = None,
    no_cache: bool = False,
    report: str | None = None,
    metrics: str | None = None,
    builder: str | None = None,
) -> None:
    """Build the target's ancestors and the target in order, tag each, and summarise."""
    started = time.monotonic()
    config, build_plan = load_plan(stage, target, build_arg, no_cache, secret)
    choice = choose_builder(config, build_plan, builder)
    result = actions.build_stages(config, build_plan, Output(), choice)
    if report:
        write_json_report(Path(report), result)
        note_seconds(report, build_plan, "build", started)
    if metrics:
        write_metrics(Path(metrics), result)


@stage_task(
    "push-stages",
    interrupted=PUSHED_TAGS_WHOLE,
    stage=PUSH_STAGE_HELP,
    report="Add each stage's pushed bytes and copied tags to this JSON report.",
)
def push_stages(
    c: Context,
    stage: str | None = None,
    target: str | None = None,
    build_arg: list[str] | None = None,
    report: str | None = None,
) -> None:
    """Push exactly the tags this branch may write; reused stages are copied in the registry."""
    started = time.monotonic()
    config, build_plan = load_plan(stage, target, build_arg)
    actions.push_stages(config, build_plan, Output(), Path(report) if report else None)
    note_seconds(report, build_plan, "push", started)


@task(help={"down": "Remove the stack's containers instead (the database volume stays)."})
@friendly
def dev(c: Context, down: bool = False) -> None:
    """Run PostgreSQL, runserver and webpack --watch in containers (docker-compose.local.yml)."""
    local_dev.run_stack(settings(), down=down)
