"""Smoke-test a production image as it runs in production, then remove what it started.

    python3 compose/production/smoke.py IMAGE

Starts docker-compose.yml's stack (PostgreSQL, then the image's entrypoint: it waits for
the database, applies migrations and starts gunicorn) on the engine DOCKER_HOST names,
under a throwaway compose project, and checks from outside what a user and an operator
rely on:

- /healthz answers 200 (the database answers);
- the home page renders, and a hashed static file it links is served, cached for ever;
- every migration is applied and no model change lacks one;
- `manage.py check --deploy` finds nothing, with production's own settings;
- the app runs as a non-root user.

The CI job `smoke` runs it on the image the pipeline built (APP_IMAGE). Standard
library only: the job image has Python and the docker CLI, nothing else. Exit 1 names
the failed check and prints the app's last log lines.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
HTTPS = {"X-Forwarded-Proto": "https"}  # as the TLS proxy in front of the app sends it
HASHED_STATIC = re.compile(r'/static/[^"\']+\.[0-9a-f]{12}\.(?:js|css)')


class SmokeError(Exception):
    """A check failed; the message says which and what was seen."""


def engine_host(docker_host: str) -> str:
    """Return the host where the engine publishes ports (dind's alias, an SSH host, here)."""
    parts = urlsplit(docker_host)
    return parts.hostname or "127.0.0.1" if parts.scheme in ("tcp", "ssh") else "127.0.0.1"


def free_port() -> int:
    """Return a port free on this machine (the engine's, for a local engine)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def compose_env(image: str, host: str, port: int) -> dict[str, str]:
    """Return the stack's settings: production's defaults, this image, a throwaway key."""
    return {
        **os.environ,
        "STAGELINE_COMPOSE_IMAGE": image,
        "DJANGO_PORT": str(port),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": host,
        "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://{host}",
        "DJANGO_SECURE_SSL_REDIRECT": "true",
        "DJANGO_SECURE_HSTS_SECONDS": "3600",
    }


def compose(project: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `docker compose` on docker-compose.yml under ``project``."""
    command = ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "-p", project, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def in_app(project: str, env: dict[str, str], *command: str) -> str:
    """Run ``command`` in the running app container; return its output, or raise."""
    done = compose(project, env, "exec", "-T", "django", *command)
    if done.returncode != 0:
        raise SmokeError(f"`{' '.join(command)}` failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """Return the status, headers and body of a GET of ``url``."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read().decode("utf-8", "replace")
            return response.status, dict(response.headers), body
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8", "replace")


def wait_for_health(base: str, seconds: float = 120) -> tuple[int, str]:
    """Return /healthz's status and body once it answers 200, or when time is up."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, _, body = fetch(f"{base}/healthz")
        except OSError as exc:  # not listening yet: migrations run first
            status, body = 0, str(exc)
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(1)


def check_http(base: str) -> None:
    """Check /healthz, the home page and one hashed static file it links."""
    status, body = wait_for_health(base)
    if status != 200:
        raise SmokeError(f"/healthz answered {status}: {body[:200]}")
    status, _, page = fetch(f"{base}/", HTTPS)
    linked = HASHED_STATIC.search(page)
    if status != 200 or linked is None:
        raise SmokeError(f"the home page answered {status} with no hashed static file linked")
    status, headers, _ = fetch(base + linked.group(0), HTTPS)
    cache = headers.get("Cache-Control", "")
    if status != 200 or "max-age=315360000" not in cache:
        raise SmokeError(f"{linked.group(0)} answered {status} ({cache or 'no Cache-Control'})")
    print(f"smoke: /healthz 200, home page 200, {linked.group(0)} served and cached for ever")


def check_inside(project: str, env: dict[str, str]) -> None:
    """Check migrations, `check --deploy` and the user, inside the running app."""
    in_app(project, env, "python3", "manage.py", "migrate", "--check")
    in_app(project, env, "python3", "manage.py", "makemigrations", "--check", "--dry-run")
    in_app(project, env, "python3", "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    uid = in_app(project, env, "id", "-u")
    if uid == "0":
        raise SmokeError("the app runs as root (uid 0); the image must set a non-root USER")
    print(f"smoke: migrations applied and complete, check --deploy clean, uid {uid}")


def smoke(image: str) -> None:
    """Start the stack with ``image``, run every check, and always remove the stack."""
    host = engine_host(os.environ.get("DOCKER_HOST", ""))
    port = free_port() if host == "127.0.0.1" else 18000 + secrets.randbelow(1000)
    env = compose_env(image, host, port)
    project = f"smoke-{secrets.token_hex(4)}"
    print(f"smoke: starting {image} as compose project {project} on {host}:{port}")
    try:
        started = compose(project, env, "up", "-d", "--no-build", "--wait", "--wait-timeout", "180")
        if started.returncode != 0:
            raise SmokeError(f"the stack did not start:\n{started.stderr[-2000:]}")
        check_http(f"http://{host}:{port}")
        check_inside(project, env)
    except SmokeError:
        print(compose(project, env, "logs", "--tail", "40", "django").stdout, file=sys.stderr)
        raise
    finally:
        compose(project, env, "down", "--volumes", "--remove-orphans")


def main(argv: list[str]) -> int:
    """Run the smoke test on the image named by the only argument."""
    if len(argv) != 1:
        print("usage: python3 compose/production/smoke.py IMAGE", file=sys.stderr)
        return 1
    try:
        smoke(argv[0])
    except SmokeError as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    print("smoke: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
