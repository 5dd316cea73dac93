"""Pure planning: the stage graph + settings -> what each stage reads and writes.

Which stages
------------
The target is the stage the image is: ``--target``, else ``STAGELINE_TARGET``, else
``[tool.stageline] targets`` (or ``target``), else the last stage (as for ``docker
build``). ``targets`` names several images built in one run, e.g. the production image
and the image the tests run in; the first is the one ``stageline release`` releases.
A build plans the targets and their ancestors only, in Dockerfile order, so common
stages are planned once; ``--stage NAME`` plans NAME and its ancestors.

Tag policy
----------
* The default branch reads and writes ``IMAGE:<stage>``.
* Any other ref reads ``IMAGE:<stage>--<ref-slug>`` first and the default branch's
  ``IMAGE:<stage>`` second, and writes only its own.
* A stage's cache sources are its own tags and its ancestors', never another stage's.
* The first target also gets the commit's tag ``IMAGE:<short-sha>``, each other target
  ``IMAGE:<target>-<short-sha>``. Release tags (``latest``, the git tag) are written
  only by ``stageline release``, by copying the tested commit's tag.

* A per-platform job (``--platform P``, one of several configured platforms) puts
  ``--<os>.<arch>`` after every tag it reads or writes (:func:`platform_suffix`), so the
  jobs of one pipeline never write the same tag; ``stageline merge`` writes the
  unsuffixed tags as indexes.

Stage names with ``--`` are refused when planned, so ``<stage>--<ref>`` is never
ambiguous.

Platforms
---------
The target platforms are ``--platform``, else the settings', else the engine's own;
the stage graph is resolved for each, and :mod:`stageline.stage_platforms` says which
platforms each stage is built for.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path

from stageline.build_args import BuildArg, choose_build_args, offered_build_args
from stageline.build_secrets import BuildSecret, chosen_secrets
from stageline.dockerfile import Dockerfile, StageGraph, stage_graph
from stageline.dockerfile.graph import platform_arg_features
from stageline.dockerfile.platforms import (
    DEFAULT_PLATFORMS,
    PLATFORM_ARG_NAMES,
    BuildPlatforms,
    Platform,
    parse_platform,
)
from stageline.dockerfile.rewrite import engine_dockerfile
from stageline.dockerfile.stages import BuildkitFeature
from stageline.errors import DockerfileError, PlanError
from stageline.settings import Settings
from stageline.stage_platforms import stage_platforms

MAX_TAG_LENGTH = 128
REF_SEPARATOR = "--"


@dataclass(frozen=True)
class StagePlan:
    """What building one stage reads and writes."""

    name: str
    parents: tuple[str, ...]
    tags: tuple[str, ...]
    cache_from: tuple[str, ...]
    labels: tuple[tuple[str, str], ...] = ()  # set at build time: the content key
    platforms: tuple[str, ...] = ("linux/amd64",)  # what it is built for (stage_platforms)
    base_platform: str | None = None  # FROM --platform's one platform for every target


@dataclass(frozen=True)
class Plan:
    """The whole build: the target's ancestors and itself, in Dockerfile order."""

    image: str
    ref: str
    default_branch: bool
    no_cache: bool
    target: str  # the first target: the image that is released
    stages: tuple[StagePlan, ...]
    build_args: tuple[BuildArg, ...]
    dockerfile_text: str  # what the engine receives (see stageline.dockerfile.rewrite)
    buildkit_features: tuple[BuildkitFeature, ...]
    secrets: tuple[BuildSecret, ...]  # the chosen secrets that are set here
    unset_secrets: tuple[BuildSecret, ...]  # chosen, not set: the build goes without
    graph: StageGraph | None = field(default=None, compare=False, repr=False)
    targets: tuple[str, ...] = ()  # every target, the first being ``target``
    platforms: tuple[str, ...] = ("linux/amd64",)  # the target platforms
    build_platform: str = "linux/amd64"  # the engine's, where BuildKit runs
    tag_suffix: str = ""  # a per-platform job's platform on every tag (job_suffix)

    @property
    def multi_platform(self) -> bool:
        """Return whether some stage is built for more than one platform."""
        return any(len(stage.platforms) > 1 for stage in self.stages)

    def shared(self, stage: StagePlan) -> bool:
        """Return whether ``stage`` is built once on one platform for every target one."""
        return stage.platforms != self.platforms

    @property
    def build_arg_values(self) -> dict[str, str]:
        """Return the build args as the engine takes them."""
        return {arg.name: arg.value for arg in self.build_args}

    @property
    def pulls(self) -> list[str]:
        """Return every cache source of the plan, once each, in the order first needed."""
        seen: dict[str, None] = {}
        for stage in self.stages:
            for ref in stage.cache_from:
                seen.setdefault(ref, None)
        return list(seen)

    @property
    def pushes(self) -> list[str]:
        """Return every tag this ref may write, in stage order."""
        return [tag for stage in self.stages for tag in stage.tags]

    def stage(self, name: str) -> StagePlan:
        """Return the plan of stage ``name``."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise PlanError(f"stage {name!r} is not in this plan.")


def cache_tag(stage: str, ref_slug: str, default_branch: bool, suffix: str = "") -> str:
    """Return the tag (without image) under which ``ref`` caches ``stage``; ``suffix`` is a
    per-platform job's platform (:func:`platform_suffix`).
    """
    if default_branch:
        return f"{stage}{suffix}"
    room = MAX_TAG_LENGTH - len(stage) - len(REF_SEPARATOR) - len(suffix)
    return f"{stage}{REF_SEPARATOR}{ref_slug[:room].rstrip('-')}{suffix}"


def platform_suffix(platform: str) -> str:
    """Return the tag suffix of one platform's images in a per-platform job: ``--linux.arm64``.

    A ref slug never holds a ``.``, and no OS is called ``key``, so the suffix is told apart
    from a ref and from a key tag.
    """
    return REF_SEPARATOR + platform.replace("/", ".")


def job_suffix(request: Request, settings: Settings) -> str:
    """Return the platform suffix of a per-platform job's tags, or "" for any other build.

    A per-platform job builds one of several configured platforms (``--platform
    linux/arm64`` where the settings name linux/amd64 and linux/arm64); ``stageline
    merge`` then writes the multi-platform tags.
    """
    chosen = request.platforms
    several = len(settings.platforms) > 1
    if len(chosen) == 1 and several and chosen[0] in settings.platforms:
        return platform_suffix(chosen[0])
    return ""


def tag_safe(text: str) -> str:
    """Return ``text`` made into a valid Docker tag (invalid characters become ``-``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", text).lstrip(".-")[:MAX_TAG_LENGTH]
    if not safe:
        raise PlanError(f"{text!r} has nothing a Docker tag can use; rename the git tag.")
    return safe


def check_taggable(name: str) -> None:
    """Refuse a planned stage whose name cannot be a cache tag."""
    if REF_SEPARATOR in name or name == "latest" or len(name) > MAX_TAG_LENGTH:
        raise PlanError(
            f"stage name {name!r} cannot be a cache tag: rename the stage without '--', "
            "not 'latest', at most 128 characters (Stageline tags stages <stage>--<branch>)."
        )


class TagClaims:
    """Hands out tags of one image, refusing a tag that two roles would share."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.owners: dict[str, str] = {}

    def claim(self, tag: str, role: str) -> str:
        """Return ``IMAGE:tag`` for ``role``, or raise if another role has it."""
        if tag in self.owners:
            raise PlanError(
                f"tag {self.image}:{tag} would be both {self.owners[tag]} and {role}; "
                "rename the stage or the git tag."
            )
        self.owners[tag] = role
        return f"{self.image}:{tag}"


def commit_tag(
    settings: Settings, target: str, targets: tuple[str, ...], suffix: str = ""
) -> str | None:
    """Return the commit's tag of ``target``: ``<short-sha>`` for the first, else
    ``<target>-<short-sha>`` (then a per-platform job's ``suffix``); None without a short
    SHA or for a stage that is no target.
    """
    if not settings.short_sha or target not in targets:
        return None
    if target == targets[0]:
        return f"{settings.short_sha}{suffix}"
    return f"{target}-{settings.short_sha}"[: MAX_TAG_LENGTH - len(suffix)] + suffix


def read_tags(settings: Settings, name: str, suffix: str = "") -> list[str]:
    """Return the tags of the image a build of ``name`` may read, strongest first."""
    repository = settings.image
    own = cache_tag(name, settings.ref_slug, settings.is_default_branch, suffix)
    if settings.is_default_branch:
        return [f"{repository}:{own}"]
    return [f"{repository}:{own}", f"{repository}:{cache_tag(name, '', True, suffix)}"]


def stage_plans(
    settings: Settings,
    graph: StageGraph,
    chosen: list[str],
    targets: tuple[str, ...],
    no_cache: bool,
    suffix: str = "",
) -> list[StagePlan]:
    """Return the tags and cache sources of each chosen stage (a per-platform job's
    ``suffix`` on each).
    """
    claims = TagClaims(settings.image)
    plans = []
    for name in chosen:
        check_taggable(name)
        tag = cache_tag(name, settings.ref_slug, settings.is_default_branch, suffix)
        tags = [claims.claim(tag, f"the {name} cache")]
        if (commit := commit_tag(settings, name, targets, suffix)) is not None:
            tags.append(claims.claim(commit, f"the commit's {name} image"))
        lineage = graph.ancestors(name)
        sources = [ref for stage in lineage for ref in read_tags(settings, stage, suffix)]
        plans.append(
            StagePlan(
                name=name,
                parents=graph.node(name).parents,
                tags=tuple(tags),
                cache_from=() if no_cache else tuple(sources),
            )
        )
    return plans


@dataclass(frozen=True)
class Request:
    """What a task asked for: the image's stage, a part to build, build args, cache."""

    target: str | None = None
    stage: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    no_cache: bool = False
    platforms: tuple[str, ...] = ()  # --platform (none: the settings', else the engine's)


def secret_is_set(secret: BuildSecret, settings: Settings, files: Collection[Path]) -> bool:
    """Return whether ``secret`` has a value: a set variable, or a file among ``files``."""
    if secret.env is not None:
        return bool(settings.environ.get(secret.env))
    return secret.file is not None and secret.file in files


def named_stage(graph: StageGraph, name: str, source: str) -> str:
    """Return the stage ``name`` (any case) as the graph names it; an unknown one is
    refused with where the name came from (``--target``, STAGELINE_TARGET, ...)."""
    if name.lower() not in graph.names:
        raise PlanError(
            f"unknown stage {name!r} named by {source}; "
            f"the Dockerfile has: {', '.join(graph.names)}."
        )
    return name.lower()


def chosen_targets(graph: StageGraph, request: Request, settings: Settings) -> tuple[str, ...]:
    """Return the targets' names: ``--target``, else the settings', else the last stage."""
    names: tuple[str, ...]
    if request.target:
        names, source = (request.target,), "--target"
    elif settings.targets:
        names, source = settings.targets, settings.targets_source or "the settings"
    else:
        return (graph.names[-1],)
    return tuple(dict.fromkeys(named_stage(graph, name, source) for name in names))


def planned(graph: StageGraph, targets: tuple[str, ...]) -> list[str]:
    """Return the targets and their ancestors, each once, in Dockerfile order."""
    needed = {name for target in targets for name in graph.ancestors(target)}
    return [name for name in graph.names if name in needed]


def global_build_args(dockerfile: Dockerfile, offered: list[BuildArg]) -> dict[str, str]:
    """Return the offered build args that reach ``FROM``: those of global ARGs, and (as
    BuildKit lets them replace its automatic ones) platform args declared in any stage.
    """
    names = {arg.name for arg in dockerfile.global_args}
    for stage in dockerfile.stages:
        names.update(arg.name for arg in stage.args if arg.name in PLATFORM_ARG_NAMES)
    return {arg.name: arg.value for arg in offered if arg.name in names}


def target_platforms(
    request: Request, settings: Settings, platforms: BuildPlatforms
) -> tuple[str, ...]:
    """Return the platforms to build for: ``--platform``, the settings', else the engine's."""
    return request.platforms or settings.platforms or (str(platforms.target_platform),)


def platform_graphs(
    dockerfile: Dockerfile,
    build_args: dict[str, str],
    build: Platform,
    targets: tuple[str, ...],
) -> dict[str, StageGraph]:
    """Return the stage graph BuildKit resolves for each target platform, in order."""
    return {
        target: stage_graph(dockerfile, build_args, BuildPlatforms(build, parse_platform(target)))
        for target in targets
    }


def make_plan(
    settings: Settings,
    dockerfile: Dockerfile,
    request: Request | None = None,
    secret_files: Collection[Path] = (),
    platforms: BuildPlatforms = DEFAULT_PLATFORMS,
) -> Plan:
    """Return the build plan for ``request`` (default: the target and its ancestors).

    ``secret_files`` are the files of file secrets that exist here: the caller looks
    (:func:`stageline.actions.load_plan`), so that planning reads nothing. ``platforms``
    gives the build platform (the engine's) and the target platform where neither
    ``--platform`` nor the settings name any (default: linux/amd64).
    """
    request = request or Request()
    offered = offered_build_args(settings, request.build_args)
    wanted = target_platforms(request, settings, platforms)
    try:
        graphs = platform_graphs(
            dockerfile, global_build_args(dockerfile, offered), platforms.build, wanted
        )
        graph = graphs[wanted[0]]
        targets = chosen_targets(graph, request, settings)
        chosen = (
            graph.ancestors(named_stage(graph, request.stage, "--stage"))
            if request.stage
            else planned(graph, targets)
        )
    except DockerfileError as exc:
        raise PlanError(f"{settings.dockerfile.name} {exc}") from None
    on = stage_platforms(graphs, chosen)
    suffix = job_suffix(request, settings)
    build_args = choose_build_args(dockerfile, set(chosen), offered)
    features = dockerfile.buildkit_features(set(chosen)) + platform_arg_features(
        graph, {arg.name: arg.value for arg in build_args}, set(chosen)
    )
    secrets = chosen_secrets(settings, request.secrets)
    return Plan(
        image=settings.image,
        ref=settings.ref_slug,
        default_branch=settings.is_default_branch,
        no_cache=request.no_cache,
        target=targets[0],
        stages=tuple(
            replace(
                plan, platforms=on[plan.name].platforms, base_platform=on[plan.name].base_platform
            )
            for plan in stage_plans(settings, graph, chosen, targets, request.no_cache, suffix)
        ),
        build_args=tuple(build_args),
        dockerfile_text=engine_dockerfile(graph, set(chosen), {arg.name for arg in build_args}),
        buildkit_features=tuple(features),
        secrets=tuple(s for s in secrets if secret_is_set(s, settings, secret_files)),
        unset_secrets=tuple(s for s in secrets if not secret_is_set(s, settings, secret_files)),
        graph=graph,
        targets=targets,
        platforms=wanted,
        build_platform=str(platforms.build),
        tag_suffix=suffix,
    )
