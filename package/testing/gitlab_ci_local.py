"""The GitLab pipeline run as the README tells a developer to run it: `nox -s ci_local`.

gitlab-ci-local runs the jobs of .gitlab-ci.yml (with what .gitlab-ci-local.yml replaces)
in a committed copy of the project, since it reads git (projects.git_commit_all), each
job inside its image. The images come from the loopback mirror (.ci/build-base-images):
IMAGE_PREFIX names it, and gitlab-ci-local's own helper container runs the docker-cli
stand-in (bash and rsync) instead of an image from Docker Hub.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from testing.task_runner import base_environ

# Where `nox -s ci_local` keeps gitlab-ci-local's state (artifacts, logs).
STATE_DIR = Path(".nox") / "gitlab-ci-local"


@dataclass
class PipelineRun:
    """A finished `nox -s ci_local -- ARGS` in a project."""

    project: Path
    returncode: int
    output: str

    def passed(self, job: str) -> bool:
        """Return whether gitlab-ci-local reported ``job`` as passed."""
        return f" PASS  {job}" in self.output

    def artifact(self, job: str, path: str) -> Path:
        """Return the file ``path`` of ``job``'s artifacts as gitlab-ci-local exported it."""
        return self.project / STATE_DIR / "artifacts" / job / path


def mirror_arguments(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Return the environment and arguments that take every job image from the mirror."""
    mirror = f"{environ.get('STAGELINE_TEST_REGISTRY', 'localhost:5000')}/mirror"
    variables = {"IMAGE_PREFIX": mirror, "DOCKER_VERSION": "26"}
    if environ.get("POSTGRES_IMAGE"):
        variables["POSTGRES_IMAGE"] = environ["POSTGRES_IMAGE"]
    folders = [path for path in environ.get("PIP_FIND_LINKS", "").split() if path.startswith("/")]
    arguments = [
        arg for name, value in variables.items() for arg in ("--variable", f"{name}={value}")
    ]
    arguments += [arg for path in folders for arg in ("--volume", f"{path}:{path}:ro")]
    # gitlab-ci-local copies artifacts out with bash and rsync in its helper container.
    return {"GCL_HELPER_IMAGE": f"{mirror}/docker:26-cli"}, arguments


def run_pipeline(
    project: Path, *args: str, env: Mapping[str, str], timeout: int = 1800
) -> PipelineRun:
    """Run `nox -s ci_local -- ARGS` in ``project`` with ``env`` on a scrubbed environment.

    The wheelhouse a ``--variable PIP_FIND_LINKS=...`` names is mounted into the jobs.
    """
    environ = {**base_environ(), **env}
    links = [arg.split("=", 1)[1] for arg in args if arg.startswith("PIP_FIND_LINKS=")]
    extra_env, mirror = mirror_arguments({**environ, "PIP_FIND_LINKS": " ".join(links)})
    result = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "ci_local", "--", "--no-color", *mirror, *args],
        cwd=project,
        env={**environ, **extra_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return PipelineRun(project, result.returncode, result.stdout)


def passed(run: PipelineRun, *jobs: str) -> PipelineRun:
    """Return ``run`` if it exited 0 with every job passed; otherwise fail with its log."""
    log = f"the pipeline failed ({run.returncode}):\n{run.output[-6000:]}"
    assert run.returncode == 0, log
    assert all(run.passed(job) for job in jobs), log
    return run
