"""Secrets stay out of output, reports, logs and images; the container runs read-only.

The registry password is random per run, so finding its bytes anywhere is a leak.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from testing.checks import free_port, require_builder
from testing.leftovers import image_contains
from testing.production_image import PRODUCTION_IMAGE, container_output, docker_api, wait_for_http
from testing.projects import copy_project, make_project
from testing.registries import LoopbackRegistry
from testing.runners import EmptyRunner, task_env
from testing.task_runner import TaskRun, ok, run_task

pytestmark = pytest.mark.faults

USER = "ci-bot"
PASSWORD = f"pw-{secrets.token_urlsafe(24)}"
# The password as it would appear in a docker config.json ("auth": base64 of user:password).
PASSWORD_FORMS = [PASSWORD.encode(), base64.b64encode(f"{USER}:{PASSWORD}".encode())]
# A build step that would capture the password if the build environment or its
# arguments carried it, and a label, which would show in the image config.
ECHO_DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.13-slim
FROM ${PYTHON_IMAGE} AS base
RUN env | sort > /build-env.txt
FROM base AS final
LABEL org.opencontainers.image.title=tiny
COPY hello.txt /hello.txt
"""


def leaks(text: str | bytes) -> list[str]:
    """Return which forms of the password ``text`` contains."""
    data = text.encode() if isinstance(text, str) else text
    return [form.decode() for form in PASSWORD_FORMS if form in data]


# The library's scratch directories (BuildKit's private docker config, its iidfile).
SCRATCH_PATTERNS = ("stageline-docker-config-*/*", "stageline-buildkit-*/*")


def scratch_files_with_password() -> list[str]:
    """Return Stageline's scratch files in the temp dir that hold the password."""
    found = []
    for pattern in SCRATCH_PATTERNS:
        for path in Path(tempfile.gettempdir()).glob(pattern):
            try:
                if path.is_file() and leaks(path.read_bytes()):
                    found.append(str(path))
            except OSError:
                continue  # another build's scratch dir went away meanwhile
    return found


@pytest.fixture(scope="module")
def auth_registry(registry: Callable[..., LoopbackRegistry]) -> LoopbackRegistry:
    """Return a registry that needs USER and PASSWORD."""
    return registry(user=USER, password=PASSWORD)


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_the_registry_password_appears_in_no_output_report_log_or_image(
    builder: str,
    runner: EmptyRunner,
    auth_registry: LoopbackRegistry,
    base_images: dict[str, str],
    tmp_path: Path,
) -> None:
    require_builder(builder)
    image = f"{auth_registry.address}/secrets/{builder}"
    env = task_env(
        runner,
        base_images,
        image,
        builder=builder,
        CI_REGISTRY=auth_registry.address,
        CI_REGISTRY_USER=USER,
        CI_REGISTRY_PASSWORD=PASSWORD,
    )
    project = make_project(tmp_path / "project", ECHO_DOCKERFILE)
    report, metrics = tmp_path / "report.json", tmp_path / "metrics.txt"
    commands = [
        ("--debug", "plan"),
        ("--dry", "plan"),
        ("--debug", "pull-stages"),
        ("--debug", "build-stages", "--report", str(report), "--metrics", str(metrics)),
        ("--dry", "--debug", "build-stages"),
        ("--debug", "push-stages"),
    ]
    runs: list[TaskRun] = [ok(run_task(project, *command, env=env)) for command in commands]
    assert f"log in to {auth_registry.address} as {USER}" in runs[-1].stdout
    client = runner.client()

    texts = {f"invoke {' '.join(c)}": run.output for c, run in zip(commands, runs, strict=True)}
    texts["--report"] = report.read_text()
    texts["--metrics"] = metrics.read_text()
    texts["registry log"] = (
        auth_registry.root.parent / f"registry-{auth_registry.port}.log"
    ).read_text()
    texts["runner daemon log"] = (runner.root / "dockerd.log").read_text(errors="replace")
    docker_config = Path.home() / ".docker" / "config.json"
    if docker_config.is_file():
        texts[str(docker_config)] = docker_config.read_text()
    api = client.api
    image_ids = {api.inspect_image(f"{image}:{tag}")["Id"] for tag in ("base", "final", "cafe0001")}
    for image_id in image_ids:
        texts[f"inspect {image_id[:19]}"] = json.dumps(api.inspect_image(image_id))
        texts[f"history {image_id[:19]}"] = json.dumps(api.history(image_id))
    assert {name: leaks(text) for name, text in texts.items() if leaks(text)} == {}
    assert scratch_files_with_password() == []
    for image_id in image_ids:
        assert image_contains(api, image_id, PASSWORD_FORMS) == [], f"docker save {image_id}"
    # The label is there to be searched: the check above did read the image config.
    assert "org.opencontainers.image.title" in json.dumps(api.inspect_image(f"{image}:final"))


# --------------------------------------------------------------------------- full project


@dataclass
class Production:
    """The project's production image, built by `invoke build-stages` from a planted tree."""

    image_id: str
    markers: dict[str, str]


@pytest.fixture(scope="module")
def production(
    engine: None, base_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Production]:
    """Build the project on the main engine (its cache is shared) from a tree with secrets.

    The tree has a `.env` and a `.git` with random markers, and the build runs with
    DJANGO_SECRET_KEY exported, as in a developer's shell. A branch of its own reads
    the docker suite's stage cache and writes only its own tags, removed at the end.
    """
    project = copy_project(tmp_path_factory.mktemp("production") / "project")
    markers = {name: f"{name}-{secrets.token_hex(12)}" for name in ("dotenv", "git", "shell")}
    (project / ".env").write_text(
        f"DJANGO_SECRET_KEY={markers['dotenv']}\nDATABASE_URL=postgres://u:{markers['dotenv']}@db/x\n"
    )
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / ".git" / "description").write_text(markers["git"] + "\n")
    (project / ".git" / "stageline-marker").write_text(markers["git"] + "\n")
    env = {
        **base_images,
        "CI_REGISTRY_IMAGE": PRODUCTION_IMAGE,
        "CI_COMMIT_REF_SLUG": "faults-secrets",
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_SHORT_SHA": "faults01",
        "DJANGO_SECRET_KEY": markers["shell"],
        "STAGELINE_TARGET": "production",  # the image that ships, not development too
    }
    report = project / "reports" / "build.json"
    build = ok(
        run_task(project, "build-stages", "--builder", "classic", "--report", str(report), env=env)
    )
    stages = build.report(report)["stages"]
    yield Production(stages[-1]["image_id"], markers)
    api = docker_api()
    for tag in [t for stage in stages for t in stage["tags"]]:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(tag)  # only the tag: others' images stay


def test_dotenv_git_and_the_shells_secret_key_never_reach_the_image(production: Production) -> None:
    api = docker_api()
    needles = [marker.encode() for marker in production.markers.values()]
    config = api.inspect_image(production.image_id)
    env = dict(item.split("=", 1) for item in config["Config"]["Env"] or [])
    assert "DJANGO_SECRET_KEY" not in env
    metadata = json.dumps(config) + json.dumps(api.history(production.image_id))
    assert [n for n in needles if n in metadata.encode()] == []
    assert image_contains(api, production.image_id, needles) == []


def test_the_image_needs_a_secret_key_from_the_environment(production: Production) -> None:
    api = docker_api()
    container = api.create_container(
        production.image_id,
        command=["python3", "manage.py", "check"],
        environment={"DJANGO_ALLOWED_HOSTS": "localhost"},
        host_config=api.create_host_config(network_mode="none"),
    )
    try:
        api.start(container)
        status = api.wait(container, timeout=120)["StatusCode"]
        output = container_output(api, container["Id"])
    finally:
        api.remove_container(container, force=True)
    assert status == 1, output
    assert "DJANGO_SECRET_KEY is not set" in output


def test_the_container_serves_from_a_read_only_root_as_a_non_root_user(
    production: Production,
    fresh_database_url: str,
) -> None:
    api = docker_api()
    port = free_port()
    container = api.create_container(
        production.image_id,
        environment={
            "DATABASE_URL": fresh_database_url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "PORT": str(port),
        },
        host_config=api.create_host_config(
            network_mode="host", read_only=True, tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"}
        ),
    )
    container_id = str(container["Id"])

    def run(*command: str) -> tuple[int, str]:
        exec_id = api.exec_create(container_id, list(command))
        output = api.exec_start(exec_id).decode(errors="replace")
        return int(api.exec_inspect(exec_id)["ExitCode"]), output

    try:
        api.start(container_id)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(api, container_id, f"{url}/healthz")
        for path in ("/", "/healthz"):
            with urllib.request.urlopen(f"{url}{path}", timeout=10) as response:
                assert response.status == 200, path
        code, uid = run("id", "-u")
        assert code == 0, uid
        assert int(uid) != 0
        code, output = run("touch", "/app/written")
        assert code != 0, output
        assert "Read-only file system" in output
        assert run("sh", "-c", "echo scratch > /tmp/written && cat /tmp/written") == (
            0,
            "scratch\n",
        )
    finally:
        api.remove_container(container_id, force=True, v=True)
