"""The Dockerfile the engine receives: the user's, made buildable stage by stage.

Both builders take a stage to build as ``--target NAME``, and neither accepts the
``stage-N`` name of an unnamed stage there: such a stage gets ``AS stage-N`` added.
The classic builder also runs every stage before its target, needed or not (a lint
or test stage, say): each such stage becomes an empty ``FROM scratch`` stage under
its own name, so indexes and names stay as written. Line numbers are kept, so the
engine's errors point at the user's lines. When nothing needs changing, the text is
returned unchanged.

A bare global ARG that re-declares a name the global scope already holds (one of
BuildKit's automatic platform args, or an ARG with a default above it) keeps that value
in current BuildKit, as :func:`stageline.dockerfile.graph.global_arg_values` plans it;
BuildKit 0.13 (Docker 26) empties it instead, for ``FROM``, ``--platform`` and every
stage that re-declares it. Such a line changes nothing where it is honoured, so the
engine gets it as a comment (unless a build arg sets the name: then both agree), and
every BuildKit builds what was planned, for one platform or several at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from stageline.dockerfile.graph import StageGraph
from stageline.dockerfile.platforms import PLATFORM_ARG_NAMES
from stageline.dockerfile.stages import Dockerfile, Stage
from stageline.dockerfile.syntax import Instruction


def replace_lines(lines: list[str], first: int, last: int, text: str) -> None:
    """Replace 1-based lines ``first..last`` with ``text`` and blank lines, in place."""
    for number in range(first, last + 1):
        lines[number - 1] = (text if number == first else "") + "\n"


def named_from(stage: Stage) -> str:
    """Return the stage's FROM line with ``AS <name>`` (flags and base as written)."""
    flags = " ".join(stage.instructions[0].flags)
    return " ".join(part for part in ("FROM", flags, stage.base, "AS", stage.name) if part)


def redeclarations(
    dockerfile: Dockerfile, given: Collection[str]
) -> Iterator[tuple[Instruction, list[str], list[str]]]:
    """Yield each global ARG that re-declares, bare, a name with a value, with the words
    it keeps and those it drops; ``given`` are the build args the engine gets.
    """
    valued = set(PLATFORM_ARG_NAMES)  # BuildKit defines them before the first line
    for instruction in dockerfile.parsed.instructions:
        if instruction.cmd == "FROM":
            return
        kept: list[str] = []
        dropped: list[str] = []
        for word in instruction.value:
            name, equals, _ = word.partition("=")
            bare = not equals and name not in given
            (dropped if bare and name in valued else kept).append(word)
            if not bare:
                valued.add(name)
        if dropped:
            yield instruction, kept, dropped


def without_redeclarations(
    lines: list[str], dockerfile: Dockerfile, given: Collection[str]
) -> bool:
    """Turn the bare re-declarations of global ARGs into comments, in place (see the module
    docstring); return whether there were any.
    """
    found = False
    for instruction, kept, dropped in redeclarations(dockerfile, given):
        text = f"ARG {' '.join(kept)}" if kept else ""
        note = f"# ARG {' '.join(dropped)}: left out, so every BuildKit keeps its value (Stageline)"
        replace_lines(lines, instruction.start_line, instruction.end_line, text or note)
        found = True
    return found


def engine_dockerfile(graph: StageGraph, keep: set[str], given: Collection[str] = ()) -> str:
    """Return the Dockerfile text that builds the stages ``keep`` and nothing else, for
    an engine that gets the build args ``given``.
    """
    dockerfile = graph.dockerfile
    stages = dockerfile.stages
    last = max(stage.index for stage in stages if stage.name in keep)
    lines = dockerfile.text.splitlines(keepends=True)
    changed = without_redeclarations(lines, dockerfile, given)
    for stage in stages[: last + 1]:
        if stage.name not in keep:
            region_end = stages[stage.index + 1].line - 1
            replace_lines(lines, stage.line, region_end, f"FROM scratch AS {stage.name}")
            changed = True
        elif not stage.named:
            replace_lines(lines, stage.line, stage.instructions[0].end_line, named_from(stage))
            changed = True
    return "".join(lines) if changed else dockerfile.text
