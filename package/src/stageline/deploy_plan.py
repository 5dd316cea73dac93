"""What a deploy or a rollback does, as data (pure): names, references, command lines.

A deploy runs the project's ``docker-compose.yml`` on the Docker host ``DOCKER_HOST``
names, as the compose project ``<compose name>-<environment>``, with the image pinned by
digest (``IMAGE@sha256:...``). The state a rollback needs lives on that host, as a label
of the running app container: the references that ran before it, newest first. Deploying
pushes the running reference onto that list; rolling back pops it. Any machine, any job,
reads it from the engine; nothing is kept next to the pipeline. :mod:`stageline.deploy`
runs these commands.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stageline.errors import SettingsError, StagelineError
from stageline.settings import ref_slug

COMPOSE_FILE = "docker-compose.yml"
SERVICE = "django"  # the compose service that runs the image, and whose health counts
IMAGE_VARIABLE = "STAGELINE_COMPOSE_IMAGE"  # docker-compose.yml's image of that service
HISTORY_LABEL = "org.stageline.deploy.history"
HISTORY_LENGTH = 10
DEFAULT_WAIT_SECONDS = 300
LOG_LINES = 30
TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DEPLOY_INTERRUPTED = (
    "the deploy stopped part-way; run it again, or `stageline rollback` to the image before."
)


@dataclass(frozen=True)
class Target:
    """Where a deploy goes: the compose file, the compose project, and how long to wait."""

    compose_file: Path
    project: str
    wait_seconds: int


@dataclass(frozen=True)
class Running:
    """The app container running now: its image reference and the references before it."""

    container_id: str
    image: str
    history: tuple[str, ...]


def project_name(compose_name: str, environment: str) -> str:
    """Return the compose project of ``environment``: ``<compose name>-<environment slug>``."""
    slug = ref_slug(environment)
    if not slug:
        raise SettingsError(
            f"--environment {environment!r} has no letter or digit; name the environment, "
            "e.g. --environment staging."
        )
    return f"{ref_slug(compose_name) or 'app'}-{slug}"


def wait_seconds(environ: Mapping[str, str]) -> int:
    """Return STAGELINE_DEPLOY_WAIT_SECONDS: how long ``up --wait`` waits for health."""
    raw = environ.get("STAGELINE_DEPLOY_WAIT_SECONDS") or str(DEFAULT_WAIT_SECONDS)
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(
            f"STAGELINE_DEPLOY_WAIT_SECONDS={raw!r} is not a whole number of seconds >= 1; "
            f"set it to e.g. {DEFAULT_WAIT_SECONDS}."
        )
    return int(raw)


def commit_image_ref(image: str, short_sha: str | None) -> str:
    """Return the commit's tag ``IMAGE:<short-sha>``, which the build job pushed."""
    if not short_sha:
        raise SettingsError(
            "no commit SHA to deploy: set CI_COMMIT_SHORT_SHA, run in a git checkout, "
            "or name the image with --image IMAGE:TAG."
        )
    return f"{image}:{short_sha}"


def repository_of(ref: str) -> str:
    """Return ``ref`` without its tag and digest (the registry's port stays)."""
    name = ref.partition("@")[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.partition(':')[0]}" if head else last.partition(":")[0]


def pinned_ref(ref: str, digest: str) -> str:
    """Return ``IMAGE@DIGEST`` for ``ref`` (a tag or a digest reference) and its digest."""
    return f"{repository_of(ref)}@{digest}"


def parse_history(label: str | None) -> tuple[str, ...]:
    """Return the references a history label lists, newest first."""
    return tuple(item for item in (label or "").split(",") if item)


def history_label(history: Sequence[str]) -> str:
    """Return the label value of ``history`` (at most HISTORY_LENGTH references)."""
    return ",".join(history[:HISTORY_LENGTH])


def history_after_deploy(running: Running | None, image: str) -> tuple[str, ...]:
    """Return the history the new container records: what ran, then what ran before it.

    Redeploying the image that runs keeps its history as it is.
    """
    if running is None:
        return ()
    if running.image == image:
        return running.history
    return (running.image, *running.history)[:HISTORY_LENGTH]


def rollback_target(running: Running | None, environment: str) -> tuple[str, tuple[str, ...]]:
    """Return the reference to roll back to and the history its container keeps."""
    if running is None or not running.history:
        what = "nothing runs" if running is None else f"only {running.image} was deployed"
        raise StagelineError(
            f"no earlier deployment to roll back to in environment {environment!r} ({what}); "
            "deploy an image with `stageline deploy` first."
        )
    return running.history[0], running.history[1:]


def override_document(history: Sequence[str]) -> str:
    """Return a compose file (JSON is YAML) that labels the app container with ``history``."""
    labels = {HISTORY_LABEL: history_label(history)}
    return json.dumps({"services": {SERVICE: {"labels": labels}}})


def compose_base(target: Target, override: Path | None = None) -> list[str]:
    """Return ``docker compose -p PROJECT -f FILE [-f OVERRIDE]``."""
    files = ["-f", str(target.compose_file)]
    if override is not None:
        files += ["-f", str(override)]
    return ["docker", "compose", "-p", target.project, *files]


def pull_command(target: Target, override: Path) -> list[str]:
    """Return the command that pulls the app's image (``up`` pulls any other that is missing)."""
    return [*compose_base(target, override), "pull", "--quiet", SERVICE]


def up_command(target: Target, override: Path) -> list[str]:
    """Return the command that starts the stack without building and waits for health."""
    wait = ["--wait", "--wait-timeout", str(target.wait_seconds)]
    return [*compose_base(target, override), "up", "--detach", "--no-build", *wait]


def ps_command(target: Target) -> list[str]:
    """Return the command that lists the project's containers as JSON."""
    return [*compose_base(target), "ps", "--all", "--format", "json"]


def logs_command(target: Target, service: str) -> list[str]:
    """Return the command that prints the last LOG_LINES lines of ``service``'s log."""
    return [*compose_base(target), "logs", "--no-color", "--tail", str(LOG_LINES), service]


def log_lines(text: str) -> list[str]:
    """Return a log's lines without the terminal codes docker compose puts in them."""
    return [TERMINAL_CODES.sub("", line) for line in text.splitlines()]


def ps_rows(text: str) -> list[dict[str, Any]]:
    """Return the containers ``docker compose ps --format json`` printed.

    Compose before 2.21 prints one JSON array; later versions one object per line.
    """
    stripped = text.strip()
    if stripped.startswith("["):
        rows = json.loads(stripped)
    else:
        rows = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    return [row for row in rows if isinstance(row, dict)]


def service_container(rows: Sequence[Mapping[str, Any]], service: str) -> str | None:
    """Return the id of ``service``'s running container among ``rows``, if any."""
    for row in rows:
        if row.get("Service") == service and row.get("State") == "running":
            return str(row["ID"])
    return None


def unhealthy_services(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the services whose container is not running, or running but not healthy."""
    bad = [
        str(row.get("Service"))
        for row in rows
        if row.get("State") != "running" or row.get("Health") not in ("", None, "healthy")
    ]
    return sorted(set(bad))


def running_from_inspect(document: Mapping[str, Any]) -> Running:
    """Return what a container's ``docker inspect`` says about its image and history."""
    config = document.get("Config") or {}
    labels = config.get("Labels") or {}
    return Running(
        container_id=str(document.get("Id", "")),
        image=str(config.get("Image", "")),
        history=parse_history(labels.get(HISTORY_LABEL)),
    )
