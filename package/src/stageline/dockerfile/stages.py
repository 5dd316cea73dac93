"""Instructions -> stages, as BuildKit's ``instructions`` package groups them.

A stage starts at each ``FROM``; ``ARG`` lines before the first ``FROM`` are global.
A stage's name is its ``AS`` name in lower case, or ``stage-N`` (its index) when it
has none, as BuildKit names it. What refers to another stage (``FROM``, ``COPY
--from``, ``RUN --mount=...,from=``) is kept as written; :mod:`graph` resolves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from stageline.dockerfile.syntax import Instruction, ParsedDockerfile
from stageline.dockerfile.words import expand_word
from stageline.errors import DockerfileError

VALID_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
INSTRUCTIONS = frozenset(
    (
        *("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK"),
        *("LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME"),
        "WORKDIR",
    )
)
# Flags the classic builder does not have: such a Dockerfile needs BuildKit.
BUILDKIT_FLAGS = {
    "RUN": ("mount", "network", "security", "device"),
    "COPY": ("link", "chmod", "parents", "exclude"),
    "ADD": ("link", "chmod", "checksum", "keep-git-dir", "exclude", "unpack"),
}


@dataclass(frozen=True)
class Arg:
    """One ``ARG`` name, with its default as written (None: no default)."""

    name: str
    default: str | None
    line: int


@dataclass(frozen=True)
class Reference:
    """A reference to another stage or an image: ``COPY --from`` or a mount's ``from``."""

    target: str
    line: int
    by_index: bool  # COPY --from accepts a stage index; mounts take names only


@dataclass(frozen=True)
class Stage:
    """One stage of the Dockerfile."""

    index: int
    name: str
    named: bool
    base: str  # the FROM image or stage as written, before ARG expansion
    platform: str | None
    line: int
    end_line: int
    args: tuple[Arg, ...]
    references: tuple[Reference, ...]
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class BuildkitFeature:
    """Syntax only BuildKit builds, and where it is."""

    line: int
    what: str


def flag_values(instruction: Instruction, name: str) -> list[str]:
    """Return the values of ``--name=value`` flags of ``instruction``."""
    values = []
    for flag in instruction.flags:
        key, _, value = flag[2:].partition("=")
        if key == name:
            values.append(value)
    return values


def flag_names(instruction: Instruction) -> list[str]:
    """Return the names of the flags of ``instruction``."""
    return [flag[2:].partition("=")[0] for flag in instruction.flags]


def read_args(instruction: Instruction) -> list[Arg]:
    """Return the names and defaults an ``ARG`` instruction declares."""
    if not instruction.value:
        raise DockerfileError(f"line {instruction.start_line}: ARG requires at least one argument")
    args = []
    for word in instruction.value:
        name, equals, default = word.partition("=")
        if not name:
            raise DockerfileError(f"line {instruction.start_line}: ARG names can not be blank")
        args.append(Arg(name, default if equals else None, instruction.start_line))
    return args


def stage_name(instruction: Instruction, index: int) -> tuple[str, bool]:
    """Return ``(name, named)`` of the stage a ``FROM`` starts, as BuildKit names it."""
    words = instruction.value
    line = instruction.start_line
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not VALID_STAGE_NAME.match(name):
            raise DockerfileError(
                f"line {line}: invalid name for build stage: {words[2]!r}, "
                "name can't start with a number or contain symbols"
            )
        return name, True
    if len(words) != 1:
        raise DockerfileError(f"line {line}: FROM requires either one or three arguments")
    return f"stage-{index}", False


def mount_sources(instruction: Instruction) -> list[Reference]:
    """Return the ``from=`` of each ``RUN --mount`` (a stage name or an image)."""
    references = []
    for mount in flag_values(instruction, "mount"):
        for field in mount.split(","):
            key, _, value = field.partition("=")
            if key.strip().lower() != "from" or not value:
                continue
            if "$" in value[:-1]:
                raise DockerfileError(
                    f"line {instruction.start_line}: 'from' doesn't support variable "
                    "expansion, define alias stage instead"
                )
            references.append(Reference(value, instruction.start_line, by_index=False))
    return references


def copy_sources(instruction: Instruction) -> list[Reference]:
    """Return the ``--from`` of a ``COPY`` (a stage name, a stage index or an image)."""
    if instruction.cmd == "ADD" and flag_values(instruction, "from"):
        raise DockerfileError(f"line {instruction.start_line}: unknown flag: from")
    references = []
    for value in flag_values(instruction, "from") if instruction.cmd == "COPY" else []:
        if expand_word(value, {}) != value:
            raise DockerfileError(
                f"line {instruction.start_line}: variable expansion is not supported for "
                "--from, define a new stage with FROM using ARG from global scope as a workaround"
            )
        references.append(Reference(value, instruction.start_line, by_index=value.isdigit()))
    return references


def buildkit_features(instruction: Instruction) -> list[BuildkitFeature]:
    """Return what in ``instruction`` only BuildKit builds (flags, heredocs)."""
    line = instruction.start_line
    found = [
        BuildkitFeature(line, f"{instruction.cmd} --{name}")
        for name in dict.fromkeys(flag_names(instruction))
        if name in BUILDKIT_FLAGS.get(instruction.cmd, ())
    ]
    if instruction.heredocs:
        found.append(BuildkitFeature(line, f"{instruction.cmd} with a heredoc (<<)"))
    if any("type=secret" in mount.lower() for mount in flag_values(instruction, "mount")):
        found.insert(0, BuildkitFeature(line, "RUN --mount=type=secret (a build secret)"))
    return found


@dataclass(frozen=True)
class Dockerfile:
    """A Dockerfile read as BuildKit reads it: directives, global ARGs and stages."""

    text: str
    parsed: ParsedDockerfile
    global_args: tuple[Arg, ...]
    stages: tuple[Stage, ...]

    @property
    def stage_names(self) -> list[str]:
        """Return the stage names in Dockerfile order (``stage-N`` for unnamed ones)."""
        return [stage.name for stage in self.stages]

    def buildkit_features(self, names: set[str] | None = None) -> list[BuildkitFeature]:
        """Return what only BuildKit builds, in the stages ``names`` (default: all)."""
        found = []
        if "syntax" in self.parsed.directives:
            found.append(BuildkitFeature(1, "the # syntax= directive"))
        for stage in self.stages:
            if names is None or stage.name in names:
                for instruction in stage.instructions:
                    found.extend(buildkit_features(instruction))
        return found


def start_stage(instruction: Instruction, index: int) -> Stage:
    """Return the (still empty) stage that the ``FROM`` ``instruction`` starts."""
    name, named = stage_name(instruction, index)
    platforms = flag_values(instruction, "platform")
    return Stage(
        index=index,
        name=name,
        named=named,
        base=instruction.value[0] if instruction.value else "",
        platform=platforms[-1] if platforms else None,
        line=instruction.start_line,
        end_line=instruction.end_line,
        args=(),
        references=(),
        instructions=(instruction,),
    )


def add_instruction(stage: Stage, instruction: Instruction) -> Stage:
    """Return ``stage`` with ``instruction`` appended (its ARGs and references noted)."""
    args = read_args(instruction) if instruction.cmd == "ARG" else []
    references = copy_sources(instruction) + mount_sources(instruction)
    return replace(
        stage,
        end_line=instruction.end_line,
        args=stage.args + tuple(args),
        references=stage.references + tuple(references),
        instructions=(*stage.instructions, instruction),
    )


def check_instruction(instruction: Instruction, in_stage: bool) -> None:
    """Raise DockerfileError where BuildKit refuses ``instruction`` before building."""
    line = instruction.start_line
    if instruction.cmd not in INSTRUCTIONS:
        raise DockerfileError(f"line {line}: unknown instruction: {instruction.cmd}")
    if not in_stage and instruction.cmd not in ("ARG", "FROM"):
        raise DockerfileError(
            f"line {line}: no build stage in current context: {instruction.cmd} comes before "
            "the first FROM (only ARG may)"
        )
    if instruction.cmd == "FROM" and not instruction.value:
        raise DockerfileError(f"line {line}: FROM requires either one or three arguments")


def read_stages(text: str, parsed: ParsedDockerfile) -> Dockerfile:
    """Return the global ARGs and the stages of a parsed Dockerfile."""
    global_args: list[Arg] = []
    stages: list[Stage] = []
    for instruction in parsed.instructions:
        check_instruction(instruction, in_stage=bool(stages))
        if instruction.cmd == "FROM":
            stages.append(start_stage(instruction, len(stages)))
        elif not stages:
            global_args.extend(read_args(instruction))
        else:
            stages[-1] = add_instruction(stages[-1], instruction)
    if not stages:
        raise DockerfileError("has no FROM: add 'FROM <image>' to start a stage")
    return Dockerfile(text, parsed, tuple(global_args), tuple(stages))
