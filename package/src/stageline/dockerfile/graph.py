"""The stage graph: which stages each stage builds on or copies from, as BuildKit resolves it.

* ``FROM x`` builds on an earlier stage whose name is exactly ``x`` after global-ARG
  expansion (BuildKit's stage names are lower case, and so must the reference be).
* ``COPY --from=x`` reads an earlier stage by name (any case) or by index; otherwise
  ``x`` is an image. ``RUN --mount=...,from=x`` takes names only.
* A reference to a stage defined later is an error, as in Docker.

The target is built from itself and its ancestors only, in Dockerfile order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stageline.dockerfile.stages import Dockerfile, Reference, Stage
from stageline.dockerfile.words import expand_word
from stageline.errors import DockerfileError, PlanError


@dataclass(frozen=True)
class StageNode:
    """A stage with what it resolves to: its base image (or parent stage) and parents."""

    stage: Stage
    base_image: str | None  # None when the stage builds on another stage
    parents: tuple[str, ...]  # stage names, in the order first referenced

    @property
    def name(self) -> str:
        """Return the stage's name (``stage-N`` when unnamed)."""
        return self.stage.name


@dataclass(frozen=True)
class StageGraph:
    """Every stage of a Dockerfile with its resolved parents."""

    dockerfile: Dockerfile
    nodes: tuple[StageNode, ...]
    global_values: tuple[tuple[str, str], ...]

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


def global_arg_values(dockerfile: Dockerfile, build_args: Mapping[str, str]) -> dict[str, str]:
    """Return the global ARGs' values: a build arg, else the default expanded in order."""
    values: dict[str, str] = {}
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


def stage_graph(dockerfile: Dockerfile, build_args: Mapping[str, str]) -> StageGraph:
    """Return the stage graph of ``dockerfile`` with ``build_args`` set."""
    check_unique_names(dockerfile)
    values = global_arg_values(dockerfile, build_args)
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
        nodes.append(StageNode(stage, None if on_stage else base, tuple(dict.fromkeys(parents))))
    return StageGraph(dockerfile, tuple(nodes), tuple(sorted(values.items())))
