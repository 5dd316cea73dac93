"""The jobs of .gitlab-ci.yml, run for real through gitlab-ci-local (issues 6 and 24).

The whole pipeline runs twice on the main engine, every job inside its image from the
loopback mirror, pushing to a fresh repository: passing (build, the test jobs in the
images the build made, smoke, release, and deploy-staging to this engine through a real
sshd), then with a test broken on purpose. What is asserted is read from the registry,
its access log and the engine. The build job also runs twice on a runner daemon with an
empty cache: first as a scheduled pipeline (every stage rebuilt without cache), then as
a push pipeline after the runner is purged (every stage reused by its content key).
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stageline.actions import load_plan
from stageline.settings_loader import load_settings
from testing.access_log import AccessLogMark
from testing.checks import free_port
from testing.gitlab_ci_local import PipelineRun, passed, run_pipeline
from testing.projects import git_commit_all
from testing.registries import manifest_digest, registry_tags
from testing.runners import EmptyRunner
from testing.sshd import SSHServer

from tests.gitlab.conftest import committed_project, short_sha

pytestmark = pytest.mark.docker

REPORT = "reports/build/stages.json"
METRICS = "reports/build/metrics.txt"


@dataclass
class Builds:
    """Two runs of the build job and what they left behind."""

    image: str
    sha: str
    stages: list[str]
    scheduled: PipelineRun
    scheduled_report: dict[str, Any]
    tags_after_scheduled: set[str]
    pushed: PipelineRun
    pushed_report: dict[str, Any]
    pushed_metrics: str


def by_stage(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the report's stages keyed by name."""
    return {stage["name"]: stage for stage in report["stages"]}


def planned_stages(project: Path) -> list[str]:
    """Return the stages a build of ``project``'s target plans, in build order."""
    settings = load_settings(project, environ={"CI_COMMIT_REF_SLUG": "main"})
    return [stage.name for stage in load_plan(settings).stages]


@pytest.fixture(scope="module")
def builds(
    git_project: Path,
    runner: EmptyRunner,
    registry_address: str,
    image_name: str,
    base_images: dict[str, str],
    job_variables: list[str],
) -> Builds:
    """Run the build job as a scheduled pipeline, purge the runner, run it as a push."""
    image = image_name
    env = {
        "DOCKER_HOST": runner.docker_host,
        "CI_REGISTRY_IMAGE": image,
        "CI_REGISTRY": registry_address,
        **base_images,
    }
    sha = short_sha(git_project)
    registry, repository = image.split("/", 1)

    runner.purge()
    schedule = (*job_variables, "--variable", "CI_PIPELINE_SOURCE=schedule", "build")
    scheduled = passed(run_pipeline(git_project, *schedule, env=env), "build")
    scheduled_report = json.loads(scheduled.artifact("build", REPORT).read_text())
    tags = registry_tags(registry, repository)

    runner.purge()
    pushed = passed(run_pipeline(git_project, *job_variables, "build", env=env), "build")
    return Builds(
        image=image,
        sha=sha,
        stages=planned_stages(git_project),
        scheduled=scheduled,
        scheduled_report=scheduled_report,
        tags_after_scheduled=tags,
        pushed=pushed,
        pushed_report=json.loads(pushed.artifact("build", REPORT).read_text()),
        pushed_metrics=pushed.artifact("build", METRICS).read_text(),
    )


def test_a_scheduled_pipeline_rebuilds_every_stage_without_cache(builds: Builds) -> None:
    stages = by_stage(builds.scheduled_report)
    assert list(stages) == builds.stages
    assert builds.scheduled_report["image"] == builds.image
    for stage in stages.values():
        assert stage["cache_from"] == [], stage
        assert stage["steps"] > 0, stage
        assert stage["cached_steps"] == 0, stage


def test_the_first_build_on_the_default_branch_pushes_every_stage_tag(builds: Builds) -> None:
    assert builds.tags_after_scheduled == {*builds.stages, builds.sha, f"development-{builds.sha}"}


def test_the_next_pipeline_on_an_empty_runner_reuses_every_stage_from_the_registry(
    builds: Builds,
) -> None:
    stages = by_stage(builds.pushed_report)
    assert list(stages) == builds.stages
    registry, repository = builds.image.split("/", 1)
    for name, stage in stages.items():
        assert stage["outcome"] == "reused", stage
        assert stage["reused_from"] == f"{builds.image}:{name}", stage
        assert stage["image_id"] == manifest_digest(registry, repository, name), stage


def test_the_metrics_report_says_every_stage_was_reused(builds: Builds) -> None:
    reused = dict(re.findall(r"^stageline_stage_reused_(\S+) (\S+)$", builds.pushed_metrics, re.M))
    assert reused == {re.sub(r"\W", "_", name): "1" for name in builds.stages}


@dataclass
class Pipelines:
    """Two whole pipelines on the default branch, on the main engine: one passing, then one
    whose test fails; with each one's commit and the tags' digests after it."""

    image: str
    passing: PipelineRun
    passing_sha: str
    after_passing: dict[str, str]
    release_log: list[str]
    failing: PipelineRun
    failing_sha: str
    after_failing: dict[str, str]
    staging: StagingHost


def digests(image: str, *tags: str) -> dict[str, str]:
    """Return each tag's manifest digest in the registry ("" for a missing tag)."""
    registry, repository = image.split("/", 1)
    present = registry_tags(registry, repository)
    return {
        tag: manifest_digest(registry, repository, tag) if tag in present else "" for tag in tags
    }


def release_window(lines: list[str], repository: str, sha: str) -> list[str]:
    """Return the access-log lines from the build's last write of ``sha`` to ``latest``'s PUT."""
    writes = [i for i, line in enumerate(lines) if f"PUT /v2/{repository}/manifests/{sha} " in line]
    latest = [
        i for i, line in enumerate(lines) if f"PUT /v2/{repository}/manifests/latest " in line
    ]
    assert writes, f"no write of the commit's tag {sha} in the access log"
    assert latest, "no write of latest in the access log"
    return lines[writes[-1] + 1 : latest[-1] + 1]


@dataclass
class StagingHost:
    """The staging Docker host the deploy job reaches over SSH: this engine, through sshd."""

    server: SSHServer
    port: int  # where the deployed app publishes

    def variables(self) -> list[str]:
        """Return the CI/CD variables a project sets to deploy there (docs/deploy.md)."""
        known_hosts = (self.server.folder / "known_hosts").read_text().strip()
        values = {
            "DEPLOY_HOST": f"127.0.0.1:{self.server.port}",
            "DEPLOY_USER": self.server.user,
            "DEPLOY_SSH_KEY": str(self.server.folder / "client_key"),
            "DEPLOY_KNOWN_HOSTS": known_hosts,
            "DJANGO_PORT": str(self.port),
        }
        folder = str(self.server.folder)
        return [
            *(arg for name, value in values.items() for arg in ("--variable", f"{name}={value}")),
            *("--volume", f"{folder}:{folder}:ro"),
        ]


# The compose project the deploy job runs on the staging host: docker-compose.yml's name.
STAGING_PROJECT = "stageline-staging"


def running_image(project: str) -> str:
    """Return the image reference the compose project's django container was started from."""
    labels = [
        f"label=com.docker.compose.project={project}",
        "label=com.docker.compose.service=django",
    ]
    found = subprocess.run(
        ["docker", "ps", "-q", *(arg for label in labels for arg in ("--filter", label))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(found) == 1, f"{len(found)} django containers in {project}"
    inspect = ["docker", "inspect", "--format", "{{.Config.Image}}", found[0]]
    return subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def staging(sshd: SSHServer) -> Iterator[StagingHost]:
    """Yield the staging host; remove what the deploy started there afterwards."""
    yield StagingHost(sshd, free_port())
    subprocess.run(
        ["docker", "compose", "-p", STAGING_PROJECT, "down", "--volumes"],
        capture_output=True,
        check=False,
    )


@pytest.fixture(scope="module")
def pipelines(
    gitlab_ci_local: None,
    engine: None,
    tmp_path_factory: pytest.TempPathFactory,
    image_name: str,
    base_images: dict[str, str],
    job_variables: list[str],
    staging: StagingHost,
) -> Pipelines:
    """Run the whole pipeline (every job in its image), then again with a failing test."""
    project = committed_project(tmp_path_factory.mktemp("whole") / "project")
    registry, repository = image_name.split("/", 1)
    env = {"CI_REGISTRY_IMAGE": image_name, "CI_REGISTRY": registry, **base_images}
    log = AccessLogMark()
    deploy = staging.variables()
    passing = passed(run_pipeline(project, *job_variables, *deploy, env=env), *WHOLE_PIPELINE)
    passing_sha = short_sha(project)
    after_passing = digests(image_name, passing_sha, "latest")
    release_log = release_window(log.lines(repository), repository, passing_sha)

    with (project / "tests" / "web" / "test_healthz.py").open("a") as handle:
        handle.write("\n\ndef test_broken_on_purpose() -> None:\n    assert 1 + 1 == 3\n")
    git_commit_all(project)
    failing = run_pipeline(project, *job_variables, *deploy, env=env)
    failing_sha = short_sha(project)
    after_failing = digests(image_name, failing_sha, "latest")
    return Pipelines(
        image_name,
        passing,
        passing_sha,
        after_passing,
        release_log,
        failing,
        failing_sha,
        after_failing,
        staging,
    )


# The jobs of a default-branch pipeline with a staging host, in stage order.
WHOLE_PIPELINE = ("build", "lint", "typecheck", "tests", "smoke", "release", "deploy-staging")


def test_a_passing_pipeline_tests_the_built_images_and_releases_that_digest(
    pipelines: Pipelines,
) -> None:
    output = pipelines.passing.output
    sha = pipelines.passing_sha
    for job in ("lint", "typecheck", "tests"):  # inside the image the build just made
        assert re.search(rf"^{job} +starting \S+:development-{sha} ", output, re.M), job
        assert re.search(rf"^{job} *> nox > Session {job} was successful", output, re.M), job
    assert re.search(r"^tests *> =+ \d+ passed", output, re.M)
    assert re.search(r"^smoke *> smoke: passed", output, re.M)
    assert pipelines.after_passing["latest"] == pipelines.after_passing[sha] != ""


def test_release_uploads_no_layer(pipelines: Pipelines) -> None:
    uploads = [line for line in pipelines.release_log if "/blobs/uploads/" in line]
    assert uploads == []
    assert any("/manifests/latest " in line for line in pipelines.release_log)


def test_no_test_job_installs_the_apps_requirements(pipelines: Pipelines) -> None:
    for job in ("lint", "typecheck", "tests"):
        lines = [line for line in pipelines.passing.output.splitlines() if line.startswith(job)]
        assert not any("requirements/local.txt" in line for line in lines), job
        assert not any(re.search(r"Installing collected packages: .*django", x) for x in lines)


def test_a_failing_test_stops_the_pipeline_before_release_and_latest_stays(
    pipelines: Pipelines,
) -> None:
    failing = pipelines.failing
    assert failing.returncode != 0
    assert " FAIL  tests" in failing.output or "tests failed" in failing.output.lower()
    assert "test_broken_on_purpose" in failing.output
    assert not failing.passed("release")
    assert pipelines.after_failing[pipelines.failing_sha] != ""  # built and pushed
    assert pipelines.after_failing["latest"] == pipelines.after_passing["latest"]


def test_staging_runs_the_released_digest_and_answers(pipelines: Pipelines) -> None:
    released = pipelines.after_passing["latest"]
    assert running_image(STAGING_PROJECT) == f"{pipelines.image}@{released}"
    url = f"http://127.0.0.1:{pipelines.staging.port}/healthz"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
    assert not pipelines.failing.passed("deploy-staging")  # the failing pipeline never deploys
