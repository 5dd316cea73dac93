"""The tag policy: who reads and writes which tag."""

from pathlib import Path

import pytest

from stageline.dockerfile import parse_dockerfile
from stageline.errors import PlanError
from stageline.plan import cache_tag, make_plan, tag_safe
from stageline.settings import Settings

DOCKERFILE = parse_dockerfile(
    "ARG PYTHON_IMAGE=python\nFROM x AS build-python\nFROM y AS build-node\nFROM z AS production\n"
)
IMAGE = "registry.example.com/team/app"


def settings(ref: str = "main", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "root": Path("."),
        "image": IMAGE,
        "ref_slug": ref,
        "default_branch": "main",
        "short_sha": "abcdef12",
        "environ": {"PYTHON_IMAGE": "mirror/python:3.13"},
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_default_branch_reads_and_writes_the_stage_tags() -> None:
    plan = make_plan(settings(), DOCKERFILE)
    assert [stage.tags for stage in plan.stages] == [
        (f"{IMAGE}:build-python",),
        (f"{IMAGE}:build-node",),
        (f"{IMAGE}:production", f"{IMAGE}:abcdef12", f"{IMAGE}:latest"),
    ]
    assert plan.stage("production").cache_from == (
        f"{IMAGE}:build-python",
        f"{IMAGE}:build-node",
        f"{IMAGE}:production",
    )
    assert plan.build_args == (("PYTHON_IMAGE", "mirror/python:3.13"),)


def test_a_branch_reads_its_own_cache_first_then_the_default_and_writes_only_its_own() -> None:
    plan = make_plan(settings("feature-x"), DOCKERFILE)
    node = plan.stage("build-node")
    assert node.tags == (f"{IMAGE}:build-node--feature-x",)
    assert node.cache_from == (
        f"{IMAGE}:build-python--feature-x",
        f"{IMAGE}:build-python",
        f"{IMAGE}:build-node--feature-x",
        f"{IMAGE}:build-node",
    )
    default_tags = {f"{IMAGE}:{name}" for name in ("build-python", "build-node", "production")}
    assert not default_tags & set(plan.pushes)
    assert f"{IMAGE}:latest" not in plan.pushes
    assert f"{IMAGE}:abcdef12" in plan.pushes


def test_a_tag_pipeline_adds_the_git_tag_made_tag_safe() -> None:
    plan = make_plan(settings("v1-2", commit_tag="v1.2+build/7"), DOCKERFILE)
    assert f"{IMAGE}:v1.2-build-7" in plan.stage("production").tags
    assert f"{IMAGE}:latest" not in plan.pushes


def test_one_stage_builds_it_and_the_stages_before_it() -> None:
    plan = make_plan(settings(), DOCKERFILE, target="build-node")
    assert [stage.name for stage in plan.stages] == ["build-python", "build-node"]
    assert f"{IMAGE}:latest" not in plan.pushes


def test_an_unknown_stage_lists_the_stages_the_dockerfile_has() -> None:
    with pytest.raises(PlanError, match="build-python, build-node, production"):
        make_plan(settings(), DOCKERFILE, target="prod")


def test_no_cache_reads_nothing_but_still_writes() -> None:
    plan = make_plan(settings(), DOCKERFILE, no_cache=True)
    assert plan.pulls == []
    assert len(plan.pushes) == 5


def test_pulls_are_each_cache_source_once() -> None:
    plan = make_plan(settings("feature-x"), DOCKERFILE)
    assert len(plan.pulls) == len(set(plan.pulls)) == 6


def test_branch_cache_tags_are_unambiguous_and_valid() -> None:
    long_ref = "a" * 63
    tag = cache_tag("build-python", long_ref, default_branch=False)
    assert len(tag) <= 128
    assert tag.split("--", 1) == ["build-python", long_ref]
    assert cache_tag("x" * 100, long_ref, default_branch=False).__len__() <= 128


def test_a_git_tag_that_clashes_with_a_stage_tag_is_refused() -> None:
    with pytest.raises(PlanError, match="would be both"):
        make_plan(settings("x", commit_tag="production--x"), DOCKERFILE)


def test_tag_safe_refuses_text_with_nothing_usable() -> None:
    assert tag_safe("release/2026") == "release-2026"
    with pytest.raises(PlanError):
        tag_safe("...")
