"""BuildKit's automatic platform args, as ``defaultArgs``, ``buildMetaArgs`` and ``dispatchArg``."""

from pathlib import Path

import pytest

from stageline.builders.choice import choose_builder
from stageline.content_key import stage_args
from stageline.dockerfile import StageGraph, parse_dockerfile, stage_graph
from stageline.dockerfile.platforms import (
    DEFAULT_PLATFORMS,
    BuildPlatforms,
    Platform,
    parse_platform,
    platform_args,
)
from stageline.errors import BuilderUnavailableError, DockerfileError
from stageline.plan import Request, make_plan
from stageline.settings import Settings

ARM64 = Platform("linux", "arm64")
ARM_V7 = Platform("linux", "arm", "v7")
WINDOWS = Platform("windows", "amd64")
BINARY = (  # docker/cli's pattern: one stage per OS, picked by the target's OS
    "FROM debian AS binary-linux\nFROM debian AS binary-windows\nFROM binary-$TARGETOS AS binary\n"
)
CROSS = (  # build on the build platform, for the target's architecture
    "FROM --platform=$BUILDPLATFORM golang AS build\n"
    "ARG TARGETARCH\n"
    "RUN GOARCH=$TARGETARCH go build -o /out/app\n"
    "FROM debian\n"
    "COPY --from=build /out/app /app\n"
)
DEFAULTED = (  # a default given to ARG TARGETPLATFORM replaces BuildKit's value
    "ARG TARGETPLATFORM=linux/arm/v7\n"
    "FROM --platform=$TARGETPLATFORM debian AS first\n"
    "FROM --platform=$TARGETPLATFORM debian\n"
    "ARG TARGETPLATFORM\n"
)


def graph_of(
    text: str, platforms: BuildPlatforms = DEFAULT_PLATFORMS, **build_args: str
) -> StageGraph:
    return stage_graph(parse_dockerfile(text), build_args, platforms)


def settings(**environ: str) -> Settings:
    return Settings(
        root=Path("."),
        image="registry.example.com/team/app",
        ref_slug="main",
        default_branch="main",
        environ=environ,
        build_arg_names=tuple(environ),
    )


def test_the_args_are_buildkits_and_the_target_defaults_to_the_build_platform() -> None:
    values = platform_args(BuildPlatforms(build=ARM_V7))
    assert values == {
        "BUILDPLATFORM": "linux/arm/v7", "BUILDOS": "linux", "BUILDOSVERSION": "",
        "BUILDARCH": "arm", "BUILDVARIANT": "v7",
        "TARGETPLATFORM": "linux/arm/v7", "TARGETOS": "linux", "TARGETOSVERSION": "",
        "TARGETARCH": "arm", "TARGETVARIANT": "v7",
    }  # fmt: skip
    both = platform_args(BuildPlatforms(build=ARM64, target=WINDOWS))
    assert (both["BUILDPLATFORM"], both["TARGETPLATFORM"]) == ("linux/arm64", "windows/amd64")
    assert platform_args(BuildPlatforms())["TARGETPLATFORM"] == "linux/amd64"
    assert parse_platform("Linux/ARM/v7") == ARM_V7
    with pytest.raises(DockerfileError, match="os/arch"):
        parse_platform("linux")


def test_from_a_stage_named_by_targetos_makes_that_stage_a_parent() -> None:
    assert graph_of(BINARY).node("binary").parents == ("binary-linux",)
    on_windows = graph_of(BINARY, BuildPlatforms(target=WINDOWS))
    assert on_windows.node("binary").parents == ("binary-windows",)
    assert on_windows.ancestors("binary") == ["binary-windows", "binary"]


def test_from_platform_expands_buildplatform_and_an_empty_one_is_refused() -> None:
    graph = graph_of(CROSS, BuildPlatforms(build=ARM64, target=ARM_V7))
    assert graph.node("build").platform == "linux/arm64"
    assert graph.node("stage-1").platform is None
    with pytest.raises(DockerfileError, match="line 1: empty platform value from expression"):
        graph_of("FROM --platform=$NOT_SET debian\n")


def test_a_bare_arg_in_a_stage_takes_the_automatic_value_into_the_key() -> None:
    amd64, arm64 = graph_of(CROSS), graph_of(CROSS, BuildPlatforms(target=ARM64))
    assert stage_args(amd64.node("build"), amd64, {}) == {"TARGETARCH": "amd64"}
    assert stage_args(arm64.node("build"), arm64, {}) == {"TARGETARCH": "arm64"}
    with pytest.raises(DockerfileError, match="variable expansion is not supported for --from"):
        graph_of("FROM debian AS build-amd64\nARG TARGETARCH\nCOPY --from=build-$TARGETARCH a b\n")


def test_a_default_given_to_arg_targetplatform_wins_and_a_build_arg_wins_over_it() -> None:
    graph = graph_of(DEFAULTED)
    assert graph.node("stage-1").platform == "linux/arm/v7"
    values = dict(graph.global_values)
    assert (values["TARGETPLATFORM"], values["TARGETARCH"]) == ("linux/arm/v7", "amd64")
    assert stage_args(graph.node("stage-1"), graph, {}) == {"TARGETPLATFORM": "linux/arm/v7"}
    given = graph_of(DEFAULTED, TARGETPLATFORM="linux/s390x")
    assert given.node("stage-1").platform == "linux/s390x"
    bare = graph_of("ARG TARGETPLATFORM\nFROM --platform=$TARGETPLATFORM debian\n")
    assert bare.node("stage-0").platform == "linux/amd64"


def test_a_build_arg_replaces_an_automatic_arg_as_in_buildkit() -> None:
    text = "FROM debian AS binary-linux\nFROM debian AS binary-darwin\nARG TARGETOS\n" + (
        "FROM binary-$TARGETOS AS binary\n"
    )
    plan = make_plan(settings(TARGETOS="darwin"), parse_dockerfile(text))
    assert plan.stage("binary").parents == ("binary-darwin",)
    assert plan.build_arg_values == {"TARGETOS": "darwin"}
    unlisted = make_plan(settings(), parse_dockerfile(text))
    assert unlisted.stage("binary").parents == ("binary-linux",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BINARY, "line 3 uses FROM binary-\\$TARGETOS \\(BuildKit's automatic platform args"),
        (CROSS, "line 1 uses FROM --platform=\\$BUILDPLATFORM"),
        (CROSS.replace("--platform=$BUILDPLATFORM ", ""), "line 2 uses a bare ARG TARGETARCH"),
    ],
)
def test_the_classic_builder_refuses_a_plan_that_reads_the_automatic_args(
    text: str, expected: str
) -> None:
    plan = make_plan(settings(), parse_dockerfile(text))
    with pytest.raises(BuilderUnavailableError, match=f"--builder classic: Dockerfile {expected}"):
        choose_builder(settings(), plan, "classic")


def test_the_classic_builder_is_fine_where_the_dockerfile_or_a_build_arg_sets_the_value() -> None:
    own_default = "ARG TARGETOS=linux\n" + BINARY
    assert make_plan(settings(), parse_dockerfile(own_default)).buildkit_features == ()
    given = make_plan(settings(TARGETOS="linux"), parse_dockerfile("ARG TARGETOS\n" + BINARY))
    assert given.buildkit_features == ()
    unplanned = BINARY + "FROM debian AS other\n"
    assert make_plan(settings(), parse_dockerfile(unplanned)).buildkit_features == ()
    only_binary = make_plan(settings(), parse_dockerfile(unplanned), Request(target="binary"))
    assert [feature.line for feature in only_binary.buildkit_features] == [3]
