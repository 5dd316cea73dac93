"""The pure parts of the side-by-side pipeline timing (benchmarks/pipeline_times.py)."""

from __future__ import annotations

from benchmarks.pipeline_times import (
    PipelineTime,
    old_pipeline_text,
    passed_jobs,
    render,
    stage_path_seconds,
)


def test_the_old_pipelines_pinned_job_images_become_the_mirrors_stand_ins() -> None:
    text = "image: ${IMAGE_PREFIX}/python:3.13.7-slim-trixie\nimage: x/node:24.11.1-trixie-slim\n"
    assert old_pipeline_text(text) == "image: ${IMAGE_PREFIX}/python:3.13\nimage: x/node:20\n"


def test_passed_jobs_are_read_from_gitlab_ci_locals_summary() -> None:
    output = " PASS  build              \n PASS  lint  \n FAIL  tests\n > tests failed\n"
    assert passed_jobs(output) == ["build", "lint"]


def test_a_runner_per_job_takes_each_stages_slowest_job_in_turn() -> None:
    output = (
        "build     starting registry/docker:26-cli (build)\n"
        "build     finished in 5.5 s\n"
        "lint      starting registry/app:development-1 (test)\n"
        "lint      finished in 900 ms\n"
        "tests     starting registry/app:development-1 (test)\n"
        "tests     > 3 passed in 2.1s\n"
        "tests     finished in 1.2 min\n"
        "release   starting registry/python:3.13 (release)\n"
        "release   finished in 4 s\n"
        "parsing and downloads finished in 118 ms.\n"
        "pipeline finished in 90 s\n"
    )
    assert stage_path_seconds(output) == 5.5 + 72.0 + 4.0


def time_of(pipeline: str, scenario: str, seconds: float, moved: bool = False) -> PipelineTime:
    return PipelineTime(pipeline, scenario, 1, seconds, True, [], moved, seconds / 2)


def test_the_table_has_each_scenarios_medians_their_ratio_and_whether_latest_moved() -> None:
    times = [
        time_of("before", "no change", 200.0, moved=True),
        time_of("now", "no change", 50.0),
        time_of("before", "one python file", 240.0, moved=True),
        time_of("now", "one python file", 90.0, moved=True),
        time_of("before", "one failing test", 100.0),
        time_of("now", "one failing test", 60.0),
    ]
    rows = render(times).splitlines()[2:]
    assert rows == [
        "| no change | 200 | 50 | 0.25 | 100, 25 | 0.25 | yes, no |",
        "| one python file | 240 | 90 | 0.38 | 120, 45 | 0.38 | yes, yes |",
        "| one failing test | 100 | 60 | 0.60 | 50, 30 | 0.60 | no, no |",
    ]
