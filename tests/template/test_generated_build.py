"""A project started from the template builds every stage of its image with the package.

One test builds with the project's own tasks (``python -m invoke``, its tasks.py over
``stageline.tasks``), the other with the ``stageline`` command as its build job runs it.
Both run in this interpreter, which must have this working tree's stageline at the
version the project pins (the image session installs it; so does the template venv).

Marked ``docker`` (and ``template``): the docker session runs it on the main engine, whose
build cache it shares; ``nox -s template`` leaves it out. Without an engine, or without
PYTHON_IMAGE/NODE_IMAGE, it skips with a message, or fails when CI is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException
from testing.checks import require
from testing.daemons import engine_available
from testing.task_runner import TaskRun, base_environ, ok, run_task

from tests.template.conftest import ACME, TEMPLATE_VERSION, start_project

pytestmark = [pytest.mark.docker, pytest.mark.template]

STAGES = ["build-python", "build-node", "assets", "production"]


@pytest.fixture
def image() -> Iterator[str]:
    """Yield an image name no other run uses, and remove its tags afterwards."""
    name = f"template-build-{uuid.uuid4().hex[:10]}/acme_shop"
    yield name
    try:
        client = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST") or None)
        for tagged in client.images.list(name=name):
            for tag in tagged.tags:
                client.images.remove(tag, noprune=False)
    except DockerException:
        pass  # cleanup only: the engine went away, the test already says so


def require_pinned_stageline() -> None:
    """Fail unless this interpreter has the stageline version a generated project pins."""
    pinned = "{}.{}.{}".format(*TEMPLATE_VERSION)
    try:
        installed = version("stageline")
    except PackageNotFoundError:
        installed = "none"
    assert installed == pinned, (
        f"stageline {installed} is installed here, the project pins {pinned}: "
        "pip install -e 'package[invoke]' (nox -s image does)"
    )


def run_stageline(project: Path, *args: str, env: dict[str, str]) -> TaskRun:
    """Run the ``stageline`` command in ``project`` as the build job does."""
    result = subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        cwd=project,
        env={**base_environ(), **env},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    return TaskRun(result.returncode, result.stdout, result.stderr)


def build_env(environ: dict[str, str]) -> dict[str, str]:
    """Return the tasks' environment: the mirror's base images and this engine; or skip."""
    require_pinned_stageline()
    reason = engine_available(os.environ.get("DOCKER_HOST"))
    if reason:
        require(f"no Docker engine answers ({reason})", "start one: .ci/start-services")
    bases = {name: os.environ.get(name, "") for name in ("PYTHON_IMAGE", "NODE_IMAGE")}
    if not all(bases.values()):
        require("PYTHON_IMAGE and NODE_IMAGE are not set", "`source .ci/env` (mirror images)")
    env = {**bases, "GIT_CONFIG_GLOBAL": environ["GIT_CONFIG_GLOBAL"]}
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return env


def python_in(image: str, code: str) -> str:
    """Return what ``python3 -c CODE`` prints in a container of ``image``."""
    client = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST") or None)
    printed = client.containers.run(image, ["-c", code], entrypoint="python3", remove=True)
    return bytes(printed).decode().strip()


def test_generated_project_builds_every_stage(
    template_repo: Path, environ: dict[str, str], tmp_path: Path, image: str
) -> None:
    env = build_env(environ)
    project = start_project(template_repo, tmp_path / "shop", {**ACME, "image": image}, environ)
    report_file = tmp_path / "report.json"
    ok(run_task(project, "build-stages", "--report", str(report_file), env=env))

    report = json.loads(report_file.read_text())
    assert report["image"] == image
    assert [stage["name"] for stage in report["stages"]] == STAGES
    assert all(stage["image_id"] for stage in report["stages"])
    # The final image is the new project, not the template: its name is in the app.
    printed = python_in(f"{image}:production", "from config.project import NAME; print(NAME)")
    assert printed == ACME["project_name"]


def test_a_private_index_project_builds_with_buildkit_when_no_secret_is_set(
    template_repo: Path, environ: dict[str, str], tmp_path: Path, image: str
) -> None:
    env = build_env(environ)
    answers = {**ACME, "image": image, "private_index": "true"}
    project = start_project(template_repo, tmp_path / "shop", answers, environ)
    # The build job's commands (.gitlab-ci.yml): stageline plan, then stageline build.
    plan = ok(run_stageline(project, "plan", env=env))
    assert "builder: buildkit (auto: Dockerfile line" in plan.stdout
    assert "secret:      PIP_INDEX_URL not set" in plan.stdout
    assert "secret:      NPM_TOKEN not set" in plan.stdout
    report_file = project / "reports/build/stages.json"
    ok(run_stageline(project, "build", "--report", str(report_file), env=env))
    assert [stage["name"] for stage in json.loads(report_file.read_text())["stages"]] == STAGES
    assert (
        python_in(f"{image}:production", "import django; print(django.get_version())")[:3] == "5.2"
    )
