"""The invoke collection: ``plan``, ``pull-stages``, ``build-stages``, ``push-stages``,
``merge``, ``dev``, ``release``, ``prune``, ``deploy``, ``rollback``.

A project's ``tasks.py`` makes the collection for its folder and adds its own tasks::

    from pathlib import Path
    from stageline.tasks import collection

    namespace = collection(Path(__file__).resolve().parent)
    # namespace.add_task(my_task)

Tasks run in the project's folder: ``stageline.project_dir`` in invoke's configuration
(default: the current folder). Errors end a task as :mod:`stageline.exits` says.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    from invoke.collection import Collection
    from invoke.context import Context
    from invoke.exceptions import Exit
    from invoke.tasks import Task, task
except ModuleNotFoundError as missing:  # pragma: no cover - depends on the install
    raise ModuleNotFoundError(
        "stageline.tasks needs invoke: pip install 'stageline[invoke]'"
    ) from missing

from stageline import commands
from stageline.deploy_plan import DEPLOY_INTERRUPTED
from stageline.exits import NOTHING_PUSHED, PRUNE_STOPPED, PUSHED_TAGS_WHOLE, run_guarded
from stageline.help_texts import HELP

REPEATABLE = ("build_arg", "secret", "platform")


def project_dir(c: Context) -> Path:
    """Return the project folder invoke's configuration names (default: the current one)."""
    section = c.config.get("stageline") or {}
    return Path(section.get("project_dir") or ".")


def options(c: Context, **values: Any) -> commands.Options:
    """Return the Options of a task call: its keyword arguments and the project folder."""
    values["build_args"] = tuple(values.pop("build_arg", None) or ())
    values["secrets"] = tuple(values.pop("secret", None) or ())
    values["platforms"] = tuple(values.pop("platform", None) or ())
    for path in ("report", "metrics"):
        values[path] = Path(values[path]) if values.get(path) else None
    return commands.Options(root=project_dir(c), **values)


def guarded(
    interrupted: str = NOTHING_PUSHED,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """End a task with the command line's messages and exit codes (1, 130, 143)."""

    def decorate(body: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(body)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            pushes = interrupted == PUSHED_TAGS_WHOLE or bool(kwargs.get("push"))
            message = PUSHED_TAGS_WHOLE if pushes else interrupted
            ending = run_guarded(lambda: body(*args, **kwargs), message)
            if ending.code:
                raise Exit(ending.message, code=ending.code)

        return wrapper

    return decorate


def declare(
    name: str, command: str, interrupted: str = NOTHING_PUSHED
) -> Callable[[Callable[..., None]], Task[Any]]:
    """Declare a stage task: help texts from HELP, repeatable options collected."""

    def wrap(body: Callable[..., None]) -> Task[Any]:
        parameters = list(inspect.signature(body).parameters)[1:]
        names = [parameter.rstrip("_") for parameter in parameters]
        help_ = {name: HELP.get(f"{command}.{name}", HELP.get(name, "")) for name in names}
        iterable = [p for p in REPEATABLE if p in parameters]
        made: Task[Any] = task(name=name, iterable=iterable, help=help_)(guarded(interrupted)(body))
        return made

    return wrap


@declare("plan", "plan")
def plan(
    c: Context,
    stage: str | None = None,
    target: str | None = None,
    build_arg: list[str] | None = None,
    platform: list[str] | None = None,
    secret: list[str] | None = None,
    no_cache: bool = False,
    builder: str | None = None,
    json_: bool = False,
) -> None:
    """Show the target, each stage's parents, tags and cache sources, and the pushes."""
    chosen = options(
        c,
        stage=stage,
        target=target,
        build_arg=build_arg,
        platform=platform,
        secret=secret,
        no_cache=no_cache,
        builder=builder,
    )
    commands.plan(chosen, as_json=json_)


@declare("pull-stages", "pull")
def pull_stages(
    c: Context,
    stage: str | None = None,
    target: str | None = None,
    build_arg: list[str] | None = None,
    platform: list[str] | None = None,
    no_cache: bool = False,
    builder: str | None = None,
    report: str | None = None,
) -> None:
    """Pull the cache sources of the stages to build (BuildKit reads the registry itself)."""
    commands.pull(
        options(
            c,
            stage=stage,
            target=target,
            build_arg=build_arg,
            platform=platform,
            no_cache=no_cache,
            builder=builder,
            report=report,
        )
    )


@declare("build-stages", "build")
def build_stages(
    c: Context,
    stage: str | None = None,
    target: str | None = None,
    build_arg: list[str] | None = None,
    platform: list[str] | None = None,
    secret: list[str] | None = None,
    no_cache: bool = False,
    push: bool = False,
    report: str | None = None,
    metrics: str | None = None,
    builder: str | None = None,
) -> None:
    """Build the target and its ancestors (not those reused), tag each, and summarise."""
    commands.build(
        options(
            c,
            stage=stage,
            target=target,
            build_arg=build_arg,
            platform=platform,
            secret=secret,
            no_cache=no_cache,
            push=push,
            report=report,
            metrics=metrics,
            builder=builder,
        )
    )


@declare("push-stages", "push", interrupted=PUSHED_TAGS_WHOLE)
def push_stages(
    c: Context,
    stage: str | None = None,
    target: str | None = None,
    build_arg: list[str] | None = None,
    platform: list[str] | None = None,
    report: str | None = None,
) -> None:
    """Push exactly the tags this ref may write; reused stages are copied in the registry."""
    commands.push(
        options(
            c, stage=stage, target=target, build_arg=build_arg, platform=platform, report=report
        )
    )


@declare("merge", "merge", interrupted=PUSHED_TAGS_WHOLE)
def merge(
    c: Context,
    stage: str | None = None,
    target: str | None = None,
    build_arg: list[str] | None = None,
) -> None:
    """Write each multi-platform tag as an image index of the per-platform jobs' images."""
    commands.merge(options(c, stage=stage, target=target, build_arg=build_arg))


@declare("dev", "dev")
def dev(c: Context, down: bool = False) -> None:
    """Run PostgreSQL, runserver and webpack --watch in containers (docker-compose.local.yml)."""
    commands.dev(project_dir(c), down=down)


@declare("release", "release", interrupted=PUSHED_TAGS_WHOLE)
def release(c: Context) -> None:
    """Copy the tested commit's image (IMAGE:<short-sha>) to latest or the git tag."""
    commands.release(project_dir(c))


@declare("prune", "prune", interrupted=PRUNE_STOPPED)
def prune(c: Context, apply: bool = False, now: str | None = None) -> None:
    """Show (dry run) or, with --apply, delete the registry's tags no ref needs any more."""
    commands.prune(project_dir(c), apply=apply, now=now)


def stage_tasks() -> list[Task[Any]]:
    """Return the tasks, for a project's ``Collection(*stage_tasks())``."""
    return [plan, pull_stages, build_stages, push_stages, merge, dev, release, prune]


# Deploy and rollback (issue 24).


@declare("deploy", "deploy", interrupted=DEPLOY_INTERRUPTED)
def deploy(c: Context, environment: str, image: str | None = None) -> None:
    """Deploy the commit's image (or --image) by digest with docker compose; wait for health."""
    commands.deploy(project_dir(c), environment, image)


@declare("rollback", "rollback", interrupted=DEPLOY_INTERRUPTED)
def rollback(c: Context, environment: str) -> None:
    """Redeploy the image that ran before in the environment (read from the Docker host)."""
    commands.rollback(project_dir(c), environment)


def deploy_tasks() -> list[Task[Any]]:
    """Return the deploy and rollback tasks, for a project's own Collection."""
    return [deploy, rollback]


def collection(project: Path | str = ".") -> Collection:
    """Return the tasks as a Collection that builds the project in ``project``."""
    made = Collection(*stage_tasks(), *deploy_tasks())
    made.configure({"stageline": {"project_dir": str(project)}})
    return made
