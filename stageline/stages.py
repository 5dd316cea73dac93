"""The four actions behind the tasks: plan, pull, build and push every stage.

Each function takes settings and a plan and does one thing; ``tasks.py`` only parses
arguments and turns a :class:`~stageline.errors.StagelineError` into exit code 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests
from docker import APIClient
from docker.errors import APIError, DockerException, ImageNotFound

from stageline import registry
from stageline.builders import Builder
from stageline.builders.buildkit import INSTALL_HINT, BuildkitBuilder, buildkit_missing_reason
from stageline.builders.classic import ClassicBuilder
from stageline.cache import CacheChoice, choose_cache
from stageline.context import make_context
from stageline.dockerfile import read_dockerfile
from stageline.engine import api_error_text, connect
from stageline.errors import BuilderUnavailableError, PlanError, StagelineError
from stageline.plan import Plan, Request, make_plan
from stageline.registry import PullOutcome, PushOutcome
from stageline.report import BuildReport, Output, print_summary
from stageline.settings import BUILDERS, Settings


@dataclass(frozen=True)
class BuilderChoice:
    """Which builder a run uses, and why."""

    name: str
    reason: str


def classic_refusal(settings: Settings, plan: Plan) -> str | None:
    """Return why the classic builder cannot build ``plan``, or None when it can."""
    if plan.secrets:
        ids = ", ".join(secret.id for secret in plan.secrets)
        return f"build secrets ({ids}) reach a build only through BuildKit"
    if not plan.buildkit_features:
        return None
    feature = plan.buildkit_features[0]
    name = settings.dockerfile.name
    return f"{name} line {feature.line} uses {feature.what}, which needs BuildKit"


def choose_builder(settings: Settings, plan: Plan, requested: str | None = None) -> BuilderChoice:
    """Return the builder to use: ``--builder``, else ``STAGELINE_BUILDER``, else auto.

    ``auto`` picks BuildKit when the docker CLI has buildx, else the classic builder;
    a Dockerfile with BuildKit-only syntax always gets BuildKit.
    """
    wanted = (requested or settings.builder).lower()
    if wanted not in BUILDERS:
        raise PlanError(f"unknown builder {wanted!r}; use one of {', '.join(BUILDERS)}.")
    needs_buildkit = classic_refusal(settings, plan)
    if wanted == "classic":
        if needs_buildkit:
            raise BuilderUnavailableError(f"--builder classic: {needs_buildkit}; use BuildKit.")
        return BuilderChoice("classic", "asked for")
    missing = buildkit_missing_reason(settings.environ)
    if missing and (wanted == "buildkit" or needs_buildkit):
        why = "--builder buildkit" if wanted == "buildkit" else needs_buildkit
        raise BuilderUnavailableError(f"{why}: {missing}; {INSTALL_HINT}")
    if wanted == "buildkit":
        return BuilderChoice("buildkit", "asked for")
    if needs_buildkit:
        return BuilderChoice("buildkit", f"auto: {needs_buildkit}")
    if missing:
        return BuilderChoice("classic", f"auto: {missing}")
    return BuilderChoice("buildkit", "auto: the docker CLI has buildx")


def load_plan(settings: Settings, request: Request | None = None) -> Plan:
    """Return the plan for ``request``, read from the project's Dockerfile."""
    return make_plan(settings, read_dockerfile(settings.dockerfile_path), request)


def engine_info(client: APIClient) -> dict[str, object] | None:
    """Return the engine's ``/info``, or None when it does not answer."""
    try:
        return dict(client.info())
    except (DockerException, requests.exceptions.RequestException, OSError):
        return None


def probe_cache(settings: Settings, plan: Plan, choice: BuilderChoice) -> CacheChoice:
    """Return the cache backend, asking the engine (if one answers) what it can do."""
    try:
        client = connect(settings.environ)
    except StagelineError:
        return choose_cache(choice.name, plan, None)
    return choose_cache(choice.name, plan, engine_info(client))


def plan_document(plan: Plan, choice: BuilderChoice, cache: CacheChoice) -> dict[str, object]:
    """Return the plan as the JSON object ``invoke plan --json`` prints (see README)."""
    return {
        "image": plan.image,
        "ref": plan.ref,
        "default_branch": plan.default_branch,
        "target": plan.target,
        "builder": {"name": choice.name, "reason": choice.reason},
        "cache": {"backend": cache.backend, "reason": cache.reason},
        "stages": [
            {
                "name": stage.name,
                "parents": list(stage.parents),
                "tags": list(stage.tags),
                "cache_from": [*stage.cache_reads, *stage.cache_from]
                if cache.registry
                else list(stage.cache_from),
                "cache_to": stage.cache_ref if cache.registry else None,
            }
            for stage in plan.stages
        ],
        "build_args": [
            {"name": arg.name, "value": arg.value, "source": arg.source} for arg in plan.build_args
        ],
        "secrets": [
            {"id": secret.id, "source": secret.source, "set": secret in plan.secrets}
            for secret in (*plan.secrets, *plan.unset_secrets)
        ],
        "pulls": pulls_for(plan, choice),
        "pushes": plan.pushes,
    }


def show_plan(
    plan: Plan, settings: Settings, choice: BuilderChoice, cache: CacheChoice, output: Output
) -> None:
    """Print the target, each stage's parents, tags and cache sources, and the pushes."""
    branch = "default branch" if plan.default_branch else f"not {settings.default_branch}"
    output.header(
        f"plan for {plan.image} on {plan.ref} ({branch}); builder: {choice.name} ({choice.reason})"
    )
    output.line(f"target:      {plan.target}")
    output.line(f"cache:       {cache.backend} ({cache.reason})")
    for stage in plan.stages:
        output.line(f"stage {stage.name}")
        output.line(f"  parents:     {', '.join(stage.parents) or 'none (a base image)'}")
        output.line(f"  tags:        {', '.join(stage.tags)}")
        reads = [*stage.cache_reads, *stage.cache_from] if cache.registry else stage.cache_from
        output.line(f"  cache from:  {', '.join(reads) if reads else 'none (--no-cache)'}")
        if cache.registry:
            output.line(f"  cache to:    {stage.cache_ref}")
    for arg in plan.build_args:
        output.line(f"build arg:   {arg.name}={arg.value} ({arg.source})")
    for secret in plan.secrets:
        output.line(f"secret:      {secret.id} (from {secret.source})")
    for secret in plan.unset_secrets:
        output.line(f"secret:      {secret.id} not set ({secret.source}): building without it")
    pulls = pulls_for(plan, choice)
    output.line(f"pull reads:  {', '.join(pulls) if pulls else 'nothing'}")
    output.line(f"push writes: {', '.join(plan.pushes)}")
    if settings.registry_user:
        output.line(f"registry:    {settings.registry} as {settings.registry_user}")


def open_client(settings: Settings, output: Output) -> APIClient:
    """Connect to the daemon and log in to the registry when credentials are set."""
    client = connect(settings.environ)
    registry.login(client, settings, output)
    return client


def pulls_for(plan: Plan, choice: BuilderChoice) -> list[str]:
    """Return what ``pull-stages`` fetches: the classic builder's cache sources.

    BuildKit reads its cache sources from the registry itself, layer by layer as a
    step needs them, so nothing is pulled ahead for it.
    """
    return [] if choice.name == "buildkit" else plan.pulls


def pull_stages(
    settings: Settings, plan: Plan, output: Output, choice: BuilderChoice
) -> list[PullOutcome]:
    """Pull what the classic builder's cache needs; missing or unreachable ones are warnings."""
    client = open_client(settings, output)  # logs in: bad credentials fail here, early
    if choice.name == "buildkit":
        output.header("nothing to pull: BuildKit reads its cache sources from the registry")
        return []
    outcomes: list[PullOutcome] = []
    if not plan.pulls:
        output.header("nothing to pull (--no-cache)")
    for ref in plan.pulls:
        output.header(f"pull {ref}")
        outcome = registry.pull(client, ref, output)
        outcomes.append(outcome)
        if outcome.status == "pulled":
            output.line(f"  {ref}: pulled")
        elif outcome.status == "missing":
            output.line(f"  {ref}: not in the registry yet, skipped (normal on a first build)")
        else:
            first = outcome.detail.splitlines()[0] if outcome.detail else ""
            output.warn(
                f"cannot pull {ref} from {registry.registry_of(ref)} ({outcome.status}: {first}); "
                "building without this cache source."
            )
    pulled = sum(1 for outcome in outcomes if outcome.status == "pulled")
    output.header(f"pulled {pulled} of {len(outcomes)} cache sources")
    return outcomes


def make_builder(
    choice: BuilderChoice, settings: Settings, client: APIClient, cache: CacheChoice
) -> Builder:
    """Return the builder object for ``choice``."""
    if choice.name == "buildkit":
        return BuildkitBuilder(client, settings, cache)
    use_cache_from = cache.backend != "none"
    return ClassicBuilder(client, settings.environ, settings.build_network, use_cache_from)


def build_stages(
    settings: Settings, plan: Plan, output: Output, choice: BuilderChoice
) -> BuildReport:
    """Build every stage of the plan in order, tag each, and print the summary table."""
    client = open_client(settings, output)
    cache = choose_cache(choice.name, plan, engine_info(client))
    output.header(f"cache: {cache.backend} ({cache.reason})")
    if cache.backend == "none" and plan.pulls:
        output.warn(f"building without cache sources: {cache.reason}.")
    builder = make_builder(choice, settings, client, cache)
    report = BuildReport(image=plan.image, ref=plan.ref, builder=builder.name)
    started = time.monotonic()
    context = make_context(settings.root, settings.dockerfile_path, plan.dockerfile_text)
    output.header(
        f"build context: {context.files} files, {context.size / 1e6:.1f} MB, "
        f"sha256 {context.sha256[:12]}"
    )
    try:
        for stage in plan.stages:
            sources = ", ".join(stage.cache_from) or "none"
            output.header(f"build {stage.name} -> {stage.tags[0]} (cache from: {sources})")
            report.stages.append(builder.build_stage(plan, stage, context, output))
    finally:
        context.close()
        report.total_seconds = time.monotonic() - started
    print_summary(output, report)
    return report


def push_stages(settings: Settings, plan: Plan, output: Output) -> list[PushOutcome]:
    """Push exactly the tags this ref may write; retried, then fail naming the registry."""
    client = open_client(settings, output)
    for ref in plan.pushes:
        try:
            client.inspect_image(ref)
        except ImageNotFound:
            raise PlanError(
                f"{ref} is not built here; run `invoke build-stages` before push-stages."
            ) from None
        except APIError as exc:
            raise PlanError(f"cannot inspect {ref}: {api_error_text(exc)}") from None
    outcomes: list[PushOutcome] = []
    for ref in plan.pushes:
        output.header(f"push {ref}")
        outcome = registry.push(client, ref, output, retries=settings.push_retries)
        outcomes.append(outcome)
        output.line(
            f"  {ref}: {outcome.layers_pushed} layers pushed, "
            f"{outcome.layers_present} already present, {outcome.digest or 'no digest'}"
        )
    pushed = sum(outcome.layers_pushed for outcome in outcomes)
    present = sum(outcome.layers_present for outcome in outcomes)
    output.header(
        f"pushed {len(outcomes)} tags: {pushed} layers uploaded, {present} already present"
    )
    return outcomes
