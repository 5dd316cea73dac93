"""The classic builder, driven through the docker SDK's low-level API.

Each stage is one ``/build`` call with ``target=<stage>``, every cache source the
plan names as ``cache_from``, and the reproducible context tar. Cache hits are
counted from the engine's own output: a step is a hit when the engine prints
``---> Using cache`` for it.
"""

from __future__ import annotations

import re
from typing import Any

import requests
from docker.errors import APIError, DockerException

from stageline.builders import BuildConfig, Builder, StageTally, StepLog
from stageline.console import Output
from stageline.context import BuildContext
from stageline.engine import api_error_text, no_daemon_message
from stageline.errors import BuildError, DaemonError
from stageline.image_ref import split_image_ref
from stageline.plan import Plan, StagePlan

STEP_RE = re.compile(r"^Step \d+/\d+ : (.*)$")
FROM_AS_RE = re.compile(r"^FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)\s*$", re.IGNORECASE)
CACHED_MARK = "---> Using cache"
# The engine colours a step's stderr with ANSI escapes; they are noise in logs and errors.
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Lines about the engine's own bookkeeping, not the step's output (Docker 26 prints
# "---> Removed intermediate container", older engines "Removing intermediate ...").
NOISE_PREFIXES = (
    "---> Running in ",
    "---> Removed intermediate container ",
    "Removing intermediate container ",
)


def read_classic_line(log: StepLog, line: str) -> None:
    """Update ``log`` with one line of classic-builder output."""
    step = STEP_RE.match(line)
    if step:
        instruction = step.group(1).strip()
        stage = FROM_AS_RE.match(instruction)
        if stage:
            log.start_stage(stage.group(1).lower())
            log.start_step(instruction, cacheable=False)
        elif instruction.upper().startswith("FROM "):
            log.stage = None
            log.start_step(instruction, cacheable=False)
        else:
            log.start_step(instruction)
        return
    stripped = line.strip()
    if stripped == CACHED_MARK:
        log.mark_cached()
    if not stripped.startswith(NOISE_PREFIXES):
        log.remember(line)


class ClassicStream:
    """Turns the engine's build stream into lines, a step log and the image ID.

    Stream chunks are not whole lines; a failed step is an ``error`` chunk, not an
    exception.
    """

    def __init__(self, stage: str, output: Output) -> None:
        self.stage = stage
        self.output = output
        self.log = StepLog()
        self.image_id: str | None = None
        self._pending = ""

    def _emit(self, line: str) -> None:
        read_classic_line(self.log, line)
        self.output.line(line)

    def read(self, chunk: dict[str, Any]) -> None:
        """Take one decoded chunk of the build stream."""
        if "error" in chunk or "errorDetail" in chunk:
            self.flush()
            detail = chunk.get("errorDetail") or {}
            message = str(chunk.get("error") or detail.get("message") or "unknown error")
            raise BuildError(self.log.failure(self.stage, message))
        if "stream" in chunk:
            text = ANSI_RE.sub("", str(chunk["stream"]))
            *lines, self._pending = (self._pending + text).split("\n")
            for line in lines:
                self._emit(line)
        elif "status" in chunk and not chunk.get("progressDetail"):
            # Base-image pulls during the build: one line per layer state change.
            layer = chunk.get("id")
            self.output.line(f"{layer}: {chunk['status']}" if layer else str(chunk["status"]))
        aux = chunk.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            self.image_id = str(aux["ID"])

    def flush(self) -> None:
        """Emit a last line that had no newline."""
        if self._pending:
            self._emit(self._pending)
            self._pending = ""


def classic_build_options(
    config: BuildConfig, plan: Plan, stage: StagePlan, dockerfile: str
) -> dict[str, Any]:
    """Return the engine's ``/build`` options for ``stage`` (all but the context itself).

    ``dockerfile`` is the Dockerfile's name in the context. Without a cache backend
    (the containerd image store, see :mod:`stageline.cache`) no ``cache_from`` is passed.
    """
    use_cache_from = config.cache.backend != "none"
    foreign = stage.platforms != (plan.build_platform,)
    return {
        "custom_context": True,
        "dockerfile": dockerfile,
        "target": stage.name,
        "tag": stage.tags[0],
        "cache_from": (list(stage.cache_from) or None) if use_cache_from else None,
        "buildargs": plan.build_arg_values,
        "labels": dict(stage.labels) or None,
        "nocache": plan.no_cache,
        "pull": plan.no_cache,
        "rm": True,
        "forcerm": True,
        "network_mode": config.settings.build_network,
        **({"platform": stage.platforms[0]} if foreign else {}),
    }


class ClassicBuilder(Builder):
    """Builds stages with the engine's classic builder through the docker SDK.

    On the containerd image store the classic builder cannot use ``--cache-from``
    (see :mod:`stageline.cache`): then the cache choice is ``none`` and none is passed.
    """

    name = "classic"

    def run_build(
        self, plan: Plan, stage: StagePlan, context: BuildContext, output: Output
    ) -> tuple[str, StageTally]:
        """Build ``stage`` through the engine's API, tag it, and return its ID and tally."""
        reader = ClassicStream(stage.name, output)
        options = classic_build_options(self.config, plan, stage, context.dockerfile)
        try:
            stream = self.client.build(fileobj=context.open(), decode=True, **options)
            for chunk in stream:
                reader.read(chunk)
            reader.flush()
        except APIError as exc:
            raise BuildError(reader.log.failure(stage.name, api_error_text(exc))) from None
        except (requests.exceptions.RequestException, DockerException, OSError):
            raise DaemonError(no_daemon_message(self.config.settings.environ)) from None
        if reader.image_id is None:
            raise BuildError(
                f"the engine finished stage {stage.name} without an image ID; "
                "rerun, and check the daemon's log if it repeats."
            )
        self.tag(stage, reader.image_id)
        return reader.image_id, reader.log.tally(stage.name)

    def tag(self, stage: StagePlan, image_id: str) -> None:
        """Give the built image every tag the plan names for ``stage``."""
        try:
            for ref in stage.tags:
                repository, tag = split_image_ref(ref)
                self.client.tag(image_id, repository, tag, force=True)
        except APIError as exc:
            raise DaemonError(f"tagging stage {stage.name} failed: {api_error_text(exc)}") from None
