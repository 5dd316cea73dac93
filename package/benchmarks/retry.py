"""When a failed benchmark run runs once more: only after its registry answered a 5xx.

Why: the full run of 2026-12 stopped after two of its three repetitions, when the
benchmark's own registry answered a ``docker push`` of ``multistage-latest`` with ``500
Internal Server Error``, ``err.detail="invalid checksum digest format"``. The cause,
reproduced on this machine (registry ``docker-registry`` 2.8.2+ds1, the newest Debian has
is trixie's 2.8.3; Docker 26.1.5 with the containerd image store):

* One ``docker push IMAGE:TAG`` of an image BuildKit built writes the tag three times
  at once. BuildKit adds a provenance attestation by default, so the image is an index
  of two manifests (the image's and the attestation's), and the engine's containerd
  pusher sends every manifest of it to ``/v2/<repo>/manifests/<TAG>``, not only the
  index: the registry's access log of one such push shows ``HEAD manifests/TAG`` twice,
  ``PUT manifests/TAG`` twice side by side, then ``HEAD`` and ``PUT`` again for the index.
  BuildKit's own ``--push`` on the docker driver hands the push to the engine too (its
  log says "pushing IMAGE:TAG with docker").
* Distribution 2.8's filesystem storage driver writes a tag's link file in place:
  ``PutContent`` opens it, truncates it to 0 bytes, then writes the digest. A ``HEAD`` or
  ``GET`` of the tag that reads the file in between reads an empty digest, which
  go-digest refuses with "invalid checksum digest format", and the registry answers 500.
  Two threads PUTting a manifest to one tag while two others HEAD it gave 131 answers 500
  with that detail out of 1,200 HEADs here. Distribution fixed it in v3 (issue #4489
  "Registry may have empty manifest or link files"; PR #4624 writes a temporary file and
  renames it), which Debian does not package.

So it is the loopback registry's race, hit by the engine's push, not a fault of the
pipeline being measured; a storage backend that replaces an object whole on write has no
such window.
Any variant can hit it: each push of a BuildKit-built image risks one, and a full run
makes a few hundred. The run survives it without hiding anything:

* only a failed run whose stretch of the registry's log holds a 5xx answer runs again,
  and only once; any other failure (a build error, a refused push, a Stageline error)
  stops the benchmark at once, as before;
* the second attempt starts as the first did: the runner is purged again and the
  variant's repositories in the registry are put back as they were before the first
  attempt (registry.py), so its bytes are not lowered by what the failed attempt left;
* a run that needed a retry says so: ``RunResult.retries`` and the reasons go into
  results.json, results.md shows them beside the run's row, and each Stageline variant
  has a target "no run needed a retry"; if the second attempt fails too, the benchmark
  stops with both failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_RETRIES = 1  # a run that fails twice stops the benchmark


@dataclass(frozen=True)
class Failure:
    """One failed attempt of a run: what failed, and the registry's 5xx answers meanwhile."""

    error: str
    registry_errors: tuple[str, ...] = ()


def retry_reason(failures: Sequence[Failure]) -> str | None:
    """Return why a run that failed may run once more, or None: its failure stands.

    A run may run again when its latest attempt failed while the registry answered a 5xx,
    and it has not run again yet.
    """
    if not failures or len(failures) > MAX_RETRIES:
        return None
    errors = failures[-1].registry_errors
    if not errors:
        return None
    more = f" (and {len(errors) - 1} more 5xx)" if len(errors) > 1 else ""
    return f"the registry answered {errors[0]}{more}"


def failure_message(what: str, failures: Sequence[Failure]) -> str:
    """Return the error of a run whose failure stands: every attempt, the last in full."""
    if len(failures) == 1:
        return f"{what} failed: {failures[0].error}"
    earlier = "; ".join(
        f"attempt {number}: {(failure.registry_errors or (failure.error[-200:],))[0]}"
        for number, failure in enumerate(failures[:-1], start=1)
    )
    return (
        f"{what} failed {len(failures)} times ({earlier}); attempt {len(failures)}: "
        f"{failures[-1].error}"
    )
