"""The commands every front end offers (plan, pull, build, push, dev, release, prune,
deploy, rollback).

The command line (``stageline``) and the invoke collection (``stageline.tasks``) both
parse their arguments into :class:`Options` and call these. Nothing here parses a
command line or knows invoke; errors are :class:`~stageline.errors.StagelineError`,
which :mod:`stageline.exits` turns into exit codes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stageline import actions, local_dev
from stageline import merge as merges
from stageline import prune as prune_registry
from stageline import release as releases
from stageline.build_args import parse_build_arg
from stageline.builders.choice import BuilderChoice, choose_builder
from stageline.console import Output
from stageline.deploy import deploy as deploy_image
from stageline.deploy import rollback as rollback_image
from stageline.errors import SettingsError
from stageline.plan import Plan, Request
from stageline.report import record_step_seconds, write_json_report, write_metrics
from stageline.settings import Settings, platform_names
from stageline.settings_loader import load_settings


@dataclass(frozen=True)
class Options:
    """What a user chose on the command line; every field is optional."""

    root: Path = Path()
    stage: str | None = None
    target: str | None = None
    build_args: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()  # --platform, as given (each may list several)
    no_cache: bool = False
    push: bool = False
    builder: str | None = None
    report: Path | None = None
    metrics: Path | None = None


def load(options: Options) -> tuple[Settings, Plan]:
    """Return the project's settings and the plan for ``options``' selection."""
    settings = load_settings(options.root)
    request = Request(
        target=options.target,
        stage=options.stage,
        build_args=tuple(parse_build_arg(text) for text in options.build_args),
        secrets=options.secrets,
        no_cache=options.no_cache,
        platforms=platform_option(options.platforms),
    )
    return settings, actions.load_plan(settings, request)


def platform_option(values: tuple[str, ...]) -> tuple[str, ...]:
    """Return the platforms ``--platform`` names (each value may list several), or ()."""
    texts = [text for value in values for text in value.split(",") if text.strip()]
    if not values:
        return ()
    shown = ",".join(values)
    return platform_names(texts, f"--platform {shown!r}", "--platform linux/amd64,linux/arm64")


def builder_for(options: Options, settings: Settings, plan: Plan) -> BuilderChoice:
    """Return the builder ``options`` ask for (or the setting's, or the best available)."""
    return choose_builder(settings, plan, options.builder)


def note_seconds(options: Options, plan: Plan, step: str, started: float) -> None:
    """Note the command's wall time in the JSON report, when it writes one."""
    if options.report:
        seconds = time.monotonic() - started
        record_step_seconds(options.report, plan.image, plan.ref, step, seconds)


def plan(options: Options, as_json: bool = False) -> None:
    """Show the target, each stage's parents, tags and cache sources, and the pushes."""
    settings, build_plan = load(options)
    choice = builder_for(options, settings, build_plan)
    cache = actions.probe_cache(settings, build_plan, choice)
    if as_json:
        document = actions.plan_document(build_plan, choice, cache, settings)
        print(json.dumps(document, indent=2))
    else:
        actions.show_plan(build_plan, settings, choice, cache, Output())


def pull(options: Options) -> None:
    """Pull the cache sources of the stages to build (BuildKit reads the registry itself)."""
    started = time.monotonic()
    settings, build_plan = load(options)
    choice = builder_for(options, settings, build_plan)
    actions.pull_stages(settings, build_plan, Output(), choice, options.report)
    note_seconds(options, build_plan, "pull", started)


def build(options: Options) -> None:
    """Build the target and its ancestors (not those reused), tag each, and summarise."""
    started = time.monotonic()
    settings, build_plan = load(options)
    choice = builder_for(options, settings, build_plan)
    result = actions.build_stages(settings, build_plan, Output(), choice, push=options.push)
    if options.report:
        write_json_report(options.report, result)
        note_seconds(options, build_plan, "build", started)
    if options.metrics:
        write_metrics(options.metrics, result)


def push(options: Options) -> None:
    """Push exactly the tags this ref may write; reused stages are copied in the registry."""
    started = time.monotonic()
    settings, build_plan = load(options)
    actions.push_stages(settings, build_plan, Output(), options.report)
    note_seconds(options, build_plan, "push", started)


def merge(options: Options) -> None:
    """Write each multi-platform tag as an image index of the per-platform jobs' images."""
    settings, build_plan = load(options)
    merges.merge(settings, build_plan, Output())


def dev(root: Path, down: bool = False) -> None:
    """Run the project's local stack (docker-compose.local.yml) in the foreground."""
    local_dev.run_stack(load_settings(root), down=down)


def release(root: Path) -> None:
    """Copy the tested commit's image (IMAGE:<short-sha>) to latest or the git tag."""
    releases.release(load_settings(root), Output())


# Deploy and rollback (issue 24): by digest, to the Docker host DOCKER_HOST names.


def deploy(root: Path, environment: str, image: str | None = None) -> None:
    """Deploy the commit's image (or --image) by digest with docker compose; wait for health."""
    deploy_image(load_settings(root), environment, image)


def rollback(root: Path, environment: str) -> None:
    """Redeploy the image that ran before in the environment (read from the Docker host)."""
    rollback_image(load_settings(root), environment)


def parse_now(text: str | None) -> datetime:
    """Return the moment ``--now`` names (ISO 8601; UTC if it names no zone), else now."""
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(
            f"--now {text!r} is not a date and time: use ISO 8601, e.g. 2030-01-31T12:00:00Z."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def prune(root: Path, apply: bool = False, now: str | None = None) -> None:
    """Show (dry run) or, with --apply, delete the registry's tags no ref needs any more."""
    prune_registry.run_prune(load_settings(root), apply, parse_now(now), Output())
