"""Deploy an image by digest to a Docker host, and roll back to the one before.

The target is the engine ``DOCKER_HOST`` names (``ssh://user@host:port``; unset: the local
one), reached with the docker CLI, which runs the project's ``docker-compose.yml`` there
with ``docker compose``: pull the app's image, then ``up --no-build --wait`` until the app
is healthy. What runs and what ran before are read from the engine (``docker compose ps
--format json``, ``docker inspect``); the pure parts are :mod:`stageline.deploy_plan`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from stageline import deploy_plan as plan
from stageline.console import Output
from stageline.deploy_plan import Running, Target
from stageline.errors import DaemonError, RegistryError, StagelineError, ToolMissingError
from stageline.image_ref import parse_image_ref
from stageline.reuse import Registries
from stageline.settings import Settings
from stageline.settings_loader import load_settings

QUICK_SECONDS = 120  # for commands that only ask the engine something
CREDENTIALS_RE = re.compile(r"//[^/@\s]*:[^/@\s]*@")


def shown_host(environ: Mapping[str, str]) -> str:
    """Return DOCKER_HOST for a message, without a password it might carry."""
    host = environ.get("DOCKER_HOST") or "the local engine (DOCKER_HOST is not set)"
    return CREDENTIALS_RE.sub("//***@", host)


def meaningful_line(text: str) -> str:
    """Return the last non-empty line of a tool's error output (the cause, for ssh)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return CREDENTIALS_RE.sub("//***@", lines[-1]) if lines else "no output"


def run_quiet(
    command: Sequence[str], environ: Mapping[str, str], cwd: Path, timeout: float = QUICK_SECONDS
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` and capture its output (for JSON that Stageline reads)."""
    try:
        return subprocess.run(
            list(command),
            env=dict(environ),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DaemonError(
            f"`{' '.join(command[:3])} ...` did not finish within {timeout:g}s on "
            f"{shown_host(environ)}; check that the host answers."
        ) from None


def run_live(command: Sequence[str], environ: Mapping[str, str], cwd: Path) -> int:
    """Run ``command`` with its output in the job log (on stdout); return its exit status."""
    return subprocess.run(
        list(command), env=dict(environ), cwd=cwd, stderr=subprocess.STDOUT, check=False
    ).returncode


def check_engine(environ: Mapping[str, str], cwd: Path) -> None:
    """Raise unless the docker CLI, its compose plugin and the target engine answer."""
    if shutil.which("docker", path=environ.get("PATH")) is None:
        raise ToolMissingError(
            "docker is not on PATH: deploy needs the docker CLI with the Compose plugin "
            "(e.g. the docker:cli image, or apt-get install docker.io docker-compose)."
        )
    engine = run_quiet(["docker", "version", "--format", "json"], environ, cwd)
    if engine.returncode != 0:
        raise DaemonError(
            f"the Docker engine at {shown_host(environ)} does not answer "
            f"({meaningful_line(engine.stderr)}); check DOCKER_HOST, the SSH key and known_hosts."
        )


def compose_name(compose_file: Path, environ: Mapping[str, str]) -> str:
    """Return the compose file's project name (``name:``), as ``docker compose config`` reads it."""
    command = ["docker", "compose", "-f", str(compose_file), "config", "--format", "json"]
    result = run_quiet(command, environ, compose_file.parent)
    if result.returncode != 0:
        raise StagelineError(
            f"docker compose cannot read {compose_file.name} "
            f"({meaningful_line(result.stderr)}); fix the file, or install the Compose plugin."
        )
    return str(json.loads(result.stdout).get("name") or compose_file.parent.name)


def load_target(settings: Settings, environment: str, environ: Mapping[str, str]) -> Target:
    """Return where ``environment`` deploys to, after checking the compose file and engine."""
    compose_file = settings.root / plan.COMPOSE_FILE
    if not compose_file.is_file():
        raise StagelineError(
            f"{plan.COMPOSE_FILE} is not in {settings.root}: deploy runs the project's "
            f"{plan.COMPOSE_FILE}; run it in the project's folder (-C DIR) or restore the file."
        )
    wait = plan.wait_seconds(settings.environ)
    check_engine(environ, settings.root)
    name = plan.project_name(compose_name(compose_file, environ), environment)
    return Target(compose_file, name, wait)


def resolve_digest(settings: Settings, ref: str) -> str:
    """Return ``ref`` pinned by digest (``IMAGE@sha256:...``), as the registry has it now."""
    parsed = parse_image_ref(ref)
    api = Registries(settings).api(parsed.api_host)
    try:
        digest = api.head_manifest(parsed.repository, parsed.reference)
    except RegistryError as exc:
        raise RegistryError(f"cannot resolve {ref} to a digest: {exc}") from None
    if digest is None:
        raise RegistryError(
            f"{ref} is not in the registry: push it first (the build job's "
            "`stageline build --push`), or name another image with --image."
        )
    return plan.pinned_ref(ref, digest)


def current(target: Target, environ: Mapping[str, str], cwd: Path) -> Running | None:
    """Return the app container running in the target's project now, if any."""
    listed = run_quiet(plan.ps_command(target), environ, cwd)
    if listed.returncode != 0:
        raise DaemonError(
            f"cannot list project {target.project} on {shown_host(environ)} "
            f"({meaningful_line(listed.stderr)})."
        )
    container = plan.service_container(plan.ps_rows(listed.stdout), plan.SERVICE)
    if container is None:
        return None
    inspected = run_quiet(["docker", "inspect", container], environ, cwd)
    if inspected.returncode != 0:
        return None  # it went away between the two calls
    return plan.running_from_inspect(json.loads(inspected.stdout)[0])


def explain_unhealthy(target: Target, environ: Mapping[str, str], cwd: Path, output: Output) -> str:
    """Print the last log lines of each unhealthy service; return a line naming them."""
    listed = run_quiet(plan.ps_command(target), environ, cwd)
    rows = plan.ps_rows(listed.stdout) if listed.returncode == 0 else []
    services = plan.unhealthy_services(rows) or [plan.SERVICE]
    for service in services:
        output.header(f"last {plan.LOG_LINES} log lines of {service}")
        logs = run_quiet(plan.logs_command(target, service), environ, cwd)
        for line in plan.log_lines(logs.stdout + logs.stderr):
            output.line(line)
    return ", ".join(services)


def start(
    target: Target,
    image: str,
    history: Sequence[str],
    environ: Mapping[str, str],
    cwd: Path,
    output: Output,
    pull: bool = True,
) -> None:
    """Run ``image`` as the app with ``history`` as its label, and wait until it is healthy."""
    env = {**environ, plan.IMAGE_VARIABLE: image}
    with tempfile.TemporaryDirectory(prefix="stageline-deploy-") as folder:
        override = Path(folder) / "deploy.override.json"
        override.write_text(plan.override_document(history), encoding="utf-8")
        if pull:
            output.header(f"pull {image} on {shown_host(environ)}")
            if run_live(plan.pull_command(target, override), env, cwd) != 0:
                raise StagelineError(
                    f"the Docker host could not pull {image} (its output is above); check "
                    "that it may read the registry (docker login in the job)."
                )
        output.header(f"start project {target.project} (up --wait, at most {target.wait_seconds}s)")
        if run_live(plan.up_command(target, override), env, cwd) != 0:
            services = explain_unhealthy(target, environ, cwd, output)
            raise StagelineError(
                f"{services} did not become healthy in project {target.project} (log lines "
                "above); fix the cause and deploy again, or `stageline rollback`."
            )


def report_running(
    target: Target, environ: Mapping[str, str], cwd: Path, output: Output
) -> Running:
    """Print the digest that now runs, read back from the engine; return it."""
    running = current(target, environ, cwd)
    if running is None:
        raise StagelineError(
            f"no {plan.SERVICE} container runs in project {target.project} after the deploy; "
            f"see `docker compose -p {target.project} ps`."
        )
    output.header(f"running in {target.project}: {running.image}")
    return running


def deploy(
    settings: Settings,
    environment: str,
    image: str | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> Running:
    """Deploy ``image`` (default: the commit's ``IMAGE:<short-sha>``) by digest; wait for health."""
    environ = dict(os.environ if environ is None else environ)
    output = output or Output()
    target = load_target(settings, environment, environ)
    ref = image or plan.commit_image_ref(settings.image, settings.short_sha)
    output.header(f"resolve {ref} to its digest")
    pinned = resolve_digest(settings, ref)
    output.line(f"  {pinned}")
    running = current(target, environ, settings.root)
    history = plan.history_after_deploy(running, pinned)
    output.header(f"deploy {pinned} to {environment} (was: {running.image if running else 'none'})")
    start(target, pinned, history, environ, settings.root, output)
    return report_running(target, environ, settings.root, output)


def rollback(
    settings: Settings,
    environment: str,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> Running:
    """Redeploy the image that ran before the one running in ``environment``."""
    environ = dict(os.environ if environ is None else environ)
    output = output or Output()
    target = load_target(settings, environment, environ)
    running = current(target, environ, settings.root)
    image, history = plan.rollback_target(running, environment)
    was = running.image if running else "none"
    output.header(f"roll back {environment} to {image} (was: {was})")
    # The earlier image most likely is still on the host: compose pulls it only if not.
    start(target, image, history, environ, settings.root, output, pull=False)
    return report_running(target, environ, settings.root, output)


def commit_digest_ref(root: Path | str = ".") -> str:
    """Return the commit's ``IMAGE:<short-sha>`` pinned by digest, for any deploy target."""
    settings = load_settings(root)
    return resolve_digest(settings, plan.commit_image_ref(settings.image, settings.short_sha))
