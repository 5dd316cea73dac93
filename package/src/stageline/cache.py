"""Which cache a build writes and reads.

* **inline**: BuildKit, on every engine. Each stage image carries the cache of its own
  steps (``BUILDKIT_INLINE_CACHE=1``), and a build reads it from the stage tags it may
  read (its own, then the default branch's). Every stage is pushed, so the stage tags
  are the whole cache: a separate registry cache export (``--cache-to
  type=registry,mode=max``, which 2.0 wrote per stage) would upload the same layers'
  cache again, and reading it back gave nothing the stage tags do not (see the
  benchmark's notes on the levers).
* **images**: the classic builder uses pulled stage images as ``--cache-from``.
* **none**: the classic builder on the containerd image store. Docker Engine (26.1 at
  least) then fails a step that makes no layer (``ENV``, ``ARG``...) when its cache match
  is a ``--cache-from`` image ("failed to restore cached image ... failed validation"),
  so the classic builder builds without them there: use BuildKit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"


@dataclass(frozen=True)
class CacheChoice:
    """The cache backend of a build, and why."""

    backend: str  # "inline", "images" or "none"
    reason: str


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


def choose_cache(builder: str, info: Mapping[str, object] | None) -> CacheChoice:
    """Return the cache backend for ``builder`` on an engine whose ``/info`` is ``info``.

    BuildKit reads and writes inline cache on every engine: each stage image carries the
    cache of its own steps, so the stage tags it pushes are the whole cache and no
    separate export is written (measured: benchmarks/results, the cache-export lever).
    """
    if builder == "classic":
        return classic_cache(info)
    return CacheChoice("inline", "each stage image carries its own steps' cache")
