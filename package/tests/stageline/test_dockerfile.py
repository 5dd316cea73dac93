"""The stage graph, read as BuildKit reads it: names, parents, the target's ancestors."""

from pathlib import Path

import pytest

from stageline.dockerfile import parse_dockerfile, read_dockerfile, stage_graph
from stageline.dockerfile.rewrite import engine_dockerfile
from stageline.errors import DockerfileError, PlanError

ROOT = Path(__file__).resolve().parents[3]  # the template's project


def graph_of(text: str, **build_args: str):  # type: ignore[no-untyped-def]
    return stage_graph(parse_dockerfile(text), build_args)


def test_the_projects_dockerfile_has_its_stages_and_production_needs_three() -> None:
    dockerfile = read_dockerfile(ROOT / "Dockerfile")
    # production last: a plain `docker build .` builds the image that ships.
    assert dockerfile.stage_names == [
        "build-python",
        "build-node",
        "assets",
        "development",
        "production",
    ]
    assert {arg.name for arg in dockerfile.global_args} >= {"PYTHON_IMAGE", "NODE_IMAGE"}
    graph = stage_graph(dockerfile, {})
    assert graph.ancestors("production") == ["build-python", "build-node", "assets", "production"]


def test_unnamed_stages_take_buildkits_names_and_index_references_resolve() -> None:
    graph = graph_of(
        "FROM alpine\nRUN make\n"
        "FROM alpine AS docs\nRUN make docs\n"
        "FROM gcr.io/distroless/static\nCOPY --from=0 /app /app\n"
    )
    assert graph.names == ["stage-0", "docs", "stage-2"]
    assert graph.node("stage-2").parents == ("stage-0",)
    assert graph.ancestors("stage-2") == ["stage-0", "stage-2"]


def test_parents_come_from_from_copy_from_and_mount_from_in_any_case() -> None:
    graph = graph_of(
        "FROM debian AS Deps\n"
        "FROM debian AS assets\n"
        "FROM debian AS tools\n"
        "FROM deps AS app\n"
        "COPY --from=ASSETS /dist /dist\n"
        "RUN --mount=type=bind,from=tools,target=/t /t/run\n"
        "COPY --from=nginx:1.27 /etc/nginx /etc/nginx\n"
    )
    assert graph.names == ["deps", "assets", "tools", "app"]
    assert graph.node("app").parents == ("deps", "assets", "tools")
    assert graph.node("App").base_image is None
    assert graph.node("deps").base_image == "debian"


def test_a_stage_after_the_target_and_unrelated_stages_are_not_ancestors() -> None:
    graph = graph_of(
        "FROM debian AS base\nFROM base AS lint\nRUN false\n"
        "FROM base AS production\nFROM production AS development\n"
    )
    assert graph.ancestors("production") == ["base", "production"]
    assert graph.ancestors("development") == ["base", "production", "development"]


def test_from_resolves_global_args_to_a_stage_or_an_image() -> None:
    text = "ARG BASE=debian:12\nARG FLAVOUR=${BASE}-slim\nFROM ${BASE} AS one\nFROM ${FLAVOUR}\n"
    graph = graph_of(text)
    assert graph.node("one").base_image == "debian:12"
    assert graph.node("stage-1").base_image == "debian:12-slim"
    assert graph_of(text, FLAVOUR="one").node("stage-1").parents == ("one",)


def test_quoted_arg_values_with_spaces_are_one_arg_and_stage_args_are_kept() -> None:
    dockerfile = parse_dockerfile(
        'ARG GREETING="hello world" OTHER\nFROM debian AS a\nARG LEVEL=3 MODE="fast run"\n'
    )
    assert [(arg.name, arg.default) for arg in dockerfile.global_args] == [
        ("GREETING", '"hello world"'),
        ("OTHER", None),
    ]
    assert [arg.name for arg in dockerfile.stages[0].args] == ["LEVEL", "MODE"]


def test_a_heredoc_line_that_starts_with_from_is_not_a_stage() -> None:
    text = "# syntax=docker/dockerfile:1\nFROM debian AS a\nRUN <<EOF\nFROM evil AS b\nEOF\n"
    dockerfile = parse_dockerfile(text)
    assert dockerfile.stage_names == ["a"]
    assert [f.what for f in dockerfile.buildkit_features()] == [
        "the # syntax= directive",
        "RUN with a heredoc (<<)",
    ]


def test_escape_after_syntax_tabs_and_a_bom_are_read_as_docker_reads_them() -> None:
    text = "\ufeff# syntax=docker/dockerfile:1\n# escape=`\nFROM\tdebian `\n\tAS\tWin\n"
    assert parse_dockerfile(text).stage_names == ["win"]


def test_buildkit_only_flags_are_found_per_stage() -> None:
    dockerfile = parse_dockerfile(
        "FROM debian AS a\nRUN --mount=type=cache,target=/c true\n"
        "FROM debian AS b\nCOPY --chmod=755 --link x /x\nCOPY --chown=1 y /y\n"
    )
    assert [(f.line, f.what) for f in dockerfile.buildkit_features({"b"})] == [
        (4, "COPY --chmod"),
        (4, "COPY --link"),
    ]
    assert dockerfile.buildkit_features({"a"})[0].what == "RUN --mount"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ARG A=1\n", "Dockerfile has no FROM"),
        ("FROM debian AS 1st\n", "line 1: invalid name for build stage"),
        ("FROM debian AS a extra\n", "line 1: FROM requires either one or three arguments"),
        ("FROM debian AS a\nFOO bar\n", "line 2: unknown instruction: FOO"),
        ("RUN true\nFROM debian\n", "line 1: no build stage in current context"),
        ("FROM debian AS a\nADD --from=a x y\n", "line 2: unknown flag: from"),
    ],
)
def test_what_buildkit_refuses_is_refused_with_the_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(DockerfileError, match=expected):
        parse_dockerfile(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM debian AS a\nCOPY --from=b x y\nFROM debian AS b\n", "line 2: cannot copy from"),
        ("FROM debian AS a\nCOPY --from=1 x y\nFROM debian\n", "line 2: cannot copy from"),
        ("FROM debian AS a\nCOPY --from=$X x y\n", "line 2: variable expansion is not supported"),
        ("ARG BASE\nFROM $BASE\n", "line 2: base name .* should not be blank"),
        ("FROM debian AS a\nFROM debian AS A\n", "line 2: stage name 'a' is already used"),
    ],
)
def test_what_the_graph_refuses_names_the_line(text: str, expected: str) -> None:
    with pytest.raises(DockerfileError, match=expected):
        graph_of(text)


def test_an_unknown_stage_lists_the_stages_the_dockerfile_has() -> None:
    with pytest.raises(PlanError, match="the Dockerfile has: stage-0, b"):
        graph_of("FROM debian\nFROM debian AS b\n").node("prod")


def test_the_engine_gets_names_for_unnamed_stages_and_empty_unneeded_ones() -> None:
    text = (
        "ARG BASE=debian\n"
        "FROM --platform=$BUILDPLATFORM $BASE\nRUN make\n"
        "FROM $BASE AS lint\nRUN false \\\n  && exit 1\n"
        "FROM gcr.io/distroless/static\nCOPY --from=0 /app /app\n"
        "FROM debian AS after\nRUN false\n"
    )
    graph = graph_of(text)
    sent = engine_dockerfile(graph, set(graph.ancestors("stage-2")))
    assert sent.splitlines() == [
        "ARG BASE=debian",
        "FROM --platform=$BUILDPLATFORM $BASE AS stage-0",
        "RUN make",
        "FROM scratch AS lint",
        "",
        "",
        "FROM gcr.io/distroless/static AS stage-2",
        "COPY --from=0 /app /app",
        "FROM debian AS after",
        "RUN false",
    ]
    resent = graph_of(sent)
    assert resent.names == graph.names
    assert resent.ancestors("stage-2") == ["stage-0", "stage-2"]


def test_a_dockerfile_that_needs_no_change_is_sent_byte_for_byte() -> None:
    text = "FROM debian AS a\r\nRUN true\r\nFROM a AS b\r\nFROM debian AS c\r\n"
    graph = graph_of(text)
    assert engine_dockerfile(graph, {"a", "b"}) == text


def test_a_missing_dockerfile_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(DockerfileError, match="STAGELINE_DOCKERFILE"):
        read_dockerfile(tmp_path / "Dockerfile")
