"""A project started from the template builds every stage of its image with the package.

One test runs the project's own build job (.gitlab-ci.yml) through gitlab-ci-local, which
installs the pinned stageline from a wheelhouse built from this working tree, and reads
the pushed tags from the registry; the other runs the ``stageline`` command in this
interpreter, which must have this working tree's stageline at the version the project
pins (the image session installs it; so does the template venv).

Marked ``docker`` (and ``template``): the docker session runs it on the main engine, whose
build cache it shares; ``nox -s template`` leaves it out. Without an engine, or without
PYTHON_IMAGE/NODE_IMAGE, it skips with a message, or fails when CI is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import docker
import pytest
from testing.checks import require
from testing.daemons import engine_available
from testing.gitlab_ci_local import passed, run_pipeline
from testing.registries import manifest_digest, whole_tags
from testing.task_runner import TaskRun, base_environ, ok
from testing.wheelhouse import find_links_variables

from tests.template.conftest import ACME, TEMPLATE_VERSION, start_project, throwaway_image

pytestmark = [pytest.mark.docker, pytest.mark.template]

STAGES = ["build-python", "build-node", "assets", "production"]


@pytest.fixture
def image(registry_address: str) -> Iterator[str]:
    """Yield an image name no other run uses; remove what the engine holds of it after."""
    with throwaway_image(registry_address, "template-build") as name:
        yield name


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


def engine_and_bases() -> dict[str, str]:
    """Return the mirror's base images and this engine's DOCKER_HOST (if set); or skip."""
    reason = engine_available(os.environ.get("DOCKER_HOST"))
    if reason:
        require(f"no Docker engine answers ({reason})", "start one: .ci/start-services")
    bases = {name: os.environ.get(name, "") for name in ("PYTHON_IMAGE", "NODE_IMAGE")}
    if not all(bases.values()):
        require("PYTHON_IMAGE and NODE_IMAGE are not set", "`source .ci/env` (mirror images)")
    if os.environ.get("DOCKER_HOST"):
        bases["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return bases


def build_env(environ: dict[str, str]) -> dict[str, str]:
    """Return the tasks' environment: the mirror's base images and this engine; or skip."""
    require_pinned_stageline()
    return {**engine_and_bases(), "GIT_CONFIG_GLOBAL": environ["GIT_CONFIG_GLOBAL"]}


def python_in(image: str, code: str) -> str:
    """Return what ``python3 -c CODE`` prints in a container of ``image``."""
    client = docker.DockerClient(base_url=os.environ.get("DOCKER_HOST") or None)
    printed = client.containers.run(image, ["-c", code], entrypoint="python3", remove=True)
    return bytes(printed).decode().strip()


def test_generated_projects_build_job_builds_and_pushes_through_gitlab_ci_local(
    template_repo: Path,
    environ: dict[str, str],
    tmp_path: Path,
    image: str,
    wheelhouse: Path,
) -> None:
    """The project's own .gitlab-ci.yml build job, with stageline from the wheelhouse."""
    env = build_env(environ)
    missing = [tool for tool in ("gitlab-ci-local", "git", "rsync") if not shutil.which(tool)]
    if missing:
        require(f"{', '.join(missing)} not found", "run .ci/install-packages")
    project = start_project(template_repo, tmp_path / "shop", ACME, environ)
    registry, repository = image.split("/", 1)
    variables = find_links_variables(wheelhouse)
    args = [arg for name, value in variables.items() for arg in ("--variable", f"{name}={value}")]
    # GitLab names the project's default branch (ACME's is trunk); gitlab-ci-local would
    # say main, and the build would then write trunk's branch tags only.
    job_env = {
        **env,
        "CI_REGISTRY_IMAGE": image,
        "CI_REGISTRY": registry,
        "CI_DEFAULT_BRANCH": ACME["default_branch"],
    }
    passed(run_pipeline(project, *args, "build", env=job_env), "build")

    sha = subprocess.run(
        ["git", "rev-parse", "--short=8", "HEAD"], cwd=project, capture_output=True, text=True
    ).stdout.strip()
    assert {*STAGES, sha} <= whole_tags(registry, repository)
    assert manifest_digest(registry, repository, sha) == manifest_digest(
        registry, repository, "production"
    )
    # The image is the new project, not the template: its name is in the app.
    printed = python_in(f"{image}:{sha}", "from config.project import NAME; print(NAME)")
    assert printed == ACME["project_name"]


def test_a_private_index_project_builds_with_buildkit_when_no_secret_is_set(
    template_repo: Path, environ: dict[str, str], tmp_path: Path, image: str
) -> None:
    env = {**build_env(environ), "STAGELINE_TARGET": "production"}  # not development too
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


def test_a_plain_docker_build_of_a_project_is_its_production_image(
    template_repo: Path, environ: dict[str, str], tmp_path: Path
) -> None:
    """Item 10 of issue 26: `docker build .` without a target, as a PaaS builder runs it,
    gives the image that ships (gunicorn as user 10001), not the development image."""
    bases = engine_and_bases()
    # The mirror's images as the answers: the build needs no --build-arg.
    answers = {**ACME, "python_image": bases["PYTHON_IMAGE"], "node_image": bases["NODE_IMAGE"]}
    project = start_project(template_repo, tmp_path / "shop", answers, environ)
    tag = f"template-plain-build-{uuid.uuid4().hex[:10]}:latest"
    engine = {k: v for k, v in bases.items() if k == "DOCKER_HOST"}
    docker_env = {**base_environ(), **engine}
    try:
        built = subprocess.run(
            ["docker", "build", "--progress", "plain", "--tag", tag, "."],
            cwd=project,
            env=docker_env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert built.returncode == 0, built.stderr[-4000:]
        inspected = subprocess.run(
            ["docker", "image", "inspect", tag],
            env=docker_env,
            capture_output=True,
            text=True,
            check=True,
        )
        config = json.loads(inspected.stdout)[0]["Config"]
        assert config["User"] == "10001:10001", config["User"]
        assert config["Entrypoint"] == ["/entrypoint"]
        assert config["Cmd"] == ["/start"], config["Cmd"]
        assert "DJANGO_SETTINGS_MODULE=config.settings.production" in config["Env"]
    finally:
        subprocess.run(
            ["docker", "image", "rm", "--force", tag],
            env=docker_env,
            capture_output=True,
            check=False,
        )
