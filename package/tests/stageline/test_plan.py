"""The plan: which stages a build needs, who reads and writes which tag, which build args."""

from dataclasses import replace
from pathlib import Path

import pytest

from stageline.build_args import FROM_LIST, FROM_OPTION
from stageline.dockerfile import parse_dockerfile
from stageline.errors import PlanError
from stageline.plan import Request, cache_tag, make_plan, tag_safe
from stageline.settings import GitFacts, Settings, parse_settings

DOCKERFILE = parse_dockerfile(
    "ARG PYTHON_IMAGE=python\nARG NODE_IMAGE=node\n"
    "FROM $PYTHON_IMAGE AS build-python\n"
    "FROM $NODE_IMAGE AS build-node\n"
    "FROM build-python AS lint\nRUN false\n"
    "FROM $PYTHON_IMAGE AS production\n"
    "COPY --from=build-python /opt/venv /opt/venv\nCOPY --from=build-node /dist /dist\n"
    "FROM production AS development\nARG DEV_TOOLS=ipython\n"
)
IMAGE = "registry.example.com/team/app"
PYTHON = "mirror/python:3.13"


def settings(ref: str = "main", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "root": Path("."),
        "image": IMAGE,
        "ref_slug": ref,
        "default_branch": "main",
        "short_sha": "abcdef12",
        "environ": {"PYTHON_IMAGE": PYTHON},
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def names(plan_stages: object) -> list[str]:
    return [stage.name for stage in plan_stages]  # type: ignore[attr-defined]


def test_the_target_defaults_to_the_last_stage_and_plans_only_its_ancestors() -> None:
    plan = make_plan(settings(), DOCKERFILE)
    assert plan.target == "development"
    assert names(plan.stages) == ["build-python", "build-node", "production", "development"]


def test_a_stage_after_the_target_gets_no_commit_tag_and_is_not_built() -> None:
    plan = make_plan(settings(targets=("production",)), DOCKERFILE)
    assert names(plan.stages) == ["build-python", "build-node", "production"]
    assert [stage.tags for stage in plan.stages] == [
        (f"{IMAGE}:build-python",),
        (f"{IMAGE}:build-node",),
        (f"{IMAGE}:production", f"{IMAGE}:abcdef12"),
    ]
    assert plan.stage("production").parents == ("build-python", "build-node")


def test_cache_sources_are_the_stages_own_tags_and_its_ancestors_only() -> None:
    plan = make_plan(settings(targets=("production",)), DOCKERFILE)
    assert plan.stage("build-node").cache_from == (f"{IMAGE}:build-node",)
    assert plan.stage("production").cache_from == (
        f"{IMAGE}:build-python",
        f"{IMAGE}:build-node",
        f"{IMAGE}:production",
    )
    assert not any("lint" in ref for ref in plan.pulls + plan.pushes)


def test_stage_builds_it_and_its_ancestors_and_the_target_keeps_the_commit_tag() -> None:
    plan = make_plan(settings(targets=("production",)), DOCKERFILE, Request(stage="Development"))
    assert plan.stage("production").tags[1:] == (f"{IMAGE}:abcdef12",)
    assert plan.stage("development").tags == (f"{IMAGE}:development",)
    only_node = make_plan(
        settings(targets=("production",)), DOCKERFILE, Request(stage="build-node")
    )
    assert names(only_node.stages) == ["build-node"]
    assert f"{IMAGE}:abcdef12" not in only_node.pushes


def test_target_names_match_in_any_case_and_the_request_wins() -> None:
    plan = make_plan(settings(targets=("development",)), DOCKERFILE, Request(target="Production"))
    assert plan.target == "production"


def test_a_branch_reads_its_own_cache_first_then_the_default_and_writes_only_its_own() -> None:
    plan = make_plan(settings("feature-x", targets=("production",)), DOCKERFILE)
    node = plan.stage("build-node")
    assert node.tags == (f"{IMAGE}:build-node--feature-x",)
    assert node.cache_from == (f"{IMAGE}:build-node--feature-x", f"{IMAGE}:build-node")
    default_tags = {f"{IMAGE}:{name}" for name in ("build-python", "build-node", "production")}
    assert not default_tags & set(plan.pushes)
    assert f"{IMAGE}:latest" not in plan.pushes
    assert f"{IMAGE}:abcdef12" in plan.pushes


def test_no_build_writes_a_release_tag_on_the_default_branch_or_a_tag_pipeline() -> None:
    for chosen in (settings(), settings("v1-2", commit_tag="v1.2+build/7")):
        plan = make_plan(replace(chosen, targets=("production",)), DOCKERFILE)
        assert f"{IMAGE}:latest" not in plan.pushes
        assert not any("v1.2" in tag for tag in plan.pushes)
        assert plan.stage("production").tags[-1] == f"{IMAGE}:abcdef12"


def test_several_targets_plan_their_common_stages_once_and_each_gets_a_commit_tag() -> None:
    chosen = settings("feature-x", targets=("production", "development"))
    plan = make_plan(chosen, DOCKERFILE)
    assert (plan.target, plan.targets) == ("production", ("production", "development"))
    assert names(plan.stages) == ["build-python", "build-node", "production", "development"]
    assert plan.stage("production").tags == (
        f"{IMAGE}:production--feature-x",
        f"{IMAGE}:abcdef12",
    )
    assert plan.stage("development").tags == (
        f"{IMAGE}:development--feature-x",
        f"{IMAGE}:development-abcdef12",
    )
    assert len(plan.pushes) == len(set(plan.pushes)) == 6


def test_the_target_option_replaces_the_settings_targets() -> None:
    chosen = settings(targets=("production", "development"))
    plan = make_plan(chosen, DOCKERFILE, Request(target="build-node"))
    assert (plan.targets, names(plan.stages)) == (("build-node",), ["build-node"])
    assert plan.stage("build-node").tags == (f"{IMAGE}:build-node", f"{IMAGE}:abcdef12")


def test_unnamed_stages_are_tagged_with_buildkits_names() -> None:
    dockerfile = parse_dockerfile(
        "FROM debian\nRUN make\nFROM debian AS docs\nFROM distroless\nCOPY --from=0 /a /a\n"
    )
    plan = make_plan(settings(), dockerfile)
    assert plan.target == "stage-2"
    assert [stage.tags[0] for stage in plan.stages] == [f"{IMAGE}:stage-0", f"{IMAGE}:stage-2"]
    assert "FROM distroless AS stage-2" in plan.dockerfile_text


def test_an_unknown_stage_lists_the_stages_the_dockerfile_has() -> None:
    with pytest.raises(PlanError, match="build-python, build-node, lint, production"):
        make_plan(settings(), DOCKERFILE, Request(stage="prod"))


def test_an_environment_variable_not_listed_never_becomes_a_build_arg() -> None:
    dockerfile = parse_dockerfile("ARG PYTHON_VERSION=3.10-slim\nFROM python:${PYTHON_VERSION}\n")
    plan = make_plan(settings(environ={"PYTHON_VERSION": "3.13.1"}), dockerfile)
    assert plan.build_args == ()
    listed = settings(environ={"PYTHON_VERSION": "3.13.1"}, build_arg_names=("PYTHON_VERSION",))
    assert make_plan(listed, dockerfile).build_arg_values == {"PYTHON_VERSION": "3.13.1"}


def test_build_args_say_where_they_came_from_and_the_option_wins() -> None:
    plan = make_plan(
        settings(environ={"PYTHON_IMAGE": PYTHON, "NODE_IMAGE": "mirror/node:20"}),
        DOCKERFILE,
        Request(build_args=(("NODE_IMAGE", "other/node:22"), ("DEV_TOOLS", "ipdb"))),
    )
    assert [(a.name, a.value, a.source) for a in plan.build_args] == [
        ("DEV_TOOLS", "ipdb", FROM_OPTION),
        ("NODE_IMAGE", "other/node:22", FROM_OPTION),
        ("PYTHON_IMAGE", PYTHON, FROM_LIST),
    ]


def test_a_build_arg_of_a_stage_that_is_not_planned_is_refused() -> None:
    request = Request(target="production", build_args=(("DEV_TOOLS", "ipdb"),))
    with pytest.raises(PlanError, match="--build-arg DEV_TOOLS: no ARG DEV_TOOLS"):
        make_plan(settings(), DOCKERFILE, request)


def test_a_global_build_arg_can_turn_from_into_a_stage_reference() -> None:
    dockerfile = parse_dockerfile("ARG BASE=debian\nFROM debian AS tools\nFROM $BASE AS app\n")
    plan = make_plan(settings(), dockerfile, Request(build_args=(("BASE", "tools"),)))
    assert plan.stage("app").parents == ("tools",)
    assert names(make_plan(settings(), dockerfile).stages) == ["app"]


def test_no_cache_reads_nothing_but_still_writes() -> None:
    plan = make_plan(settings(targets=("production",)), DOCKERFILE, Request(no_cache=True))
    assert plan.pulls == []
    assert len(plan.pushes) == 4


def test_pulls_are_each_cache_source_once() -> None:
    plan = make_plan(settings("feature-x", targets=("production",)), DOCKERFILE)
    assert len(plan.pulls) == len(set(plan.pulls)) == 6


def test_a_planned_stage_name_that_cannot_be_a_cache_tag_is_refused() -> None:
    dockerfile = parse_dockerfile("FROM debian AS a--b\nFROM debian AS c\n")
    assert names(make_plan(settings(), dockerfile).stages) == ["c"]
    with pytest.raises(PlanError, match="cannot be a cache tag"):
        make_plan(settings(), dockerfile, Request(target="a--b"))


def test_branch_cache_tags_are_unambiguous_and_valid() -> None:
    long_ref = "a" * 63
    tag = cache_tag("build-python", long_ref, default_branch=False)
    assert len(tag) <= 128
    assert tag.split("--", 1) == ["build-python", long_ref]
    assert len(cache_tag("x" * 100, long_ref, default_branch=False)) <= 128


def test_tag_safe_refuses_text_with_nothing_usable() -> None:
    assert tag_safe("release/2026") == "release-2026"
    with pytest.raises(PlanError):
        tag_safe("...")


def test_platform_option_takes_commas_and_repeats_and_refuses_a_bad_one() -> None:
    from stageline.commands import platform_option
    from stageline.errors import SettingsError

    assert platform_option(()) == ()
    given = ("linux/amd64,linux/arm64", "linux/arm64")
    assert platform_option(given) == ("linux/amd64", "linux/arm64")
    with pytest.raises(SettingsError, match=r"--platform 'amd64'.*os/arch"):
        platform_option(("amd64",))


@pytest.mark.parametrize(
    ("env", "project", "request_", "source"),
    [
        ({"STAGELINE_TARGET": "prod"}, {}, Request(), "STAGELINE_TARGET"),
        ({}, {"target": "prod"}, Request(), "[tool.stageline] target in pyproject.toml"),
        ({}, {"targets": ["production", "prod"]}, Request(), "[tool.stageline] targets in"),
        ({}, {"target": "production"}, Request(target="prod"), "--target"),
        ({}, {}, Request(stage="prod"), "--stage"),
    ],
)
def test_an_unknown_stage_says_where_its_name_came_from(
    env: dict[str, str], project: dict[str, object], request_: Request, source: str
) -> None:
    """Issue 26, item 9: the stage list alone left a user guessing which setting to fix."""
    chosen = parse_settings(
        Path("/shop"), {"CI_REGISTRY_IMAGE": IMAGE, **env}, project, GitFacts("main", "abc")
    )
    with pytest.raises(PlanError) as refused:
        make_plan(chosen, DOCKERFILE, request_)
    message = str(refused.value)
    assert message.startswith(f"unknown stage 'prod' named by {source}"), message
    assert message.endswith(
        "the Dockerfile has: build-python, build-node, lint, production, development."
    )
