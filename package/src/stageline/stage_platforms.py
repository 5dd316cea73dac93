"""Which platforms each planned stage is built for (pure).

A build for several target platforms (``linux/amd64``, ``linux/arm64``) builds each stage
for every one of them, in one BuildKit run that writes an image index; except

* a stage whose ``FROM --platform`` names one platform for every target (``$BUILDPLATFORM``,
  or a fixed ``linux/amd64``), and the stages that build on it: such a stage is built once,
  on that platform, and every target platform shares it (its result does not depend on
  the target: webpack's output, say);
* unless it reads the target platform: a stage that declares a ``TARGET*`` ARG, or copies
  from a stage built per target, runs on its fixed platform once per target (a
  cross-compiling stage).

The graph is resolved once per target platform (BuildKit's automatic platform args differ);
the stages must be the same in each, or one build cannot plan them together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stageline.dockerfile import StageGraph, StageNode
from stageline.dockerfile.platforms import TARGET_ARG_NAMES, parse_platform
from stageline.errors import DockerfileError, PlanError


@dataclass(frozen=True)
class StagePlatforms:
    """The platforms a stage is built for, and the one its base image is read for."""

    platforms: tuple[str, ...]  # buildx --platform; one shared platform, or the targets
    base_platform: str | None = None  # FROM --platform's fixed one; None: each of platforms

    @property
    def base_platforms(self) -> tuple[str, ...]:
        """Return the platforms whose base image the stage is built from."""
        return (self.base_platform,) if self.base_platform else self.platforms


def fixed_platform(graphs: Mapping[str, StageGraph], name: str) -> str | None:
    """Return the one platform ``FROM --platform`` gives stage ``name`` for every target.

    None when it has no ``--platform``, or it names the target platform itself
    (``$TARGETPLATFORM``), or it differs from one target to the next.
    """
    resolved: dict[str, str] = {}
    for target, graph in graphs.items():
        node = graph.node(name)
        if node.platform is None:
            return None
        try:
            resolved[target] = str(parse_platform(node.platform))
        except DockerfileError as exc:
            raise PlanError(f"line {node.stage.line}: FROM --platform {exc}") from None
    values = set(resolved.values())
    if len(values) > 1:
        return None  # it follows the target ($TARGETPLATFORM)
    only = values.pop()
    return None if len(resolved) == 1 and only in resolved else only


def reads_target_platform(node: StageNode) -> bool:
    """Return whether the stage declares one of BuildKit's ``TARGET*`` args."""
    return any(arg.name in TARGET_ARG_NAMES for arg in node.stage.args)


def check_same_stages(graphs: Mapping[str, StageGraph], names: Sequence[str]) -> None:
    """Refuse target platforms whose stage graphs differ (``FROM base-$TARGETARCH``)."""
    first, *others = graphs.items()
    for name in names:
        node = first[1].node(name)
        for target, graph in others:
            other = graph.node(name)
            if (other.base_image, other.parents) != (node.base_image, node.parents):
                raise PlanError(
                    f"stage {name} builds on {node.base_image or node.parents[0]} for "
                    f"{first[0]} and on {other.base_image or other.parents[0]} for {target}; "
                    "one build plans one stage graph: build each platform in its own job "
                    "(--platform), then merge."
                )


def stage_platforms(
    graphs: Mapping[str, StageGraph], names: Sequence[str]
) -> dict[str, StagePlatforms]:
    """Return the platforms of each stage in ``names`` (Dockerfile order, ancestors first).

    ``graphs`` maps each target platform, in order, to the graph resolved for it.
    """
    check_same_stages(graphs, names)
    targets = tuple(graphs)
    primary = graphs[targets[0]]
    found: dict[str, StagePlatforms] = {}
    for name in names:
        node = primary.node(name)
        fixed = fixed_platform(graphs, name) if node.base_image is not None else None
        if node.base_image is None:
            platforms = found[node.parents[0]].platforms
        else:
            platforms = (fixed,) if fixed else targets
        per_target = reads_target_platform(node) or any(
            found[parent].platforms == targets for parent in node.parents
        )
        if platforms != targets and per_target:
            platforms = targets
        found[name] = StagePlatforms(platforms, fixed)
    return found
