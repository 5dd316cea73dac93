"""The jobs of .gitlab-ci.yml, run for real through gitlab-ci-local (issue 6).

The build job runs twice on a runner daemon with an empty cache, pushing to a fresh
repository in the loopback registry: first as a scheduled pipeline (every stage rebuilt
without cache, every tag pushed), then as a push pipeline after the runner is purged
(every stage is reused by its content key: nothing pulled, nothing built). The test
jobs run the same way.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stageline.actions import load_plan
from stageline.settings_loader import load_settings
from testing.gitlab_ci_local import PipelineRun, passed, run_pipeline
from testing.projects import copy_project, cut_template_only_sessions, git_commit_all
from testing.registries import manifest_digest, registry_tags
from testing.runners import EmptyRunner

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
    sha = subprocess.run(
        ["git", "rev-parse", "--short=8", "HEAD"],
        cwd=git_project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
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
    assert builds.tags_after_scheduled == {*builds.stages, builds.sha, "latest"}


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


def test_the_test_jobs_run_their_nox_sessions(git_project: Path, job_variables: list[str]) -> None:
    jobs = ("lint", "typecheck", "tests", "js")
    run = passed(run_pipeline(git_project, *job_variables, *jobs, env={}), *jobs)
    for session in ("lint", "typecheck", "tests"):
        success = rf"^{session} *> nox > Session {session} was successful"
        assert re.search(success, run.output, re.M), run.output[-3000:]
    assert re.search(r"^tests *> =+ \d+ passed", run.output, re.M), run.output[-3000:]
    assert (git_project / "assets" / "dist" / "webpack-stats.json").is_file()


def test_the_lint_job_fails_on_a_lint_error(
    gitlab_ci_local: None, job_variables: list[str], tmp_path: Path
) -> None:
    project = copy_project(tmp_path / "project")
    with (project / "tasks.py").open("a") as handle:
        handle.write("\nimport this_import_is_unused\n")
    cut_template_only_sessions(project)
    git_commit_all(project)
    run = run_pipeline(project, *job_variables, "lint", env={})
    assert run.returncode != 0
    assert " FAIL  lint" in run.output
    assert "F401" in run.output
