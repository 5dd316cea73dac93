"""Which platforms each stage is built for: every target, or once on the build platform."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.actions import plan_document, show_plan
from stageline.builders.choice import BuilderChoice
from stageline.cache import CacheChoice
from stageline.console import Output
from stageline.dockerfile import parse_dockerfile
from stageline.dockerfile.platforms import DEFAULT_PLATFORM, BuildPlatforms, Platform
from stageline.errors import PlanError
from stageline.plan import Plan, Request, make_plan
from stageline.settings import Settings

AMD64, ARM64 = "linux/amd64", "linux/arm64"
BOTH = (AMD64, ARM64)
TEMPLATE_LIKE = (
    "ARG PYTHON_IMAGE=python\nARG NODE_IMAGE=node\n"
    "FROM --platform=$BUILDPLATFORM $NODE_IMAGE AS build-node\nRUN npm ci\n"
    "FROM build-node AS assets\nRUN npm run build\n"
    "FROM $PYTHON_IMAGE AS build-python\nRUN pip install x\n"
    "FROM $PYTHON_IMAGE AS production\n"
    "COPY --from=build-python /opt/venv /opt/venv\nCOPY --from=assets /dist /dist\n"
)


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "root": Path("."),
        "image": "registry.example.com/team/app",
        "ref_slug": "main",
        "default_branch": "main",
        "short_sha": "abcdef12",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def plan_of(text: str, *platforms: str, engine: Platform = DEFAULT_PLATFORM) -> Plan:
    request = Request(platforms=platforms)
    return make_plan(settings(), parse_dockerfile(text), request, (), BuildPlatforms(engine))


def on(plan: Plan) -> dict[str, tuple[str, ...]]:
    return {stage.name: stage.platforms for stage in plan.stages}


def test_without_platforms_every_stage_is_built_for_the_engines_own_platform() -> None:
    plan = plan_of(TEMPLATE_LIKE)
    assert plan.platforms == (AMD64,)
    assert set(on(plan).values()) == {(AMD64,)}
    assert not any(plan.shared(stage) for stage in plan.stages)
    arm = plan_of(TEMPLATE_LIKE, engine=Platform("linux", "arm64"))
    assert (arm.platforms, arm.build_platform) == ((ARM64,), ARM64)
    assert set(on(arm).values()) == {(ARM64,)}


def test_a_build_platform_stage_and_what_builds_on_it_are_built_once_for_every_target() -> None:
    plan = plan_of(TEMPLATE_LIKE, AMD64, ARM64)
    assert on(plan) == {
        "build-node": (AMD64,),
        "assets": (AMD64,),
        "build-python": BOTH,
        "production": BOTH,
    }
    assert [plan.shared(stage) for stage in plan.stages] == [True, True, False, False]
    assert plan.stage("build-node").base_platform == AMD64
    assert plan.multi_platform


def test_on_an_arm64_engine_the_build_platform_is_arm64() -> None:
    plan = plan_of(TEMPLATE_LIKE, AMD64, ARM64, engine=Platform("linux", "arm64"))
    assert on(plan)["assets"] == (ARM64,)
    assert on(plan)["production"] == BOTH


def test_a_stage_on_the_build_platform_that_reads_the_target_runs_once_per_target() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM golang AS build\nARG TARGETARCH\n"
        "RUN GOARCH=$TARGETARCH go build -o /app\n"
        "FROM --platform=$BUILDPLATFORM alpine AS docs\nCOPY --from=build /app /app\n"
        "FROM scratch AS image\nCOPY --from=build /app /app\nCOPY --from=docs /app /docs\n"
    )
    plan = plan_of(text, AMD64, ARM64)
    assert on(plan) == {"build": BOTH, "docs": BOTH, "image": BOTH}
    assert plan.stage("build").base_platform == AMD64  # its base image is read for amd64


def test_a_fixed_platform_or_the_target_platform_in_from() -> None:
    text = (
        "FROM --platform=linux/arm64 tool AS tool\nRUN make\n"
        "FROM --platform=$TARGETPLATFORM python AS app\nCOPY --from=tool /t /t\n"
    )
    plan = plan_of(text, AMD64, ARM64)
    assert on(plan) == {"tool": (ARM64,), "app": BOTH}
    assert plan.stage("app").base_platform is None
    single = plan_of(text, AMD64)
    assert on(single) == {"tool": (ARM64,), "app": (AMD64,)}


def test_stages_that_differ_per_target_platform_are_refused_with_the_way_out() -> None:
    text = "FROM a AS base-amd64\nFROM b AS base-arm64\nFROM base-$TARGETARCH\nRUN x\n"
    assert on(plan_of(text, ARM64)) == {"base-arm64": (ARM64,), "stage-2": (ARM64,)}
    with pytest.raises(PlanError, match=r"own job.*--platform") as raised:
        plan_of(text, AMD64, ARM64)
    assert "\n" not in str(raised.value)


def test_plan_shows_each_stages_platforms_in_text_and_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = plan_of(TEMPLATE_LIKE, AMD64, ARM64)
    choice, cache = BuilderChoice("buildkit", "asked for"), CacheChoice("inline", "why")
    document = plan_document(plan, choice, cache, settings())
    assert (document["platforms"], document["build_platform"]) == ([AMD64, ARM64], AMD64)
    stages = {s["name"]: s for s in document["stages"]}  # type: ignore[attr-defined]
    assert stages["assets"]["platforms"] == [AMD64]
    assert stages["assets"]["shared"] is True
    assert stages["production"]["platforms"] == [AMD64, ARM64]
    show_plan(plan, settings(), choice, cache, Output(force_plain=True))
    shown = capsys.readouterr().out
    assert "platforms:   linux/amd64, linux/arm64 (builds on linux/amd64)" in shown
    assert "linux/amd64 (built once, shared by linux/amd64, linux/arm64)" in shown


def test_buildx_builds_a_stage_for_all_its_platforms_in_one_run() -> None:
    from stageline.builders import BuildConfig
    from stageline.builders.buildkit import buildx_command

    plan = plan_of(TEMPLATE_LIKE, AMD64, ARM64)
    config = BuildConfig(settings(), CacheChoice("inline", "why"), "rawjson")

    def platform_flag(name: str) -> list[str]:
        command = buildx_command(config, plan, plan.stage(name), "Dockerfile")
        return command[command.index("--platform") :][:2] if "--platform" in command else []

    assert platform_flag("production") == ["--platform", "linux/amd64,linux/arm64"]
    assert platform_flag("assets") == []  # the engine's own platform: built once
    single = plan_of(TEMPLATE_LIKE)
    assert "--platform" not in buildx_command(config, single, single.stage("production"), "D")
    arm = plan_of(TEMPLATE_LIKE, ARM64)
    command = buildx_command(config, arm, arm.stage("production"), "Dockerfile")
    assert command[command.index("--platform") + 1] == ARM64


def test_the_classic_builder_refuses_two_platforms_in_one_line() -> None:
    from stageline.builders.choice import choose_builder, classic_refusal
    from stageline.errors import BuilderUnavailableError

    plan = plan_of(TEMPLATE_LIKE.replace("--platform=$BUILDPLATFORM ", ""), AMD64, ARM64)
    with pytest.raises(BuilderUnavailableError) as raised:
        choose_builder(settings(), plan, "classic")
    assert str(raised.value) == (
        "--builder classic: building for linux/amd64, linux/arm64 at once (one image index) "
        "needs BuildKit; the classic builder builds one platform; use BuildKit."
    )
    assert classic_refusal(settings(), plan_of("FROM python\nRUN x\n", ARM64)) is None


def test_several_platforms_need_the_containerd_image_store() -> None:
    from stageline.builders.choice import multi_platform_refusal

    containerd = {"DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}
    overlay2 = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]}
    both = plan_of(TEMPLATE_LIKE, AMD64, ARM64)
    assert multi_platform_refusal(both, containerd) is None
    assert multi_platform_refusal(plan_of(TEMPLATE_LIKE, ARM64), overlay2) is None
    refusal = multi_platform_refusal(both, overlay2)
    assert refusal is not None
    assert "containerd-snapshotter" in refusal
    assert "--platform" in refusal
