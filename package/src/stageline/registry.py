"""Login, pull and push with progress; every stream chunk is checked for errors.

docker-py's ``pull`` and ``push`` streams report failures (bad credentials, a
missing tag, a registry that went away) as chunks and raise nothing, so each chunk
is inspected. Pulls are best effort (a missing cache is normal on a first build);
pushes are retried with backoff and then fail loudly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import requests
from docker import APIClient
from docker.errors import APIError, DockerException, NotFound
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

from stageline.console import Output
from stageline.engine import api_error_text
from stageline.errors import DaemonError, RegistryAuthError, RegistryError
from stageline.image_ref import registry_of, split_image_ref
from stageline.registry_errors import RegistryFailed, RegistryFailure, from_chunk, from_engine
from stageline.settings import Settings

# The pushed manifest's digest. The classic image store also sends it as ``aux``; the
# containerd image store (Docker 26) sends only this status line.
PUSHED_DIGEST_RE = re.compile(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+$")
DONE_STATUSES = MappingProxyType(
    {
        "Pushed": "pushed",
        "Layer already exists": "already present",
        "Pull complete": "pulled",
        "Already exists": "already present",
    }
)


@dataclass
class PullOutcome:
    """What happened to one cache source."""

    ref: str
    status: str  # pulled | missing | unreachable | denied
    detail: str = ""
    bytes: int = 0  # of the layers downloaded, as the engine reported their sizes


@dataclass
class PushOutcome:
    """What one pushed tag wrote."""

    ref: str
    digest: str = ""
    layers_pushed: int = 0
    layers_present: int = 0
    bytes_pushed: int = 0  # of the layers uploaded, as the engine reported their sizes


@dataclass
class LayerStream:
    """Shows a push or pull stream: progress bars on a terminal, plain lines in a log."""

    output: Output
    progress: Progress | None = None
    tasks: dict[str, TaskID] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    digest: str = ""

    def read(self, chunk: dict[str, Any]) -> None:
        """Take one decoded chunk; raise RegistryFailed on an error chunk."""
        if "error" in chunk or "errorDetail" in chunk:
            raise RegistryFailed(from_chunk(chunk))
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            self.digest = str(aux["Digest"])
        status = str(chunk.get("status", ""))
        pushed = PUSHED_DIGEST_RE.match(status)
        if pushed and not self.digest:
            self.digest = pushed.group(1)
        layer = chunk.get("id")
        if not layer or not status:
            return
        layer = str(layer)
        total = (chunk.get("progressDetail") or {}).get("total")
        if isinstance(total, int) and total > self.sizes.get(layer, 0):
            self.sizes[layer] = total
        if status in DONE_STATUSES:
            self.states[layer] = DONE_STATUSES[status]
            if self.progress is None:
                self.output.line(f"  {layer}: {DONE_STATUSES[status]}")
        elif status.startswith("Mounted from"):
            self.states[layer] = "already present"
        if self.progress is not None:
            self._advance(layer, status, chunk.get("progressDetail") or {})

    def _advance(self, layer: str, status: str, detail: dict[str, Any]) -> None:
        assert self.progress is not None
        task = self.tasks.get(layer)
        if task is None:
            task = self.progress.add_task(layer, total=None, status=status)
            self.tasks[layer] = task
        current, total = detail.get("current"), detail.get("total")
        # Chunks sometimes lack ``total`` or overshoot it; never let the bar go backwards.
        if isinstance(total, int) and total > 0:
            shown = min(int(current or 0), total)
            self.progress.update(task, total=total, completed=shown, status=status)
        else:
            self.progress.update(task, status=status)
        if layer in self.states:
            finished = self.progress.tasks[task].total or 1
            self.progress.update(task, total=finished, completed=finished)

    def count(self, state: str) -> int:
        """Return how many layers ended in ``state``."""
        return sum(1 for value in self.states.values() if value == state)

    def bytes(self, state: str) -> int:
        """Return the bytes of the layers that ended in ``state`` (sizes the engine gave)."""
        return sum(
            self.sizes.get(layer, 0) for layer, value in self.states.items() if value == state
        )


@contextmanager
def layer_stream(output: Output) -> Iterator[LayerStream]:
    """Yield a LayerStream with live bars when the output is a terminal."""
    if not output.interactive:
        yield LayerStream(output)
        return
    progress = Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[status]}"),
        console=output.console,
        transient=True,
    )
    with progress:
        yield LayerStream(output, progress)


def login(client: APIClient, settings: Settings, output: Output) -> None:
    """Log in to ``CI_REGISTRY`` when credentials are set; never show the password."""
    if settings.registry_user is None or settings.registry_password is None:
        return
    registry = settings.registry or registry_of(settings.image)
    output.header(f"log in to {registry} as {settings.registry_user}")
    try:
        client.login(
            username=settings.registry_user,
            password=settings.registry_password.reveal(),
            registry=registry,
            reauth=True,
        )
    except APIError as exc:
        if from_engine(api_error_text(exc), exc.status_code).kind == "denied":
            raise RegistryAuthError(
                f"registry {registry} rejected the credentials of user "
                f"{settings.registry_user!r}: check CI_REGISTRY_USER and CI_REGISTRY_PASSWORD."
            ) from None
        raise RegistryError(
            f"cannot log in to registry {registry}: it did not answer; "
            "check CI_REGISTRY and that the registry is up."
        ) from None
    except (requests.exceptions.RequestException, DockerException) as exc:
        raise DaemonError(f"the Docker daemon failed during login to {registry}: {exc}") from None


def pull(client: APIClient, ref: str, output: Output) -> PullOutcome:
    """Pull one cache source; a missing or unreachable one is an outcome, not an error."""
    repository, tag = split_image_ref(ref)
    layers = LayerStream(output)
    try:
        with layer_stream(output) as layers:
            for chunk in client.pull(repository, tag=tag, stream=True, decode=True):
                layers.read(chunk)
    except RegistryFailed as exc:
        return PullOutcome(ref, exc.failure.kind, exc.failure.message)
    except NotFound as exc:  # the engine's own word: no such image
        return PullOutcome(ref, "missing", api_error_text(exc))
    except APIError as exc:
        failure = from_engine(api_error_text(exc), exc.status_code)
        return PullOutcome(ref, failure.kind, failure.message)
    except (requests.exceptions.RequestException, DockerException) as exc:
        raise DaemonError(f"the Docker daemon failed while pulling {ref}: {exc}") from None
    return PullOutcome(ref, "pulled", bytes=layers.bytes("pulled"))


def push_once(client: APIClient, ref: str, output: Output) -> PushOutcome:
    """Push ``ref`` once; raise RegistryFailed for the registry's refusal or silence."""
    repository, tag = split_image_ref(ref)
    try:
        with layer_stream(output) as layers:
            for chunk in client.push(repository, tag=tag, stream=True, decode=True):
                layers.read(chunk)
    except APIError as exc:
        raise RegistryFailed(from_engine(api_error_text(exc), exc.status_code)) from None
    except (requests.exceptions.RequestException, DockerException) as exc:
        raise DaemonError(f"the Docker daemon failed while pushing {ref}: {exc}") from None
    return PushOutcome(
        ref,
        digest=layers.digest,
        layers_pushed=layers.count("pushed"),
        layers_present=layers.count("already present"),
        bytes_pushed=layers.bytes("pushed"),
    )


def push(
    client: APIClient,
    ref: str,
    output: Output,
    retries: int = 4,
    delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PushOutcome:
    """Push one tag, retrying with exponential backoff; raise RegistryError at the end."""
    registry = registry_of(ref)
    last = RegistryFailure("no answer")
    for attempt in range(1, retries + 2):
        try:
            return push_once(client, ref, output)
        except RegistryFailed as exc:
            last = exc.failure
        if last.kind == "denied":
            raise RegistryAuthError(
                f"registry {registry} refused the push of {ref}: {last.first_line}; "
                "check CI_REGISTRY_USER/CI_REGISTRY_PASSWORD and that the user may push."
            )
        if attempt <= retries:
            wait = delay * 2 ** (attempt - 1)
            output.warn(f"push of {ref} failed ({last.first_line}); retrying in {wait:.0f} s")
            sleep(wait)
    raise RegistryError(
        f"pushing {ref} to registry {registry} failed after {retries + 1} attempts: "
        f"{last.first_line}; check the registry and push again."
    )
