"""The local development stack: ``docker compose`` with docker-compose.local.yml.

``stageline dev`` (or ``invoke dev``) runs it in the foreground (Ctrl-C stops it), and ``--down``
removes its containers. The base images are the stage tasks' build args
(``[tool.stageline] build-args``: PYTHON_IMAGE, NODE_IMAGE), from the environment or
``.env``, so the development image builds on the same bases as the stages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from stageline.errors import DaemonError, StagelineError, ToolMissingError
from stageline.settings import Settings

COMPOSE_FILE = "docker-compose.local.yml"
# Volumes the compose file mounts inside the bind-mounted checkout. Made here first:
# otherwise the engine creates them, owned by root, in the developer's checkout.
MOUNT_POINTS = ("node_modules", "assets/dist")
INTERRUPTED = 130


def compose_command(compose_file: Path, down: bool = False) -> list[str]:
    """Return the docker compose command that starts (builds first) or removes the stack."""
    action = ["down"] if down else ["up", "--build"]
    return ["docker", "compose", "-f", str(compose_file), *action]


def compose_environ(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """Return ``environ`` plus the build args the settings have (a .env line included)."""
    build_args = {
        name: settings.environ[name]
        for name in settings.build_arg_names
        if settings.environ.get(name)
    }
    return {**environ, **build_args}


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no output"


def check_docker(environ: Mapping[str, str]) -> None:
    """Raise unless the docker CLI, its compose plugin and an engine are all there."""
    if shutil.which("docker", path=environ.get("PATH")) is None:
        raise ToolMissingError(
            "docker is not on PATH: install Docker Engine with the Compose plugin, or "
            "Docker Desktop (https://docs.docker.com/get-docker/)."
        )
    compose = _quiet(["docker", "compose", "version", "--short"], environ)
    if compose.returncode != 0:
        raise ToolMissingError(
            f"`docker compose` does not run ({_first_line(compose.stderr)}): install the "
            "Compose v2 plugin (docker-compose-plugin), or Docker Desktop."
        )
    engine = _quiet(["docker", "version", "--format", "{{.Server.Version}}"], environ)
    if engine.returncode != 0:
        raise DaemonError(
            f"no Docker engine answers ({_first_line(engine.stderr)}); start Docker, or "
            "set DOCKER_HOST to an engine that runs."
        )


def _quiet(command: list[str], environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=dict(environ), capture_output=True, text=True, timeout=60, check=False
    )


def run_attached(command: list[str], environ: Mapping[str, str], cwd: Path) -> tuple[int, bool]:
    """Run ``command`` in the foreground; return its exit status and whether Ctrl-C was hit.

    Ctrl-C reaches docker compose too (the terminal signals the whole process group); it
    then stops the containers, and waiting for it here lets it finish that.
    """
    process = subprocess.Popen(command, env=dict(environ), cwd=cwd)
    interrupted = False
    while True:
        try:
            return process.wait(), interrupted
        except KeyboardInterrupt:
            interrupted = True


def run_stack(
    settings: Settings, down: bool = False, environ: Mapping[str, str] | None = None
) -> None:
    """Start the stack in the foreground, or with ``down`` remove its containers."""
    environ = dict(os.environ if environ is None else environ)
    compose_file = settings.root / COMPOSE_FILE
    if not compose_file.is_file():
        raise StagelineError(
            f"{COMPOSE_FILE} is not in {settings.root}: run `stageline dev` in a project "
            "made from the Stageline template, or restore the file from it."
        )
    check_docker(environ)
    if not down:
        for relative in MOUNT_POINTS:
            (settings.root / relative).mkdir(parents=True, exist_ok=True)
    command = compose_command(compose_file, down)
    status, interrupted = run_attached(command, compose_environ(settings, environ), settings.root)
    if status not in (0, INTERRUPTED) and not interrupted:
        raise StagelineError(
            f"`{' '.join(command[:2])} {' '.join(command[4:])}` failed (exit {status}); "
            "its output above says why."
        )
