"""Readers of ``docker buildx build`` progress: which steps ran, which came from cache.

Two formats, one result (:class:`ProgressLog`: the steps of each stage, their cache hits
and the failing step's last lines):

* ``--progress rawjson`` (buildx 0.13 and newer here): BuildKit's own status updates,
  one indented JSON object each. A step is a cache hit when any update of its vertex
  says ``"cached": true``; a hit that had to be downloaded from a registry cache is
  later reported again without that flag, which the plain text then shows as ``DONE``.
  The reader also turns the updates back into readable lines for the job log.
* ``--progress plain``: the text meant for people, for older buildx and for the
  benchmark's hand-written pipelines (``docker build`` prints it).
"""

from __future__ import annotations

import base64
import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from stageline.builders import TAIL_LINES, StageTally

# "[stage 2/5] RUN ...", numbers padded ("[stage  2/10]"); a one-stage Dockerfile leaves
# the stage name out ("[2/5] RUN ..."); a build for several platforms puts the platform
# first ("[linux/arm64 stage 2/5] RUN ..."): a step counts once over its platforms.
STEP_RE = re.compile(
    r"^\[(?:[a-z0-9_]+/[a-z0-9_]+(?:/[a-z0-9_]+)?\s+)?(?:([^\]\s]+)\s+)?\s*(\d+)/(\d+)\] (.*)$",
    re.DOTALL,
)
PLAIN_EVENT_RE = re.compile(r"^#(\d+) (.*)$")
TIMESTAMP_RE = re.compile(r"^\d+\.\d+ ")


@dataclass
class Vertex:
    """One BuildKit step of a stage."""

    stage: str
    instruction: str
    position: str = ""  # "i/n" in the stage, so that two equal instructions stay apart
    cached: bool = False
    error: str | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))

    @property
    def cacheable(self) -> bool:
        """Return whether the step counts as a cacheable step of its stage (not FROM)."""
        return not self.instruction.upper().startswith("FROM ")


def step_of(name: str, target: str) -> Vertex | None:
    """Return the stage step a vertex name describes, or None (``[internal] ...``)."""
    match = STEP_RE.match(name)
    if match is None:
        return None
    stage, index, count, instruction = match.groups()
    name = stage.lower() if stage else target
    return Vertex(name, " ".join(instruction.split()), f"{index}/{count}")


@dataclass
class ProgressLog:
    """What a build's progress said: each step by its id, and text outside any step."""

    target: str
    vertices: dict[str, Vertex] = field(default_factory=dict)
    last_error: str | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))

    def read(self, line: str) -> list[str]:
        """Take one line of output; return the lines to show for it."""
        raise NotImplementedError

    def note_text(self, line: str) -> None:
        """Keep a line that belongs to no step (buildx's own errors and context)."""
        if line.startswith(("ERROR: ", "error: ")):
            self.last_error = line.split(": ", 1)[1]
        self.tail.append(line)

    def tally(self, stage: str) -> StageTally:
        """Return how many of ``stage``'s cacheable steps there were, and cache hits.

        Builds that run at once share BuildKit's solver, and a step they share can show
        under two vertices (one of them ``CACHED`` because the other ran it): a step is
        counted once, and as a cache hit only when none of its vertices ran.
        """
        steps: dict[tuple[str, str], bool] = {}
        for vertex in self.vertices.values():
            if vertex.stage == stage and vertex.cacheable:
                key = (vertex.position, vertex.instruction)
                steps[key] = steps.get(key, True) and vertex.cached
        return StageTally(len(steps), sum(steps.values()))

    def stages(self) -> list[str]:
        """Return the stages that have steps in this build, in the order first seen."""
        return list(dict.fromkeys(vertex.stage for vertex in self.vertices.values()))

    def failure(self, stage: str) -> str:
        """Return the message for a failed build: stage, step and its last lines."""
        for vertex in self.vertices.values():
            if vertex.error:
                lines = [
                    f"build failed in stage {vertex.stage}, step `{vertex.instruction}`: "
                    f"{vertex.error}"
                ]
                if vertex.tail:
                    lines.append("last output:")
                    lines.extend(f"  {line}" for line in vertex.tail)
                return "\n".join(lines)
        reason = self.last_error or "docker buildx build failed"
        lines = [f"build of stage {stage} failed: {reason}"]
        context = [line for line in self.tail if line != f"ERROR: {reason}"][-5:]
        if context:
            lines.append("last output:")
            lines.extend(f"  {line}" for line in context)
        return "\n".join(lines)


@dataclass
class PlainProgress(ProgressLog):
    """Reads ``--progress plain``: ``#N [stage i/n] STEP``, then ``#N ...`` events."""

    def read(self, line: str) -> list[str]:
        """Take one line of output; it is shown as it is."""
        if line.startswith("#") and " [" in line[:8]:
            number, _, name = line[1:].partition(" ")
            step = step_of(name, self.target)
            if step is not None and number.isdigit():
                self.vertices.setdefault(number, step)
                return [line]
        self.note_text(line)
        event = PLAIN_EVENT_RE.match(line)
        if event and event.group(1) in self.vertices:
            self._event(self.vertices[event.group(1)], event.group(2))
        return [line]

    @staticmethod
    def _event(step: Vertex, text: str) -> None:
        if text == "CACHED":
            step.cached = True
        elif text.startswith("ERROR: "):
            step.error = text[len("ERROR: ") :]
        elif not text.startswith(("DONE ", "...")):
            step.tail.append(TIMESTAMP_RE.sub("", text))


@dataclass
class RawjsonProgress(ProgressLog):
    """Reads ``--progress rawjson``: indented JSON status objects between text lines."""

    numbers: dict[str, int] = field(default_factory=dict)  # vertex digest -> "#N"
    finished: set[str] = field(default_factory=set)
    pending: list[str] | None = None  # the lines of an object not yet closed

    def read(self, line: str) -> list[str]:
        """Take one line of output; return readable lines once an object is complete."""
        if self.pending is None and line.startswith("{"):
            self.pending = []
        if self.pending is None:
            self.note_text(line)
            return [line]
        self.pending.append(line)
        if line != "}" and not (len(self.pending) == 1 and line.endswith("}")):
            return []
        text, self.pending = "\n".join(self.pending), None
        try:
            status = json.loads(text)
        except ValueError:
            for kept in text.splitlines():
                self.note_text(kept)
            return text.splitlines()
        return self.status(status) if isinstance(status, dict) else []

    def status(self, status: dict[str, object]) -> list[str]:
        """Take one status update; return its readable lines."""
        shown: list[str] = []
        for vertex in _items(status.get("vertexes")):
            shown += self._vertex(vertex)
        for log in _items(status.get("logs")):
            shown += self._log(log)
        return shown

    def _number(self, digest: str) -> int:
        return self.numbers.setdefault(digest, len(self.numbers) + 1)

    def _vertex(self, vertex: dict[str, object]) -> list[str]:
        digest, name = str(vertex.get("digest", "")), str(vertex.get("name", ""))
        number = self._number(digest)
        step = self.vertices.get(digest)
        if step is None and (step := step_of(name, self.target)) is not None:
            self.vertices[digest] = step
        if step is not None and vertex.get("cached"):
            step.cached = True
        error = vertex.get("error")
        if error and step is not None:
            step.error = str(error)
        if not vertex.get("completed") or digest in self.finished:
            return []
        self.finished.add(digest)
        return [f"#{number} {name}", f"#{number} {_ending(vertex)}"]

    def _log(self, log: dict[str, object]) -> list[str]:
        digest = str(log.get("vertex", ""))
        try:
            data = base64.b64decode(str(log.get("data", ""))).decode("utf-8", "replace")
        except ValueError:
            return []
        lines = [line for line in data.splitlines() if line.strip()]
        if digest in self.vertices:
            self.vertices[digest].tail.extend(lines)
        return [f"#{self._number(digest)} {line}" for line in lines]


def _items(value: object) -> list[dict[str, object]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _ending(vertex: dict[str, object]) -> str:
    """Return how a finished vertex ended, as the plain progress words it."""
    if vertex.get("error"):
        return f"ERROR: {vertex['error']}"
    if vertex.get("cached"):
        return "CACHED"
    try:
        started = datetime.fromisoformat(str(vertex["started"]))
        completed = datetime.fromisoformat(str(vertex["completed"]))
    except (KeyError, ValueError):
        return "DONE"
    return f"DONE {(completed - started).total_seconds():.1f}s"
