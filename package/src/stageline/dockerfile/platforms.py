"""BuildKit's automatic platform args: the values ``FROM`` sees before any global ARG.

As BuildKit's ``defaultArgs`` (``frontend/dockerfile/dockerfile2llb/platform.go``):

* ``BUILDPLATFORM BUILDOS BUILDOSVERSION BUILDARCH BUILDVARIANT`` describe the platform
  the build runs on, and ``TARGETPLATFORM TARGETOS TARGETOSVERSION TARGETARCH
  TARGETVARIANT`` the platform it builds for. They are defined in the global scope,
  before the Dockerfile's own global ARGs.
* A build arg of the same name replaces the value (``defaultArgs``' overrides), even
  without an ``ARG`` for it in the global scope.
* A global ``ARG TARGETPLATFORM=...`` with a default replaces it for the lines below, as
  any global ARG does (``buildMetaArgs``); a bare global ``ARG TARGETPLATFORM`` keeps it
  (BuildKit 0.13, Docker 26's, empties it instead: the engine's Dockerfile leaves such a
  line out, see :mod:`stageline.dockerfile.rewrite`).
* A stage sees them only after a bare ``ARG NAME``, which takes the global value
  (``dispatchArg``).
* Without a target platform the build platform is the target (``buildPlatformOpt``), and
  the build platform is the engine's own. The classic builder defines none of them.

``TARGETSTAGE`` (Dockerfile frontend 1.11) is left out: Stageline builds each stage with
its own ``--target``, so its value would differ from one engine build to the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stageline.errors import DockerfileError

BUILD_ARG_NAMES = ("BUILDPLATFORM", "BUILDOS", "BUILDOSVERSION", "BUILDARCH", "BUILDVARIANT")
TARGET_ARG_NAMES = ("TARGETPLATFORM", "TARGETOS", "TARGETOSVERSION", "TARGETARCH", "TARGETVARIANT")
PLATFORM_ARG_NAMES = frozenset(BUILD_ARG_NAMES + TARGET_ARG_NAMES)
PART_RE = re.compile(r"^[a-z0-9_.]+$")  # an OS, architecture or variant name


@dataclass(frozen=True)
class Platform:
    """An OS, architecture and variant, as in ``linux/arm/v7``."""

    os: str
    arch: str
    variant: str = ""

    def __str__(self) -> str:
        """Return the platform as ``os/arch[/variant]`` (containerd's ``platforms.Format``)."""
        return "/".join(part for part in (self.os, self.arch, self.variant) if part)


DEFAULT_PLATFORM = Platform("linux", "amd64")


@dataclass(frozen=True)
class BuildPlatforms:
    """The platform a build runs on and the one it builds for (one per engine build)."""

    build: Platform = DEFAULT_PLATFORM
    target: Platform | None = None  # None: the build platform, as in BuildKit

    @property
    def target_platform(self) -> Platform:
        """Return the platform the build is for."""
        return self.target or self.build


DEFAULT_PLATFORMS = BuildPlatforms()  # linux/amd64 where nothing else is known


def parse_platform(text: str) -> Platform:
    """Return the platform ``os/arch[/variant]`` names, or raise DockerfileError."""
    parts = text.strip().lower().split("/")
    if not 2 <= len(parts) <= 3 or not all(PART_RE.match(part) for part in parts):
        raise DockerfileError(f"{text!r} is not a platform; write it as os/arch[/variant]")
    return Platform(*parts)


def platform_args(platforms: BuildPlatforms) -> dict[str, str]:
    """Return BuildKit's automatic platform args and their values for ``platforms``."""
    values: dict[str, str] = {}
    for names, platform in (
        (BUILD_ARG_NAMES, platforms.build),
        (TARGET_ARG_NAMES, platforms.target_platform),
    ):
        whole, os_name, os_version, arch, variant = names
        values |= {whole: str(platform), os_name: platform.os, os_version: ""}
        values |= {arch: platform.arch, variant: platform.variant}
    return values
