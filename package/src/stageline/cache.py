"""Which cache a build writes and reads: registry cache where the engine can export it.

* **registry**: BuildKit exports each stage's cache, every intermediate step included
  (``mode=max``), to ``IMAGE/cache:<stage tag>`` and reads it back lazily, layer by
  layer, so nothing needs pulling first. BuildKit's built-in ``docker`` driver can do
  this only on an engine with the containerd image store.
* **inline**: BuildKit on the classic image store writes cache metadata into each
  stage image (``BUILDKIT_INLINE_CACHE=1``) and reads it from the stage tags.
* **images**: the classic builder uses pulled stage images as ``--cache-from``.
* **none**: the classic builder on the containerd image store. Docker Engine (26.1 at
  least) then fails a step that makes no layer (``ENV``, ``ARG``...) when its cache match
  is a ``--cache-from`` image ("failed to restore cached image ... failed validation"),
  so the classic builder builds without them there: use BuildKit.

Cache refs follow the stage tags' rules: a branch writes only its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stageline.image_ref import names_registry_host
from stageline.plan import Plan

CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"


@dataclass(frozen=True)
class CacheChoice:
    """The cache backend of a build, and why."""

    backend: str  # "registry", "inline" or "images"
    reason: str

    @property
    def registry(self) -> bool:
        """Return whether BuildKit exports registry cache."""
        return self.backend == "registry"


def uses_containerd_store(info: Mapping[str, object]) -> bool:
    """Return whether the engine's ``/info`` says it stores images in containerd."""
    status = info.get("DriverStatus")
    pairs = status if isinstance(status, list) else []
    return ["driver-type", CONTAINERD_SNAPSHOTTER] in [list(pair) for pair in pairs]


def classic_cache(info: Mapping[str, object] | None) -> CacheChoice:
    """Return the classic builder's cache: the pulled stage images, except on containerd."""
    if info is not None and uses_containerd_store(info):
        return CacheChoice(
            "none",
            "the classic builder cannot restore cached steps from pulled images on the "
            "containerd image store (a Docker Engine bug: 'failed to restore cached image'); "
            "use --builder buildkit for the registry cache",
        )
    return CacheChoice("images", "the classic builder reads the pulled stage images")


def choose_cache(builder: str, plan: Plan, info: Mapping[str, object] | None) -> CacheChoice:
    """Return the cache backend for ``builder`` on an engine whose ``/info`` is ``info``."""
    if builder == "classic":
        return classic_cache(info)
    if not names_registry_host(plan.image):
        return CacheChoice("inline", f"{plan.image} names no registry host to export cache to")
    if info is None:
        return CacheChoice("inline", "no engine answered, so registry cache export is unknown")
    if uses_containerd_store(info):
        return CacheChoice(
            "registry", "the engine uses the containerd image store, so BuildKit exports it"
        )
    return CacheChoice(
        "inline",
        "the engine's classic image store cannot export registry cache (docker driver); "
        "each stage tag carries inline cache",
    )
