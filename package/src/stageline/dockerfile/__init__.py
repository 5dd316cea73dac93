"""The Dockerfile, read as BuildKit reads it: the single source of stage names.

``syntax`` turns text into instructions (BuildKit's parser rules), ``words`` expands
ARGs in a word (BuildKit's shell lexer), ``stages`` groups instructions into stages,
``graph`` resolves which stage needs which, and ``rewrite`` makes the text the
engine builds. Adding a stage to the Dockerfile needs no change anywhere else.
"""

from __future__ import annotations

from pathlib import Path

from stageline.dockerfile.graph import StageGraph, StageNode, stage_graph
from stageline.dockerfile.stages import Dockerfile, Stage, read_stages
from stageline.dockerfile.syntax import parse_text
from stageline.errors import DockerfileError

__all__ = [
    "Dockerfile",
    "Stage",
    "StageGraph",
    "StageNode",
    "parse_dockerfile",
    "read_dockerfile",
    "stage_graph",
]


def parse_dockerfile(text: str, path: Path = Path("Dockerfile")) -> Dockerfile:
    """Return the stages of Dockerfile ``text``; errors name ``path`` and the line."""
    try:
        return read_stages(text, parse_text(text))
    except DockerfileError as exc:
        raise DockerfileError(f"{path.name} {exc}") from None


def read_dockerfile(path: Path) -> Dockerfile:
    """Return the stages of the Dockerfile at ``path``."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DockerfileError(
            f"no Dockerfile at {path}: create it, or set STAGELINE_DOCKERFILE to its path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DockerfileError(f"cannot read {path}: {exc}.") from None
    return parse_dockerfile(text, path)
