"""The four actions behind the tasks: plan, pull, build and push every stage.

Each function takes settings and a plan and does one thing; the front ends
(``stageline.commands``, under the command line and the invoke tasks) call them, and
``stageline.exits`` turns a :class:`~stageline.errors.StagelineError` into exit code 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import requests
from docker import APIClient
from docker.errors import APIError, DockerException, ImageNotFound

from stageline import registry
from stageline.build_secrets import chosen_secrets
from stageline.builders import Builder, StageBuild
from stageline.builders.choice import BuilderChoice, make_builder, multi_platform_refusal
from stageline.cache import CacheChoice, choose_cache
from stageline.console import Output, human_size, print_summary
from stageline.content_key import KEY_LABEL
from stageline.context import BuildContext, make_context
from stageline.dockerfile import read_dockerfile
from stageline.dockerfile.platforms import DEFAULT_PLATFORMS, PLATFORM_ARG_NAMES, BuildPlatforms
from stageline.engine import api_error_text, connect, connected, engine_platform
from stageline.errors import BuilderUnavailableError, PlanError, StagelineError
from stageline.image_ref import parse_image_ref, registry_of, split_image_ref
from stageline.plan import Plan, Request, StagePlan, make_plan, read_tags
from stageline.registry import PullOutcome, PushOutcome
from stageline.registry_errors import first_line
from stageline.report import BuildReport, StageResult, update_json_report
from stageline.reuse import (
    Found,
    Registries,
    Reuse,
    find_reusable,
    key_tag,
    reuse_rule,
    write_tags,
)
from stageline.settings import Settings


def load_plan(settings: Settings, request: Request | None = None) -> Plan:
    """Return the plan for ``request``, from the project's Dockerfile and secret files,
    for the engine's platform where neither ``--platform`` nor the settings name one.
    """
    request = request or Request()
    dockerfile = read_dockerfile(settings.dockerfile_path)
    files = existing_secret_files(settings, request)
    return make_plan(settings, dockerfile, request, files, engine_platforms(settings))


def engine_platforms(settings: Settings) -> BuildPlatforms:
    """Return the engine's platform as the build platform (linux/amd64 if none answers)."""
    try:
        with connected(settings.environ) as client:
            return BuildPlatforms(engine_platform(client))
    except StagelineError:
        return DEFAULT_PLATFORMS


def existing_secret_files(settings: Settings, request: Request) -> frozenset[Path]:
    """Return the files of the chosen file secrets (project's and ``--secret``) that exist."""
    chosen = chosen_secrets(settings, request.secrets)
    return frozenset(s.file for s in chosen if s.file is not None and s.file.is_file())


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
        return choose_cache(choice.name, None)
    try:
        info = engine_info(client)
    finally:
        client.close()
    return choose_cache(choice.name, info)


def plan_document(
    plan: Plan, choice: BuilderChoice, cache: CacheChoice, settings: Settings | None = None
) -> dict[str, object]:
    """Return the plan as the JSON object ``stageline plan --json`` prints (docs: plan-json)."""
    reuse = {
        "reads": [] if plan.no_cache or settings is None else reuse_rule(settings),
        "promote_merged": bool(settings and settings.promote_merged),
    }
    return {
        "image": plan.image,
        "ref": plan.ref,
        "default_branch": plan.default_branch,
        "target": plan.target,
        "platforms": list(plan.platforms),
        "build_platform": plan.build_platform,
        "builder": {"name": choice.name, "reason": choice.reason},
        "cache": {"backend": cache.backend, "reason": cache.reason},
        "stages": [
            {
                "name": stage.name,
                "parents": list(stage.parents),
                "tags": list(stage.tags),
                "cache_from": list(stage.cache_from),
                "platforms": list(stage.platforms),
                "shared": plan.shared(stage),
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
        "reuse": reuse,
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
    output.line(f"platforms:   {', '.join(plan.platforms)} (builds on {plan.build_platform})")
    output.line(f"cache:       {cache.backend} ({cache.reason})")
    for stage in plan.stages:
        output.line(f"stage {stage.name}")
        output.line(f"  parents:     {', '.join(stage.parents) or 'none (a base image)'}")
        output.line(f"  platforms:   {stage_platforms_text(plan, stage)}")
        output.line(f"  tags:        {', '.join(stage.tags)}")
        reads = stage.cache_from
        output.line(f"  cache from:  {', '.join(reads) if reads else 'none (--no-cache)'}")
    for arg in plan.build_args:
        replaces = "; replaces BuildKit's own value" if arg.name in PLATFORM_ARG_NAMES else ""
        output.line(f"build arg:   {arg.name}={arg.value} ({arg.source}{replaces})")
    for secret in plan.secrets:
        output.line(f"secret:      {secret.id} (from {secret.source})")
    for secret in plan.unset_secrets:
        output.line(f"secret:      {secret.id} not set ({secret.source}): building without it")
    pulls = pulls_for(plan, choice)
    rule = "nothing (--no-cache)" if plan.no_cache else ", then ".join(reuse_rule(settings))
    output.line(f"reuse:       a stage whose content key is under {rule}")
    output.line(f"pull reads:  {', '.join(pulls) if pulls else 'nothing'} (less what is reused)")
    output.line(f"push writes: {', '.join(plan.pushes)}")
    if settings.registry_user:
        output.line(f"registry:    {settings.registry} as {settings.registry_user}")


def stage_platforms_text(plan: Plan, stage: StagePlan) -> str:
    """Return which platforms ``stage`` is built for, and whether every target shares it."""
    shown = ", ".join(stage.platforms)
    if plan.shared(stage):
        return f"{shown} (built once, shared by {', '.join(plan.platforms)})"
    return shown


@contextmanager
def logged_in(settings: Settings, output: Output) -> Iterator[APIClient]:
    """Yield a client of the daemon, logged in to the registry when credentials are set.

    The client is closed when the block ends, however it ends.
    """
    with connected(settings.environ) as client:
        registry.login(client, settings, output)
        yield client


def pulls_for(plan: Plan, choice: BuilderChoice, reuse: Reuse | None = None) -> list[str]:
    """Return what ``pull-stages`` fetches: the cache sources of the stages to build.

    BuildKit reads its cache sources from the registry itself, layer by layer as a
    step needs them, so nothing is pulled ahead for it. A stage reused by key is not
    built, so its sources are not needed (its ancestors' are, by a stage that is built).
    """
    if choice.name == "buildkit":
        return []
    seen: dict[str, None] = {}
    for stage in plan.stages:
        if reuse is None or not reuse.reused(stage.name):
            seen.update(dict.fromkeys(stage.cache_from))
    return list(seen)


def compare_keys(settings: Settings, plan: Plan, output: Output) -> Reuse:
    """Return each stage's content key and the registry image that already has it.

    Each action compares once and hands the result to every step that needs it, so the
    pulls, the builds or the pushes of one action act on one decision.
    """
    output.header("compare content keys in the registry")
    context = make_context(settings.root, settings.dockerfile_path, plan.dockerfile_text)
    try:
        reuse = find_reusable(Registries(settings), plan, context, output)
    finally:
        context.close()
    for line in comparison_lines(plan, reuse):
        output.line(line)
    return reuse


def comparison_lines(plan: Plan, reuse: Reuse) -> list[str]:
    """Return one line per stage saying whether it is reused (and from where) or built, and why."""
    lines = []
    for stage in plan.stages:
        found = reuse.found.get(stage.name)
        if found is not None:
            lines.append(f"  {stage.name}: reused, {found.ref} has its key")
        elif plan.no_cache:
            lines.append(f"  {stage.name}: build (--no-cache)")
        elif reuse.keys.get(stage.name) is None:
            lines.append(f"  {stage.name}: build (no key: not every input is known ahead)")
        else:
            lines.append(f"  {stage.name}: build (no image this ref may read has its key)")
    return lines


def pulled_by_stage(
    settings: Settings, plan: Plan, outcomes: list[PullOutcome]
) -> dict[str, dict[str, object]]:
    """Return each planned stage's downloaded bytes: its own and its default tag's pulls."""
    suffix = plan.tag_suffix
    owner = {ref: s.name for s in plan.stages for ref in read_tags(settings, s.name, suffix)}
    pulled = {stage.name: 0 for stage in plan.stages}
    for outcome in outcomes:
        if outcome.ref in owner:
            pulled[owner[outcome.ref]] += outcome.bytes
    return {name: {"pulled_bytes": size} for name, size in pulled.items()}


def pull_each(client: APIClient, pulls: list[str], output: Output) -> list[PullOutcome]:
    """Pull each of ``pulls``; return their outcomes (a failed pull is a warning)."""
    outcomes: list[PullOutcome] = []
    for ref in pulls:
        output.header(f"pull {ref}")
        outcome = registry.pull(client, ref, output)
        outcomes.append(outcome)
        if outcome.status == "pulled":
            output.line(f"  {ref}: pulled")
        elif outcome.status == "missing":
            output.line(f"  {ref}: not in the registry yet, skipped (normal on a first build)")
        else:
            output.warn(
                f"cannot pull {ref} from {registry_of(ref)} "
                f"({outcome.status}: {first_line(outcome.detail) or 'no detail'}); "
                "building without this cache source."
            )
    return outcomes


def pull_stages(
    settings: Settings,
    plan: Plan,
    output: Output,
    choice: BuilderChoice,
    report: Path | None = None,
) -> list[PullOutcome]:
    """Pull what the classic builder's cache needs; missing or unreachable ones are warnings."""
    with logged_in(settings, output) as client:  # bad credentials fail here, early
        if choice.name == "buildkit":
            output.header("nothing to pull: BuildKit reads its cache sources from the registry")
            return []
        pulls = pulls_for(plan, choice, compare_keys(settings, plan, output))
        if not pulls:
            why = "--no-cache" if plan.no_cache else "every stage is reused"
            output.header(f"nothing to pull ({why})")
        outcomes = pull_each(client, pulls, output)
    pulled = sum(1 for outcome in outcomes if outcome.status == "pulled")
    size = human_size(sum(outcome.bytes for outcome in outcomes))
    output.header(f"pulled {pulled} of {len(outcomes)} cache sources ({size} of layers)")
    if report is not None:
        update_json_report(report, plan.image, plan.ref, pulled_by_stage(settings, plan, outcomes))
    return outcomes


def reused_result(stage_name: str, tags: list[str], reuse: Reuse) -> StageResult:
    """Return the report line of a stage reused by key: nothing pulled, nothing built."""
    found = reuse.found[stage_name]
    return StageResult(
        name=stage_name,
        tags=tags,
        cache_from=[],
        steps=0,
        cached_steps=0,
        seconds=0.0,
        image_id=found.manifest.digest,
        size_bytes=found.size_bytes,
        outcome="reused",
        key=reuse.keys.get(stage_name),
        reused_from=found.ref,
    )


def pinned_contexts(reuse: Reuse) -> dict[str, str]:
    """Return, as ``REPOSITORY@DIGEST`` for BuildKit to take by name, each reused stage's
    image and each base image at the digest the content keys were made from.
    """
    stages = {
        name: f"{split_image_ref(found.ref)[0]}@{found.manifest.digest}"
        for name, found in reuse.found.items()
    }
    return {**reuse.bases, **stages}


def build_each(
    plan: Plan, builder: Builder, context: BuildContext, reuse: Reuse, build: StageBuild
) -> list[StageResult]:
    """Build each planned stage that is not reused, labelled with its key."""
    to_build = []
    for stage in plan.stages:
        if reuse.reused(stage.name):
            build.output.header(f"reuse {stage.name}: {reuse.found[stage.name].ref} has its key")
            continue
        sources = ", ".join(stage.cache_from) or "none"
        build.output.header(f"build {stage.name} -> {stage.tags[0]} (cache from: {sources})")
        key = reuse.keys.get(stage.name)
        to_build.append(replace(stage, labels=((KEY_LABEL, key),) if key else ()))
    built = {r.name: r for r in builder.build_stages(plan, to_build, context, build)}
    results = []
    for stage in plan.stages:
        if reuse.reused(stage.name):
            result = reused_result(stage.name, list(stage.tags), reuse)
        else:
            result = built[stage.name].settle()
            result.key = reuse.keys.get(stage.name)
        result.platforms = list(stage.platforms)
        results.append(result)
    return results


def build_stages(
    settings: Settings, plan: Plan, output: Output, choice: BuilderChoice, push: bool = False
) -> BuildReport:
    """Build every stage of the plan that is not reused, tag each, and print the summary.

    With ``push``, the tags this ref may write are pushed too (see :func:`publish`):
    BuildKit pushes the stages it builds itself, straight from its build.
    """
    with logged_in(settings, output) as client:
        info = engine_info(client)
        refusal = multi_platform_refusal(plan, info)
        if refusal is not None:
            raise BuilderUnavailableError(refusal)
        cache = choose_cache(choice.name, info)
        output.header(f"cache: {cache.backend} ({cache.reason})")
        if cache.backend == "none" and plan.pulls:
            output.warn(f"building without cache sources: {cache.reason}.")
        builder = make_builder(choice, settings, client, cache)
        report = BuildReport(image=plan.image, ref=plan.ref, builder=builder.name)
        started = time.monotonic()
        reuse = compare_keys(settings, plan, output)
        context = make_context(settings.root, settings.dockerfile_path, plan.dockerfile_text)
        output.header(
            f"build context: {context.files} files, {context.size / 1e6:.1f} MB, "
            f"sha256 {context.sha256[:12]}"
        )
        build = StageBuild(output, pinned_contexts(reuse), push and builder.pushes)
        try:
            report.stages = build_each(plan, builder, context, reuse, build)
        finally:
            context.close()
            report.total_seconds = time.monotonic() - started
        if push:
            publish(settings, client, plan, reuse, output, pushed=build.push)
    print_summary(output, report)
    return report


def check_built(client: APIClient, refs: list[str]) -> None:
    """Refuse to push when a tag to push is not an image on this engine."""
    for ref in refs:
        try:
            client.inspect_image(ref)
        except ImageNotFound:
            raise PlanError(
                f"{ref} is not built here; build it first "
                "(`stageline build`, or `invoke build-stages`), then push."
            ) from None
        except APIError as exc:
            raise PlanError(f"cannot inspect {ref}: {api_error_text(exc)}") from None


def registry_image(registries: Registries, ref: str) -> Found | None:
    """Return the image the registry holds under ``ref``, or None."""
    image = parse_image_ref(ref)
    manifest = registries.api(image.api_host).get_manifest(image.repository, image.reference)
    return Found(ref, manifest) if manifest else None


def write_key_tags(registries: Registries, plan: Plan, reuse: Reuse, output: Output) -> None:
    """Name each stage's image by its key too, so the default branch can promote it."""
    for stage in plan.stages:
        key = reuse.keys.get(stage.name)
        found = reuse.found.get(stage.name) or registry_image(registries, stage.tags[0])
        if key is not None and found is not None:
            tag = key_tag(stage.name, key) + plan.tag_suffix
            write_tags(registries, found, [f"{plan.image}:{tag}"], output)


def push_built(
    settings: Settings,
    client: APIClient,
    registries: Registries,
    plan: Plan,
    reuse: Reuse,
    output: Output,
) -> list[PushOutcome]:
    """Push each built stage's first tag through the engine; copy it to its other tags.

    The engine uploads each layer the registry lacks once; the other tags (the commit's,
    a branch's) are manifest copies inside the registry, which move no layer.
    """
    outcomes = []
    for stage in plan.stages:
        if reuse.reused(stage.name):
            continue
        first, *others = stage.tags
        outcomes.append(push_one(settings, client, first, output))
        found = registry_image(registries, first) if others else None
        if found is not None:
            write_tags(registries, found, others, output)
    return outcomes


def push_one(settings: Settings, client: APIClient, ref: str, output: Output) -> PushOutcome:
    """Push ``ref`` through the engine; print what it uploaded and its digest."""
    output.header(f"push {ref}")
    outcome = registry.push(client, ref, output, retries=settings.push_retries)
    output.line(
        f"  {ref}: {outcome.layers_pushed} layers pushed, "
        f"{outcome.layers_present} already present, {outcome.digest or 'no digest'}"
    )
    return outcome


def pushed_by_stage(
    plan: Plan, outcomes: list[PushOutcome], copied: dict[str, list[str]]
) -> dict[str, dict[str, object]]:
    """Return each planned stage's uploaded bytes and the tags copied inside the registry."""
    uploaded = {ref.ref: ref.bytes_pushed for ref in outcomes}
    return {
        stage.name: {
            "pushed_bytes": sum(uploaded.get(tag, 0) for tag in stage.tags),
            "tags_copied": copied.get(stage.name, []),
        }
        for stage in plan.stages
    }


def copy_reused(
    registries: Registries, plan: Plan, reuse: Reuse, output: Output
) -> dict[str, list[str]]:
    """Write each reused stage's tags by copying its manifest; return the tags written."""
    copied: dict[str, list[str]] = {}
    for stage in plan.stages:
        if reuse.reused(stage.name):
            output.header(f"tag {stage.name} inside the registry (reused: nothing to upload)")
            found = reuse.found[stage.name]
            copied[stage.name] = write_tags(registries, found, stage.tags, output)
    return copied


def push_stages(
    settings: Settings, plan: Plan, output: Output, report: Path | None = None
) -> list[PushOutcome]:
    """Push the tags this ref may write; a reused stage's are copies inside the registry."""
    with logged_in(settings, output) as client:
        reuse = compare_keys(settings, plan, output)
        return publish(settings, client, plan, reuse, output, report=report)


def publish(
    settings: Settings,
    client: APIClient,
    plan: Plan,
    reuse: Reuse,
    output: Output,
    pushed: bool = False,
    report: Path | None = None,
) -> list[PushOutcome]:
    """Write every tag this ref may: copies for reused stages, pushes for built ones.

    ``pushed``: the builder pushed the built stages' tags itself, so the engine pushes
    nothing. With promote-merged, each stage's image is named by its key too.
    """
    registries = Registries(settings)
    built = [t for stage in plan.stages if not reuse.reused(stage.name) for t in stage.tags]
    if not pushed:
        check_built(client, built)
    copied = copy_reused(registries, plan, reuse, output)
    outcomes = [] if pushed else push_built(settings, client, registries, plan, reuse, output)
    if settings.promote_merged:
        output.header("name each stage's image by its key (promote-merged)")
        write_key_tags(registries, plan, reuse, output)
    uploaded = sum(outcome.layers_pushed for outcome in outcomes)
    present = sum(outcome.layers_present for outcome in outcomes)
    size = human_size(sum(outcome.bytes_pushed for outcome in outcomes))
    how = f"{uploaded} layers uploaded ({size}), {present} already present"
    how = "pushed by BuildKit" if pushed else how
    output.header(
        f"wrote {len(built)} tags of built stages ({how}); "
        f"{sum(map(len, copied.values()))} tags of reused stages copied inside the registry"
    )
    if report is not None:
        update_json_report(report, plan.image, plan.ref, pushed_by_stage(plan, outcomes, copied))
    return outcomes
