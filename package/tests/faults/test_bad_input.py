"""Bad settings and Dockerfiles: exit 1 and one or two lines naming the problem.

These run the real tasks on a tiny project and stop before any Docker call, so they
need no daemon. A branch name with characters a tag cannot hold is made valid instead.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testing.projects import make_project
from testing.task_runner import TaskRun, assert_clean_failure, ok, run_task

pytestmark = [pytest.mark.faults, pytest.mark.daemon_free]

# Docker's tag grammar, and a daemon nobody can reach: none of these may get that far.
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
NO_DAEMON = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
SECRET = f"hunter-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Case:
    """A bad input: files to write, settings, the task to run and what the error names."""

    args: tuple[str, ...]
    needles: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str | None] = field(default_factory=dict)


CASES = {
    "malformed-dotenv-line": Case(
        ("plan",),
        (".env line 2", "NAME=value"),
        files={".env": f'CI_COMMIT_SHORT_SHA=abc1234\nCI_REGISTRY_PASSWORD="{SECRET}\n'},
    ),
    "image-name-with-capitals": Case(
        ("build-stages",),
        ("CI_REGISTRY_IMAGE='localhost:5000/Team/App'", "not a valid Docker image name"),
        env={"CI_REGISTRY_IMAGE": "localhost:5000/Team/App"},
    ),
    "short-sha-with-a-space": Case(
        ("build-stages",),
        ("CI_COMMIT_SHORT_SHA='abc 1234'", "not a valid Docker tag"),
        env={"CI_COMMIT_SHORT_SHA": "abc 1234"},
    ),
    "dockerfile-with-an-invalid-stage-name": Case(
        ("build-stages",),
        ("Dockerfile line 1", "invalid name for build stage", "'1st'"),
        files={"Dockerfile": "FROM python:3.13-slim AS 1st\nRUN true\n"},
    ),
    "dockerfile-with-a-duplicate-stage": Case(
        ("build-stages",),
        ("Dockerfile line 3", "stage name 'base' is already used on line 1"),
        files={"Dockerfile": "FROM python:3.13-slim AS base\nRUN true\nFROM base AS BASE\n"},
    ),
    "dockerfile-with-an-unknown-instruction": Case(
        ("plan",),
        ("Dockerfile line 2", "unknown instruction: COPPY"),
        files={"Dockerfile": "FROM python:3.13-slim AS base\nCOPPY . /app\n"},
    ),
    "dockerfile-copying-from-a-later-stage": Case(
        ("build-stages",),
        ("Dockerfile line 2", "cannot copy from stage 'final'"),
        files={
            "Dockerfile": "FROM debian AS base\nCOPY --from=final /a /a\nFROM debian AS final\n"
        },
    ),
    "build-arg-the-dockerfile-does-not-declare": Case(
        ("build-stages", "--build-arg", "PYTHON_VERSION=3.10"),
        ("--build-arg PYTHON_VERSION", "no ARG PYTHON_VERSION", "declare it"),
    ),
    "classic-builder-for-buildkit-syntax": Case(
        ("build-stages", "--builder", "classic"),
        ("--builder classic", "Dockerfile line 2 uses RUN --mount", "BuildKit"),
        files={"Dockerfile": "FROM debian AS a\nRUN --mount=type=cache,target=/c true\n"},
    ),
    "dockerfile-missing": Case(
        ("build-stages",),
        ("no Dockerfile at", "STAGELINE_DOCKERFILE"),
        files={"Dockerfile": None},
    ),
    "builder-option-unknown": Case(
        ("build-stages", "--builder", "kaniko"),
        ("unknown builder 'kaniko'", "classic", "buildkit"),
    ),
    "builder-setting-unknown": Case(
        ("build-stages",),
        ("STAGELINE_BUILDER='kaniko'", "classic", "buildkit"),
        env={"STAGELINE_BUILDER": "kaniko"},
    ),
}


def output_lines(run: TaskRun) -> list[str]:
    """Return the non-blank lines the run printed."""
    return [line for line in run.output.splitlines() if line.strip()]


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_bad_input_exits_1_with_a_short_message_naming_it(case: Case, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    for name, text in case.files.items():
        if text is None:
            (project / name).unlink()
        else:
            (project / name).write_text(text)
    run = run_task(project, *case.args, env={**NO_DAEMON, **case.env})
    assert_clean_failure(run, *case.needles)
    assert 1 <= len(output_lines(run)) <= 2, run.output
    assert SECRET not in run.output


@pytest.mark.parametrize("variable", ["CI_COMMIT_REF_NAME", "CI_COMMIT_REF_SLUG"])
def test_a_branch_name_a_tag_cannot_hold_is_made_a_valid_tag(variable: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    run = ok(run_task(project, "plan", env={**NO_DAEMON, variable: "Feature/ÄÖ login!"}))
    line = next(line for line in run.stdout.splitlines() if line.startswith("push writes:"))
    written = line.removeprefix("push writes:").strip().split(", ")
    tags = [ref.rsplit(":", 1)[1] for ref in written]
    # GitLab's CI_COMMIT_REF_SLUG rule: lower case, anything but a-z 0-9 becomes "-".
    assert tags == ["base--feature----login", "final--feature----login"]
    assert all(TAG_RE.match(tag) for tag in tags), tags
