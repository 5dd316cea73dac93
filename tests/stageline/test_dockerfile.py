"""Stage names and order come from the Dockerfile's FROM ... AS lines."""

from pathlib import Path

import pytest

from stageline.dockerfile import logical_lines, parse_dockerfile, read_dockerfile
from stageline.errors import DockerfileError

ROOT = Path(__file__).resolve().parents[2]


def test_the_projects_dockerfile_has_the_three_stages_in_order() -> None:
    info = read_dockerfile(ROOT / "Dockerfile")
    assert info.stage_names == ["build-python", "build-node", "production"]
    assert set(info.global_args) >= {"PYTHON_IMAGE", "NODE_IMAGE"}


def test_stages_keep_dockerfile_order_and_case_insensitive_keywords() -> None:
    text = (
        "# syntax comment\nARG BASE=debian\nARG OTHER\n"
        "from ${BASE} as Deps\nRUN true\n"
        "FROM --platform=linux/amd64 deps AS test\n"
        "FROM debian AS final\n"
    )
    info = parse_dockerfile(text)
    assert info.stage_names == ["deps", "test", "final"]
    assert info.global_args == ("BASE", "OTHER")
    assert info.stages[1].base == "deps"


def test_continuation_lines_and_comments_inside_them_are_joined() -> None:
    text = "FROM \\\n  debian \\\n# a comment\n  AS one\nRUN a \\\n  b\n"
    assert logical_lines(text) == [(1, "FROM debian AS one"), (5, "RUN a b")]
    assert parse_dockerfile(text).stage_names == ["one"]


def test_escape_directive_changes_the_continuation_character() -> None:
    text = "# escape=`\nFROM debian `\n  AS win\n"
    assert parse_dockerfile(text).stage_names == ["win"]


def test_adding_a_stage_needs_no_other_change() -> None:
    base = (ROOT / "Dockerfile").read_text()
    extended = base + "\nFROM production AS debug\nRUN true\n"
    assert parse_dockerfile(extended).stage_names[-1] == "debug"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RUN true\n", "has no stages"),
        ("FROM debian\n", "has no stage name"),
        ("FROM debian AS a\nFROM debian AS a\n", "already defined on line 1"),
        ("FROM debian AS a--b\n", "cannot be used"),
        ("FROM debian AS latest\n", "cannot be used"),
        ("FROM debian AS a extra\n", "cannot read"),
    ],
)
def test_unusable_dockerfiles_are_refused_with_the_reason(text: str, expected: str) -> None:
    with pytest.raises(DockerfileError, match=expected):
        parse_dockerfile(text)


def test_a_missing_dockerfile_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(DockerfileError, match="STAGELINE_DOCKERFILE"):
        read_dockerfile(tmp_path / "Dockerfile")
