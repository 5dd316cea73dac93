"""The classic builder, driven through the docker SDK's low-level API.

Each stage is one ``/build`` call with ``target=<stage>``, every cache source the
plan names as ``cache_from``, and the reproducible context tar. Cache hits are
counted from the engine's own output: a step is a hit when the engine prints
``---> Using cache`` for it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import requests
from docker import APIClient
from docker.errors import APIError, DockerException

from stageline.builders import StepLog
from stageline.context import BuildContext
from stageline.engine import api_error_text, no_daemon_message
from stageline.errors import BuildError, DaemonError
from stageline.image_ref import split_image_ref
from stageline.plan import Plan, StagePlan
from stageline.report import Output, StageResult

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


class ClassicBuilder:
    """Builds stages with the engine's classic builder through the docker SDK."""

    name = "classic"

    def __init__(
        self,
        client: APIClient,
        environ: Mapping[str, str],
        network: str | None = None,
        use_cache_from: bool = True,
    ) -> None:
        self.client = client
        self.environ = environ
        self.network = network
        self.use_cache_from = use_cache_from

    def solve_together(
        self, plan: Plan, stages: list[StagePlan], context: BuildContext, output: Output
    ) -> None:
        """Do nothing: the classic builder builds one stage per request."""

    def build_stage(
        self, plan: Plan, stage: StagePlan, context: BuildContext, output: Output
    ) -> StageResult:
        """Build ``stage`` with its cache sources, tag it per the plan, and report it."""
        started = time.monotonic()
        reader = ClassicStream(stage.name, output)
        try:
            stream = self.client.build(
                fileobj=context.open(),
                custom_context=True,
                dockerfile=context.dockerfile,
                target=stage.name,
                tag=stage.tags[0],
                cache_from=(list(stage.cache_from) or None) if self.use_cache_from else None,
                buildargs=plan.build_arg_values,
                labels=dict(stage.labels) or None,
                nocache=plan.no_cache,
                pull=plan.no_cache,
                rm=True,
                forcerm=True,
                network_mode=self.network,
                decode=True,
            )
            for chunk in stream:
                reader.read(chunk)
            reader.flush()
        except APIError as exc:
            raise BuildError(reader.log.failure(stage.name, api_error_text(exc))) from None
        except (requests.exceptions.RequestException, DockerException, OSError):
            raise DaemonError(no_daemon_message(self.environ)) from None
        if reader.image_id is None:
            raise BuildError(
                f"the engine finished stage {stage.name} without an image ID; "
                "rerun, and check the daemon's log if it repeats."
            )
        image_id = reader.image_id
        try:
            for ref in stage.tags:
                repository, tag = split_image_ref(ref)
                self.client.tag(image_id, repository, tag, force=True)
            size = int(self.client.inspect_image(image_id).get("Size", 0))
        except APIError as exc:
            raise DaemonError(f"tagging stage {stage.name} failed: {api_error_text(exc)}") from None
        tally = reader.log.tally(stage.name)
        return StageResult(
            name=stage.name,
            tags=list(stage.tags),
            cache_from=list(stage.cache_from),
            steps=tally.steps,
            cached_steps=tally.cached,
            seconds=time.monotonic() - started,
            image_id=image_id,
            size_bytes=size,
        )
