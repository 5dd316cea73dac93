"""The `stageline` command and the invoke collection: the same commands, options, errors
and exit codes, over one library. No engine: everything here stops before Docker."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from stageline.cli import make_parser
from stageline.errors import StagelineError
from stageline.exits import Terminated, run_guarded
from stageline.tasks import collection
from testing.task_runner import base_environ

# Each command of the command line, and the task that does the same.
TASK_OF = {
    "plan": "plan",
    "pull": "pull-stages",
    "build": "build-stages",
    "push": "push-stages",
    "merge": "merge",
    "dev": "dev",
}
TINY = '[tool.stageline]\nimage = "shop"\n'
DOCKERFILE = "FROM scratch AS base\nCOPY a /a\nFROM base\n"


def command_flags(command: str) -> set[str]:
    """Return the long options of a `stageline COMMAND`, without --help."""
    parser = make_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    sub = subparsers.choices[command]
    flags = {flag for action in sub._actions for flag in action.option_strings}
    return {flag for flag in flags if flag.startswith("--")} - {"--help"}


def task_flags(name: str) -> set[str]:
    """Return the long options of an invoke task of the collection."""
    task = collection()[name]
    return {"--" + max(argument.names, key=len) for argument in task.get_arguments()}


@pytest.mark.parametrize("command", TASK_OF)
def test_each_command_takes_the_options_of_its_task(command: str) -> None:
    assert command_flags(command) == task_flags(TASK_OF[command])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Return a tiny project folder (no git, no engine needed to plan it)."""
    (tmp_path / "pyproject.toml").write_text(TINY)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "a").write_text("a\n")
    return tmp_path


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python module in ``project`` as a user runs it (no CI or Docker settings)."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=project,
        env=base_environ(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("cli", "task"),
    [
        (["plan", "--build-arg", "NOEQUALS"], ["plan", "--build-arg", "NOEQUALS"]),
        (["build", "--target", "nope"], ["build-stages", "--target", "nope"]),
        (["push", "--stage", "nope"], ["push-stages", "--stage", "nope"]),
        (["plan", "--platform", "linux"], ["plan", "--platform", "linux"]),
    ],
)
def test_bad_input_ends_both_front_ends_with_the_same_line_and_exit_1(
    project: Path, cli: list[str], task: list[str]
) -> None:
    (project / "tasks.py").write_text(
        "from stageline.tasks import collection\nnamespace = collection()\n"
    )
    by_command = run(project, "stageline", *cli)
    by_task = run(project, "invoke", *task)
    for result in (by_command, by_task):
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
    lines = [result.stderr.strip().splitlines() for result in (by_command, by_task)]
    assert len(lines[0]) == 1, lines
    assert lines[0][0].startswith("error: "), lines
    assert lines[0] == lines[1]


def test_the_version_and_every_commands_help_print_without_a_project(tmp_path: Path) -> None:
    shown = run(tmp_path, "stageline", "--version")
    assert shown.returncode == 0
    assert shown.stdout.startswith("stageline ")
    for command in TASK_OF:
        helped = run(tmp_path, "stageline", command, "--help")
        assert helped.returncode == 0
        assert f"usage: stageline {command}" in helped.stdout


def test_a_usage_error_exits_2_as_argparse_does(tmp_path: Path) -> None:
    result = run(tmp_path, "stageline", "build", "--no-such-option")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


def raise_(error: BaseException) -> None:
    """Raise ``error`` (a command that fails)."""
    raise error


@pytest.mark.parametrize(
    ("error", "code", "start"),
    [
        (StagelineError("no such stage"), 1, "error: no such stage"),
        (KeyboardInterrupt(), 130, "interrupted: "),
        (Terminated(), 143, "interrupted: "),
    ],
)
def test_an_ending_has_the_documented_exit_code(
    error: BaseException, code: int, start: str
) -> None:
    ending = run_guarded(lambda: raise_(error))
    assert ending.code == code
    assert ending.message is not None
    assert ending.message.startswith(start)
