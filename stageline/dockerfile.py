"""Stage names and order, parsed from the Dockerfile's ``FROM ... AS name`` lines.

The Dockerfile is the single source of stage names: adding a stage there needs no
change anywhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from stageline.errors import DockerfileError

_STAGE_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")
_ESCAPE_DIRECTIVE_RE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Stage:
    """One named stage of the Dockerfile."""

    name: str
    base: str
    line: int


@dataclass(frozen=True)
class DockerfileInfo:
    """What the build needs to know of a Dockerfile."""

    path: Path
    stages: tuple[Stage, ...]
    global_args: tuple[str, ...]

    @property
    def stage_names(self) -> list[str]:
        """Return the stage names in Dockerfile order."""
        return [stage.name for stage in self.stages]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Return ``(first line number, instruction text)`` with continuations joined.

    Comment lines and blank lines are dropped, also inside a continued instruction,
    as Docker does.
    """
    escape = "\\"
    lines = text.splitlines()
    # Parser directives come first; only ``escape`` changes how lines join.
    for raw in lines:
        match = _ESCAPE_DIRECTIVE_RE.match(raw.strip())
        if match:
            escape = match.group(1)
            continue
        break
    result: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and (not stripped or stripped.startswith("#")):
            continue
        if not current:
            start = number
        if stripped.endswith(escape):
            current.append(stripped[: -len(escape)])
            continue
        current.append(stripped)
        result.append((start, " ".join(part.strip() for part in current if part.strip())))
        current = []
    if current:
        result.append((start, " ".join(part.strip() for part in current if part.strip())))
    return result


def parse_dockerfile(text: str, path: Path = Path("Dockerfile")) -> DockerfileInfo:
    """Return the named stages and global build arguments of Dockerfile ``text``."""
    stages: list[Stage] = []
    global_args: list[str] = []
    for line, instruction in logical_lines(text):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            for word in rest.split():
                name = word.split("=", 1)[0]
                if name and not name.startswith("--"):
                    global_args.append(name)
        elif keyword == "FROM":
            words = [word for word in rest.split() if not word.startswith("--")]
            if not words:
                raise DockerfileError(f"{path.name} line {line}: FROM names no image.")
            base = words[0]
            if len(words) == 3 and words[1].upper() == "AS":
                name = words[2].lower()
            elif len(words) == 1:
                raise DockerfileError(
                    f"{path.name} line {line}: 'FROM {base}' has no stage name; write "
                    f"'FROM {base} AS <name>' (Stageline builds and caches stages by name)."
                )
            else:
                raise DockerfileError(
                    f"{path.name} line {line}: cannot read 'FROM {rest}'; "
                    "write 'FROM <image> AS <name>'."
                )
            if not _STAGE_NAME_RE.match(name) or "--" in name or name == "latest":
                raise DockerfileError(
                    f"{path.name} line {line}: stage name {name!r} cannot be used: start "
                    "with a letter, use a-z 0-9 _ . -, no '--', and not 'latest'."
                )
            for earlier in stages:
                if earlier.name == name:
                    raise DockerfileError(
                        f"{path.name} line {line}: stage {name!r} is already defined on "
                        f"line {earlier.line}; give each stage its own name."
                    )
            stages.append(Stage(name=name, base=base, line=line))
    if not stages:
        raise DockerfileError(
            f"{path.name} has no stages: add 'FROM <image> AS <name>' lines, "
            "e.g. build-python, build-node, production."
        )
    return DockerfileInfo(path=path, stages=tuple(stages), global_args=tuple(global_args))


def read_dockerfile(path: Path) -> DockerfileInfo:
    """Return the stages of the Dockerfile at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DockerfileError(
            f"no Dockerfile at {path}: create it, or set STAGELINE_DOCKERFILE to its path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DockerfileError(f"cannot read {path}: {exc}.") from None
    return parse_dockerfile(text, path)
