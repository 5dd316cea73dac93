"""Which build args a build gets, and where each value came from.

Only two sources exist: names the project lists in ``[tool.stageline] build-args``
(read from the environment or ``.env``), and ``--build-arg NAME=VALUE`` on the tasks,
which wins. An environment variable that is not listed never becomes a build arg,
however its name matches an ARG: job images export ``PYTHON_VERSION`` and the like.
Only ARGs the Dockerfile declares, globally or in a planned stage, are passed.
"""

from __future__ import annotations

from dataclasses import dataclass

from stageline.dockerfile import Dockerfile
from stageline.errors import PlanError
from stageline.settings import Settings

FROM_LIST = "environment, listed in [tool.stageline] build-args"
FROM_OPTION = "--build-arg"


@dataclass(frozen=True)
class BuildArg:
    """One build arg's value and its source."""

    name: str
    value: str
    source: str


def parse_build_arg(text: str) -> tuple[str, str]:
    """Return ``(name, value)`` of ``NAME=VALUE``, or raise PlanError."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise PlanError(f"--build-arg {text!r} is not NAME=VALUE; write e.g. --build-arg A=1.")
    return name.strip(), value


def offered_build_args(settings: Settings, options: tuple[tuple[str, str], ...]) -> list[BuildArg]:
    """Return the listed names set in the environment, overridden by ``--build-arg``."""
    offered = {
        name: BuildArg(name, settings.environ[name], FROM_LIST)
        for name in settings.build_arg_names
        if settings.environ.get(name)
    }
    for name, value in options:
        offered[name] = BuildArg(name, value, FROM_OPTION)
    return list(offered.values())


def declared_args(dockerfile: Dockerfile, stages: set[str]) -> set[str]:
    """Return the ARG names declared globally or in ``stages``."""
    names = {arg.name for arg in dockerfile.global_args}
    for stage in dockerfile.stages:
        if stage.name in stages:
            names.update(arg.name for arg in stage.args)
    return names


def choose_build_args(
    dockerfile: Dockerfile, stages: set[str], offered: list[BuildArg]
) -> list[BuildArg]:
    """Return the offered build args the planned stages declare, sorted by name.

    A ``--build-arg`` that no planned ARG declares is refused; a listed name that
    none declares is left out.
    """
    declared = declared_args(dockerfile, stages)
    for arg in offered:
        if arg.source == FROM_OPTION and arg.name not in declared:
            raise PlanError(
                f"--build-arg {arg.name}: no ARG {arg.name} in the Dockerfile's global scope "
                "or the stages this build plans; declare it, or drop the option."
            )
    return sorted((arg for arg in offered if arg.name in declared), key=lambda arg: arg.name)
