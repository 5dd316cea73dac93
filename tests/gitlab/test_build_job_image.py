"""The build job runs in its own image: the docker CLI with buildx, and nothing of this host.

GitLab runs the job in ``docker:<DOCKER_VERSION>-cli``, which cannot be pulled here. Its
stand-in is built from the loopback mirror's Debian trixie image with Debian's
``docker-cli`` and ``docker-buildx`` (26.1, the engine's version, as the job pins the
CLI to dind's). The job's own ``before_script`` and ``script``, read from
.gitlab-ci.yml, then run inside it (gitlab-ci-local's docker executor would pull the
image), against the main engine's socket instead of the dind service.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing.projects import TEMPLATE_ROOT, copy_project
from testing.registries import registry_tags
from testing.wheelhouse import find_links_variables

pytestmark = pytest.mark.docker

STAND_IN = "localhost:5000/stageline-test/build-job:trixie"
STAND_IN_DOCKERFILE = """\
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
# What docker:*-cli has (the CLI and buildx) from Debian; Python comes with the base.
RUN apt-get update \\
    && apt-get install -y --no-install-recommends docker-cli docker-buildx git \\
    && rm -rf /var/lib/apt/lists/*
"""
SHA = "4444dddd"
# Where the job's container sees the wheelhouse of this checkout's stageline package.
WHEELHOUSE = "/wheelhouse"


class GitLabLoader(yaml.SafeLoader):
    """Reads .gitlab-ci.yml, keeping ``!reference`` tags as plain lists."""


GitLabLoader.add_constructor(
    "!reference",
    lambda loader, node: loader.construct_sequence(node),  # type: ignore[arg-type]
)


def build_job() -> dict[str, Any]:
    """Return the build job of .gitlab-ci.yml."""
    pipeline = yaml.load((TEMPLATE_ROOT / ".gitlab-ci.yml").read_text(), Loader=GitLabLoader)
    job: dict[str, Any] = pipeline["build"]
    return job


def job_script(job: dict[str, Any]) -> str:
    """Return the job's before_script and script as one ``sh -e`` script."""
    return "\n".join(str(line) for line in [*job["before_script"], *job["script"]])


@pytest.fixture(scope="module")
def stand_in(
    engine: None, base_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Build the stand-in of the job's image on the main engine."""
    context = tmp_path_factory.mktemp("build-job-image")
    (context / "Dockerfile").write_text(STAND_IN_DOCKERFILE)
    subprocess.run(
        ["docker", "build", "--network", "host", "-t", STAND_IN, "--build-arg",
         f"PYTHON_IMAGE={base_images['PYTHON_IMAGE']}", str(context)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return STAND_IN


def test_the_job_image_pins_one_docker_version_for_the_cli_and_dind() -> None:
    job = build_job()
    assert job["image"] == "${IMAGE_PREFIX}/docker:${DOCKER_VERSION}-cli"
    assert job["services"][0]["name"] == "${IMAGE_PREFIX}/docker:${DOCKER_VERSION}-dind"
    assert int(job["variables"]["DOCKER_VERSION"].split(".")[0]) >= 27


def test_the_build_job_runs_in_its_image_with_buildkit(
    stand_in: str,
    registry_address: str,
    base_images: dict[str, str],
    wheelhouse: Path,
    tmp_path: Path,
) -> None:
    job = build_job()
    project = copy_project(tmp_path / "project")
    image = f"{registry_address}/build-job-{uuid.uuid4().hex[:8]}/app"
    variables = {
        **{name: str(value) for name, value in job["variables"].items()},
        **base_images,
        "JOB_VENV": "/tmp/job-venv",
        "DOCKER_HOST": "unix:///var/run/docker.sock",
        "DOCKER_TLS_VERIFY": "",
        "DOCKER_CERT_PATH": "",
        "STAGELINE_BUILD_NETWORK": "host",
        "CI_REGISTRY_IMAGE": image,
        "CI_COMMIT_REF_SLUG": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_SHORT_SHA": SHA,
        # The job installs the pinned stageline release; before it is on an index, the
        # wheel of this checkout stands for it.
        **find_links_variables(WHEELHOUSE, environ={}),
    }
    command = ["docker", "run", "--rm", "--network", "host"]
    command += ["-v", "/var/run/docker.sock:/var/run/docker.sock"]
    command += ["-v", f"{wheelhouse}:{WHEELHOUSE}:ro"]
    command += ["-v", f"{project}:/builds/app", "-w", "/builds/app"]
    command += [arg for name, value in variables.items() for arg in ("-e", f"{name}={value}")]
    result = subprocess.run(
        [*command, stand_in, "sh", "-ec", job_script(job)],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "builder: buildkit (auto: the docker CLI has buildx)" in log
    assert "github.com/docker/buildx" in log  # `docker buildx version`, from the image
    registry, repository = image.split("/", 1)
    assert registry_tags(registry, repository) == {
        "build-python", "build-node", "assets", "production", SHA, "latest"
    }  # fmt: skip
