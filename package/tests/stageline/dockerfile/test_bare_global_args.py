"""A bare global ARG that re-declares a name with a value, on every BuildKit.

Current BuildKit's ``buildMetaArgs`` keeps the value (``ARG TARGETARCH`` before the first
``FROM`` leaves BuildKit's ``amd64``); BuildKit 0.13 (Docker 26) appends the bare ARG with
no value and so empties it, for ``FROM``, ``FROM --platform`` and each stage that
re-declares it (measured on Docker 26). ``buildkit_0_13`` below models that reading: the
Dockerfile the engine gets must read there as Stageline planned it.
"""

from collections.abc import Mapping

import pytest

from stageline.builders import BuildConfig
from stageline.builders.buildkit import buildx_command
from stageline.builders.choice import choose_builder
from stageline.cache import CacheChoice
from stageline.content_key import KeyInputs, stage_args, stage_keys
from stageline.dockerfile import StageGraph, parse_dockerfile, stage_graph
from stageline.dockerfile.platforms import BuildPlatforms, parse_platform, platform_args
from stageline.dockerfile.words import expand_word
from stageline.errors import BuilderUnavailableError
from stageline.plan import Plan, Request, make_plan
from tests.stageline.dockerfile.test_platforms import settings

PICKED = (  # FROM names the stage of the target's architecture
    "ARG TARGETARCH\n"
    "FROM scratch AS s-amd64\n"
    "FROM scratch AS s-arm64\n"
    "FROM scratch AS s-x\n"
    "FROM s-${TARGETARCH:-x} AS image\n"
)
ON_BUILD_PLATFORM = "ARG BUILDPLATFORM\nFROM --platform=$BUILDPLATFORM scratch AS image\n"
IN_THE_STAGE = 'ARG TARGETARCH\nFROM debian AS image\nARG TARGETARCH\nRUN echo "[$TARGETARCH]"\n'
REDECLARED = (  # a default, then the same name bare: the default stays
    "ARG TARGETARCH=arm64\nARG TARGETARCH\nARG BASE=debian\nARG BASE\n"
    "FROM scratch AS s-arm64\n"
    "FROM scratch AS s-amd64\n"
    "FROM ${BASE} AS other\n"
    "ARG TARGETARCH\n"
    "FROM s-$TARGETARCH AS image\n"
    "COPY --from=other /a /a\n"
)
LEFT_OUT = "# ARG {}: left out, so every BuildKit keeps its value (Stageline)\n"
BOTH = ("linux/amd64", "linux/arm64")
Reading = dict[str, tuple[str, str | None, dict[str, str]]]


def plan_of(text: str, *platforms: str, **environ: str) -> Plan:
    return make_plan(settings(**environ), parse_dockerfile(text), Request(platforms=platforms))


def buildkit_0_13(text: str, build_args: Mapping[str, str], target: str = BOTH[0]) -> Reading:
    """Return each stage's FROM, --platform and bare stage ARGs as BuildKit 0.13 reads
    them: a bare global ARG that no build arg sets is defined, and empty.
    """
    dockerfile = parse_dockerfile(text)
    escape = dockerfile.parsed.escape
    automatic = platform_args(BuildPlatforms(target=parse_platform(target)))
    values = {name: build_args.get(name, value) for name, value in automatic.items()}
    for arg in dockerfile.global_args:
        given = build_args.get(arg.name)
        default = expand_word(arg.default or "", values, escape)
        values[arg.name] = given if given is not None else default
    return {
        stage.name: (
            expand_word(stage.base, values, escape),
            None if stage.platform is None else expand_word(stage.platform, values, escape),
            {
                arg.name: value
                for arg in stage.args
                if (value := build_args.get(arg.name, values.get(arg.name))) is not None
            },
        )
        for stage in dockerfile.stages
    }


def planned(graph: StageGraph, build_args: Mapping[str, str]) -> Reading:
    """Return each stage's FROM (parent stage or image), --platform and ARGs, as planned."""
    return {
        node.name: (
            node.base_image or node.parents[0],
            node.platform,
            stage_args(node, graph, build_args),
        )
        for node in graph.nodes
    }


def read_as_planned(plan: Plan, reading: Reading) -> bool:
    """Return whether ``reading`` agrees with ``plan`` on every planned stage."""
    assert plan.graph is not None
    expected = planned(plan.graph, plan.build_arg_values)
    return all(reading[stage.name] == expected[stage.name] for stage in plan.stages)


def buildx_build_args(plan: Plan, stage: str) -> list[str]:
    config = BuildConfig(settings(), CacheChoice("inline", "test"), "rawjson")
    command = buildx_command(config, plan, plan.stage(stage), "Dockerfile")
    return [command[i + 1] for i, word in enumerate(command) if word == "--build-arg"]


@pytest.mark.parametrize(
    "text",
    [PICKED, ON_BUILD_PLATFORM, IN_THE_STAGE, REDECLARED],
    ids=["from", "from-platform", "in-the-stage", "redeclared"],
)
def test_buildkit_0_13_reads_the_engines_dockerfile_as_planned(text: str) -> None:
    plan = plan_of(text)
    assert read_as_planned(plan, buildkit_0_13(plan.dockerfile_text, {}))
    assert not read_as_planned(plan, buildkit_0_13(text, {}))  # as written, it reads otherwise


def test_from_names_the_target_architectures_stage_and_the_line_becomes_a_comment() -> None:
    plan = plan_of(PICKED, "linux/arm64")
    assert plan.stage("image").parents == ("s-arm64",)
    lines = plan.dockerfile_text.splitlines(keepends=True)
    assert lines[0] == LEFT_OUT.format("TARGETARCH")
    assert lines[4] == "FROM s-${TARGETARCH:-x} AS image\n"  # line numbers stay
    assert buildx_build_args(plan, "image") == ["BUILDKIT_INLINE_CACHE=1"]


def test_only_the_bare_redeclarations_are_left_out_of_a_line_or_a_continued_one() -> None:
    many = "ARG TARGETARCH VERSION=1 BASE\nFROM ${BASE:-debian}:$VERSION AS image\n"
    assert plan_of(many).dockerfile_text == "ARG VERSION=1 BASE\n" + many.split("\n", 1)[1]
    from_line = "FROM --platform=$BUILDPLATFORM debian AS image\n"
    continued = "ARG \\\n  BUILDPLATFORM \\\n  BASE\n" + from_line
    assert plan_of(continued).dockerfile_text == "ARG BASE\n\n\n" + from_line
    alone = "ARG BASE\nARG BUILDPLATFORM=linux/amd64\nFROM ${BASE:-debian} AS image\n"
    assert plan_of(alone).dockerfile_text == alone  # a first declaration stays


def test_a_default_stays_and_a_later_bare_redeclaration_keeps_it() -> None:
    plan = plan_of(REDECLARED)
    assert plan.stage("image").parents == ("s-arm64", "other")
    lines = plan.dockerfile_text.splitlines(keepends=True)
    assert lines[:4] == [
        "ARG TARGETARCH=arm64\n",
        LEFT_OUT.format("TARGETARCH"),
        "ARG BASE=debian\n",
        LEFT_OUT.format("BASE"),
    ]


def test_a_build_arg_keeps_the_line_and_reaches_buildx() -> None:
    plan = plan_of(IN_THE_STAGE, TARGETARCH="arm64")
    assert plan.dockerfile_text == IN_THE_STAGE
    assert buildx_build_args(plan, "image") == ["BUILDKIT_INLINE_CACHE=1", "TARGETARCH=arm64"]
    assert plan.graph is not None
    given = {"TARGETARCH": "arm64"}
    assert buildkit_0_13(plan.dockerfile_text, given) == planned(plan.graph, given)
    assert planned(plan.graph, given)["image"][2] == {"TARGETARCH": "arm64"}


@pytest.mark.parametrize(
    ("text", "name"),
    [(IN_THE_STAGE, "TARGETARCH"), (ON_BUILD_PLATFORM, "BUILDPLATFORM")],
    ids=["in-the-stage", "from-platform"],
)
def test_two_platforms_build_in_one_run_each_with_buildkits_own_values(
    text: str, name: str
) -> None:
    plan = plan_of(text, *BOTH)
    assert plan.dockerfile_text.splitlines(keepends=True)[0] == LEFT_OUT.format(name)
    assert buildx_build_args(plan, "image") == ["BUILDKIT_INLINE_CACHE=1"]
    dockerfile = parse_dockerfile(text)
    for target in BOTH:
        graph = stage_graph(dockerfile, {}, BuildPlatforms(target=parse_platform(target)))
        assert buildkit_0_13(plan.dockerfile_text, {}, target) == planned(graph, {})


def test_a_stages_key_does_not_depend_on_the_bare_global_line() -> None:
    def key(text: str) -> str | None:
        plan = plan_of(text)
        assert plan.graph is not None
        digests = {("debian", "linux/amd64"): "sha256:" + "d" * 64}
        return stage_keys(plan.graph, ["image"], KeyInputs({}, {}, digests))["image"]

    without = IN_THE_STAGE.split("\n", 1)[1]
    assert key(IN_THE_STAGE) == key(without) is not None
    assert key("ARG TARGETARCH=arm64\n" + without) != key(without)


def test_the_classic_builder_still_refuses_what_only_buildkit_defines() -> None:
    plan = plan_of(ON_BUILD_PLATFORM)
    with pytest.raises(BuilderUnavailableError, match="line 2 uses FROM --platform=\\$BUILDP"):
        choose_builder(settings(), plan, "classic")
    given = plan_of(ON_BUILD_PLATFORM, BUILDPLATFORM="linux/amd64")
    assert given.buildkit_features == ()
    assert given.dockerfile_text == ON_BUILD_PLATFORM  # the classic builder gets the line
