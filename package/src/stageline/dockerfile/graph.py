"""The stage graph: which stages each stage builds on or copies from, as BuildKit resolves it.

* ``FROM x`` builds on an earlier stage whose name is exactly ``x`` after global-ARG
  expansion (BuildKit's stage names are lower case, and so must the reference be). The
  global scope starts with BuildKit's automatic platform args (:mod:`platforms`), so
  ``FROM binary-$TARGETOS`` names the stage ``binary-linux`` on linux.
* ``COPY --from=x`` reads an earlier stage by name (any case) or by index; otherwise
  ``x`` is an image. ``RUN --mount=...,from=x`` takes names only.
* A reference to a stage defined later is an error, as in Docker.

The target is built from itself and its ancestors only, in Dockerfile order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stageline.dockerfile.platforms import DEFAULT_PLATFORMS, BuildPlatforms, platform_args
from stageline.dockerfile.stages import BuildkitFeature, Dockerfile, Reference, Stage
from stageline.dockerfile.words import expand_word
from stageline.errors import DockerfileError, PlanError


@dataclass(frozen=True)
class StageNode:
    """A stage with what it resolves to: its base image (or parent stage) and parents."""

    stage: Stage
    base_image: str | None  # None when the stage builds on another stage
    parents: tuple[str, ...]  # stage names, in the order first referenced
    platform: str | None = None  # FROM --platform after global-ARG expansion

    @property
    def name(self) -> str:
        """Return the stage's name (``stage-N`` when unnamed)."""
        return self.stage.name


@dataclass(frozen=True)
class StageGraph:
    """Every stage of a Dockerfile with its resolved parents."""

    dockerfile: Dockerfile
    nodes: tuple[StageNode, ...]
    global_values: tuple[tuple[str, str], ...]  # automatic platform args included
    platforms: BuildPlatforms = DEFAULT_PLATFORMS

    @property
    def names(self) -> list[str]:
        """Return the stage names in Dockerfile order."""
        return [node.name for node in self.nodes]

    def node(self, name: str) -> StageNode:
        """Return the stage called ``name`` (any case; ``stage-N`` for unnamed stages)."""
        wanted = name.lower()
        for node in self.nodes:
            if node.name == wanted:
                return node
        raise PlanError(f"unknown stage {name!r}; the Dockerfile has: {', '.join(self.names)}.")

    def ancestors(self, name: str) -> list[str]:
        """Return the stages ``name`` needs, itself last, in Dockerfile order."""
        needed = {self.node(name).name}
        for node in reversed(self.nodes):
            if node.name in needed:
                needed.update(node.parents)
        return [node.name for node in self.nodes if node.name in needed]


def global_arg_values(
    dockerfile: Dockerfile, build_args: Mapping[str, str], automatic: Mapping[str, str]
) -> dict[str, str]:
    """Return the global scope's values, as BuildKit's ``defaultArgs`` and ``buildMetaArgs``.

    The ``automatic`` args come first (a build arg of the same name replaces one); then
    each global ARG in order: a build arg, else its default expanded with what is above.
    A bare ARG keeps the value the name has (an automatic one, or a default above), as
    current BuildKit does; BuildKit 0.13 empties it, so the engine never gets such a line
    (:mod:`stageline.dockerfile.rewrite`). The classic builder has no ``automatic`` args.
    """
    values = {name: build_args.get(name, value) for name, value in automatic.items()}
    escape = dockerfile.parsed.escape
    for arg in dockerfile.global_args:
        if arg.name in build_args:
            values[arg.name] = build_args[arg.name]
        elif arg.default is not None:
            try:
                values[arg.name] = expand_word(arg.default, values, escape)
            except DockerfileError as exc:
                raise DockerfileError(f"line {arg.line}: {exc}") from None
    return values


def resolve_base(stage: Stage, values: Mapping[str, str], escape: str) -> str:
    """Return ``stage``'s FROM after global-ARG expansion (an image or an earlier stage)."""
    try:
        base = expand_word(stage.base, values, escape)
    except DockerfileError as exc:
        raise DockerfileError(f"line {stage.line}: {exc}") from None
    if not base:
        raise DockerfileError(
            f"line {stage.line}: base name ({stage.base}) should not be blank; "
            "set the build arg it names, or give the ARG a default"
        )
    return base


def resolve_platform(stage: Stage, values: Mapping[str, str], escape: str) -> str | None:
    """Return ``stage``'s ``FROM --platform`` after global-ARG expansion (None: no flag)."""
    if stage.platform is None:
        return None
    try:
        platform = expand_word(stage.platform, values, escape)
    except DockerfileError as exc:
        raise DockerfileError(f"line {stage.line}: {exc}") from None
    if not platform:
        raise DockerfileError(
            f"line {stage.line}: empty platform value from expression {stage.platform}; "
            "set the build arg it names, or give the ARG a default"
        )
    return platform


def resolve_reference(reference: Reference, stage: Stage, nodes: list[StageNode]) -> str | None:
    """Return the stage ``reference`` names, or None when it names an image."""
    if reference.by_index:
        index = int(reference.target)
        if index >= stage.index:
            raise DockerfileError(
                f"line {reference.line}: cannot copy from stage {reference.target!r}, it needs "
                f"to be defined before current stage {stage.name!r}"
            )
        return nodes[index].name
    wanted = reference.target.lower()
    for node in nodes:
        if node.stage.named and node.name == wanted:
            return node.name
    return None


def check_unique_names(dockerfile: Dockerfile) -> None:
    """Refuse two stages with one name: their tags would be the same."""
    first: dict[str, Stage] = {}
    for stage in dockerfile.stages:
        if stage.name in first:
            raise DockerfileError(
                f"line {stage.line}: stage name {stage.name!r} is already used on line "
                f"{first[stage.name].line}; give each stage its own name (Docker would warn "
                "and use the later one; Stageline tags each stage by name)"
            )
        first[stage.name] = stage


def stage_graph(
    dockerfile: Dockerfile,
    build_args: Mapping[str, str],
    platforms: BuildPlatforms = DEFAULT_PLATFORMS,
) -> StageGraph:
    """Return the stage graph of ``dockerfile`` built by BuildKit for ``platforms``."""
    check_unique_names(dockerfile)
    values = global_arg_values(dockerfile, build_args, platform_args(platforms))
    later = {stage.name for stage in dockerfile.stages if stage.named}
    nodes: list[StageNode] = []
    for stage in dockerfile.stages:
        base = resolve_base(stage, values, dockerfile.parsed.escape)
        on_stage = base in {node.name for node in nodes if node.stage.named}
        parents = [base] if on_stage else []
        for reference in stage.references:
            parent = resolve_reference(reference, stage, nodes)
            if parent is None and reference.target.lower() in later:
                raise DockerfileError(
                    f"line {reference.line}: cannot copy from stage {reference.target!r}, it "
                    f"needs to be defined before current stage {stage.name!r}"
                )
            if parent is not None:
                parents.append(parent)
        platform = resolve_platform(stage, values, dockerfile.parsed.escape)
        unique = tuple(dict.fromkeys(parents))
        nodes.append(StageNode(stage, None if on_stage else base, unique, platform))
    return StageGraph(dockerfile, tuple(nodes), tuple(sorted(values.items())), platforms)


def expanded(word: str, values: Mapping[str, str], escape: str) -> str | None:
    """Return ``word`` expanded with ``values``, or None where the expansion fails."""
    try:
        return expand_word(word, values, escape)
    except DockerfileError:
        return None


def platform_arg_features(
    graph: StageGraph, build_args: Mapping[str, str], names: set[str]
) -> list[BuildkitFeature]:
    """Return where the stages ``names`` read BuildKit's automatic platform args.

    The classic builder does not define them: there, such a ``FROM`` names another image
    or stage (or none), ``--platform`` is empty, and a bare ``ARG TARGETARCH`` is unset.
    ``build_args`` are the build args the engine gets.
    """
    dockerfile, escape = graph.dockerfile, graph.dockerfile.parsed.escape
    buildkit = dict(graph.global_values)
    try:
        classic = global_arg_values(dockerfile, build_args, {})
    except DockerfileError as exc:
        line = dockerfile.global_args[0].line
        return [BuildkitFeature(line, f"global ARGs the classic builder cannot expand ({exc})")]
    why = "BuildKit's automatic platform args; the classic builder leaves them empty"
    found = []
    for stage in (node.stage for node in graph.nodes if node.name in names):
        words = [(stage.base, stage.base)]
        if stage.platform is not None:
            words.append((f"--platform={stage.platform}", stage.platform))
        for shown, word in words:
            if expanded(word, buildkit, escape) != expanded(word, classic, escape):
                found.append(BuildkitFeature(stage.line, f"FROM {shown} ({why})"))
        for arg in stage.args:
            bare = arg.default is None and arg.name not in build_args
            if bare and buildkit.get(arg.name) != classic.get(arg.name):
                found.append(BuildkitFeature(arg.line, f"a bare ARG {arg.name} ({why})"))
    return found
