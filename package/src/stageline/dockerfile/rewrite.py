"""The Dockerfile the engine receives: the user's, made buildable stage by stage.

Both builders take a stage to build as ``--target NAME``, and neither accepts the
``stage-N`` name of an unnamed stage there: such a stage gets ``AS stage-N`` added.
The classic builder also runs every stage before its target, needed or not (a lint
or test stage, say): each such stage becomes an empty ``FROM scratch`` stage under
its own name, so indexes and names stay as written. Line numbers are kept, so the
engine's errors point at the user's lines. When nothing needs changing, the text is
returned unchanged.
"""

from __future__ import annotations

from stageline.dockerfile.graph import StageGraph
from stageline.dockerfile.stages import Stage


def replace_lines(lines: list[str], first: int, last: int, text: str) -> None:
    """Replace 1-based lines ``first..last`` with ``text`` and blank lines, in place."""
    for number in range(first, last + 1):
        lines[number - 1] = (text if number == first else "") + "\n"


def named_from(stage: Stage) -> str:
    """Return the stage's FROM line with ``AS <name>`` (flags and base as written)."""
    flags = " ".join(stage.instructions[0].flags)
    return " ".join(part for part in ("FROM", flags, stage.base, "AS", stage.name) if part)


def engine_dockerfile(graph: StageGraph, keep: set[str]) -> str:
    """Return the Dockerfile text that builds the stages ``keep`` and nothing else."""
    dockerfile = graph.dockerfile
    stages = dockerfile.stages
    last = max(stage.index for stage in stages if stage.name in keep)
    lines = dockerfile.text.splitlines(keepends=True)
    changed = False
    for stage in stages[: last + 1]:
        if stage.name not in keep:
            region_end = stages[stage.index + 1].line - 1
            replace_lines(lines, stage.line, region_end, f"FROM scratch AS {stage.name}")
            changed = True
        elif not stage.named:
            replace_lines(lines, stage.line, stage.instructions[0].end_line, named_from(stage))
            changed = True
    return "".join(lines) if changed else dockerfile.text
