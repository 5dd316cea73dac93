"""Choosing and making a builder: ``--builder``, ``STAGELINE_BUILDER`` or auto.

``auto`` picks BuildKit when the docker CLI has buildx, else the classic builder; a plan
that needs BuildKit (build secrets, BuildKit-only Dockerfile syntax, a planned stage that
reads BuildKit's automatic platform args, which the classic builder leaves empty) always
gets it, and asking for the classic builder then is an error that says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from docker import APIClient

from stageline.builders import BuildConfig, Builder
from stageline.builders.buildkit import INSTALL_HINT, BuildkitBuilder, buildx_version, progress_mode
from stageline.builders.classic import ClassicBuilder
from stageline.cache import CacheChoice, uses_containerd_store
from stageline.errors import BuilderUnavailableError, PlanError
from stageline.plan import Plan
from stageline.settings import BUILDERS, Settings


@dataclass(frozen=True)
class BuilderChoice:
    """Which builder a run uses, and why.

    ``buildx`` is the (major, minor) version of the docker CLI's buildx, asked once while
    choosing (None where buildx was not asked about or is missing); the BuildKit builder
    reads its progress by it.
    """

    name: str
    reason: str
    buildx: tuple[int, int] | None = None


def classic_refusal(settings: Settings, plan: Plan) -> str | None:
    """Return why the classic builder cannot build ``plan``, or None when it can."""
    if len(plan.platforms) > 1:
        return (
            f"building for {', '.join(plan.platforms)} at once (one image index) needs "
            "BuildKit; the classic builder builds one platform"
        )
    if plan.secrets:
        ids = ", ".join(secret.id for secret in plan.secrets)
        return f"build secrets ({ids}) reach a build only through BuildKit"
    if not plan.buildkit_features:
        return None
    feature = plan.buildkit_features[0]
    name = settings.dockerfile.name
    return f"{name} line {feature.line} uses {feature.what}, which needs BuildKit"


def choose_builder(settings: Settings, plan: Plan, requested: str | None = None) -> BuilderChoice:
    """Return the builder to use: ``--builder``, else ``STAGELINE_BUILDER``, else auto.

    ``auto`` picks BuildKit when the docker CLI has buildx, else the classic builder;
    a Dockerfile with BuildKit-only syntax always gets BuildKit.
    """
    wanted = (requested or settings.builder).lower()
    if wanted not in BUILDERS:
        raise PlanError(f"unknown builder {wanted!r}; use one of {', '.join(BUILDERS)}.")
    needs_buildkit = classic_refusal(settings, plan)
    if wanted == "classic":
        if needs_buildkit:
            raise BuilderUnavailableError(f"--builder classic: {needs_buildkit}; use BuildKit.")
        return BuilderChoice("classic", "asked for")
    buildx, missing = buildx_version(settings.environ)
    if missing and (wanted == "buildkit" or needs_buildkit):
        why = "--builder buildkit" if wanted == "buildkit" else needs_buildkit
        raise BuilderUnavailableError(f"{why}: {missing}; {INSTALL_HINT}")
    if wanted == "buildkit":
        return BuilderChoice("buildkit", "asked for", buildx)
    if needs_buildkit:
        return BuilderChoice("buildkit", f"auto: {needs_buildkit}", buildx)
    if missing:
        return BuilderChoice("classic", f"auto: {missing}")
    return BuilderChoice("buildkit", "auto: the docker CLI has buildx", buildx)


def make_builder(
    choice: BuilderChoice, settings: Settings, client: APIClient, cache: CacheChoice
) -> Builder:
    """Return the builder object for ``choice``."""
    if choice.name == "buildkit":
        return BuildkitBuilder(client, BuildConfig(settings, cache, progress_mode(choice.buildx)))
    return ClassicBuilder(client, BuildConfig(settings, cache))


def multi_platform_refusal(plan: Plan, info: Mapping[str, object] | None) -> str | None:
    """Return why the engine cannot take a build of several platforms, or None.

    BuildKit's docker driver writes an image index only into the containerd image
    store (Docker Desktop, Docker 29's new installs; ``containerd-snapshotter`` in
    daemon.json); the classic store keeps one platform per tag.
    """
    if not plan.multi_platform or info is None or uses_containerd_store(info):
        return None
    return (
        f"building for {', '.join(plan.platforms)} at once needs the engine's containerd "
        'image store: set {"features": {"containerd-snapshotter": true}} in daemon.json, '
        "or build each platform in its own job (--platform)."
    )
