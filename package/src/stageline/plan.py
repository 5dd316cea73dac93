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

Stage names with ``--`` are refused when planned, so ``<stage>--<ref>`` is never
ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from stageline.build_args import BuildArg, choose_build_args, offered_build_args
from stageline.build_secrets import BuildSecret, chosen_secrets
from stageline.dockerfile import Dockerfile, StageGraph, stage_graph
from stageline.dockerfile.graph import platform_arg_features
from stageline.dockerfile.platforms import DEFAULT_PLATFORMS, PLATFORM_ARG_NAMES, BuildPlatforms
from stageline.dockerfile.rewrite import engine_dockerfile
from stageline.dockerfile.stages import BuildkitFeature
from stageline.errors import DockerfileError, PlanError
from stageline.settings import Settings

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


def cache_tag(stage: str, ref_slug: str, default_branch: bool) -> str:
    """Return the tag (without image) under which ``ref`` caches ``stage``."""
    if default_branch:
        return stage
    room = MAX_TAG_LENGTH - len(stage) - len(REF_SEPARATOR)
    return f"{stage}{REF_SEPARATOR}{ref_slug[:room].rstrip('-')}"


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


def commit_tag(settings: Settings, target: str, targets: tuple[str, ...]) -> str | None:
    """Return the commit's tag of ``target``: ``<short-sha>`` for the first, else
    ``<target>-<short-sha>``; None without a short SHA or for a stage that is no target.
    """
    if not settings.short_sha or target not in targets:
        return None
    if target == targets[0]:
        return settings.short_sha
    return f"{target}-{settings.short_sha}"[:MAX_TAG_LENGTH]


def read_tags(settings: Settings, name: str) -> list[str]:
    """Return the tags of the image a build of ``name`` may read, strongest first."""
    repository = settings.image
    own = f"{repository}:{cache_tag(name, settings.ref_slug, settings.is_default_branch)}"
    if settings.is_default_branch:
        return [own]
    return [own, f"{repository}:{cache_tag(name, settings.ref_slug, True)}"]


def stage_plans(
    settings: Settings,
    graph: StageGraph,
    chosen: list[str],
    targets: tuple[str, ...],
    no_cache: bool,
) -> list[StagePlan]:
    """Return the tags and cache sources of each chosen stage."""
    claims = TagClaims(settings.image)
    plans = []
    for name in chosen:
        check_taggable(name)
        tag = cache_tag(name, settings.ref_slug, settings.is_default_branch)
        tags = [claims.claim(tag, f"the {name} cache")]
        if (commit := commit_tag(settings, name, targets)) is not None:
            tags.append(claims.claim(commit, f"the commit's {name} image"))
        lineage = graph.ancestors(name)
        sources = [ref for stage in lineage for ref in read_tags(settings, stage)]
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
    gives BuildKit's automatic platform args their values (default: linux/amd64).
    """
    request = request or Request()
    offered = offered_build_args(settings, request.build_args)
    try:
        graph = stage_graph(dockerfile, global_build_args(dockerfile, offered), platforms)
        targets = chosen_targets(graph, request, settings)
        chosen = (
            graph.ancestors(named_stage(graph, request.stage, "--stage"))
            if request.stage
            else planned(graph, targets)
        )
    except DockerfileError as exc:
        raise PlanError(f"{settings.dockerfile.name} {exc}") from None
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
        stages=tuple(stage_plans(settings, graph, chosen, targets, request.no_cache)),
        build_args=tuple(build_args),
        dockerfile_text=engine_dockerfile(graph, set(chosen)),
        buildkit_features=tuple(features),
        secrets=tuple(s for s in secrets if secret_is_set(s, settings, secret_files)),
        unset_secrets=tuple(s for s in secrets if not secret_is_set(s, settings, secret_files)),
        graph=graph,
        targets=targets,
    )
