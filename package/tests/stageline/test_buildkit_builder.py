"""The BuildKit builder's command lines, its buildx version check and its builds.

``docker`` is a script on a private PATH (see replay.py): ``buildx version`` prints a
version, and ``buildx build`` prints a recorded progress stream (streams/*.rawjson, see
test_buildkit_progress.py), so the builder runs as it does with buildx, without Docker.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from stageline.builders import BuildConfig, StageBuild
from stageline.builders.buildkit import (
    BuildkitBuilder,
    build_waves,
    buildkit_missing_reason,
    buildx_command,
    buildx_version,
    existing_config,
    progress_mode,
)
from stageline.cache import CacheChoice
from stageline.console import Output
from stageline.context import BuildContext, make_context
from stageline.dockerfile import parse_dockerfile
from stageline.errors import BuildError
from stageline.plan import Plan, Request, make_plan
from stageline.report import StageResult
from stageline.settings import Secret, Settings
from tests.stageline.replay import FakeEngine, fake_builds, fake_docker

IMAGE = "localhost:5000/group/app"
# The stages of the recorded streams: "a" (remote-cache-hit), "base" and "broken".
DOCKERFILE = """\
FROM localhost:5000/mirror/python:3.13 AS base
RUN echo base-step
FROM base AS broken
RUN echo marker-$((40+2)) && echo to-stderr >&2 && exit 3
FROM base AS a
RUN head -c 3000000 /dev/urandom > /big
COPY f /f
RUN cat /f
"""
BUILDX = "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3"
INLINE = CacheChoice("inline", "each stage image carries its own steps' cache")


def settings(environ: dict[str, str], **overrides: object) -> Settings:
    base = Settings(
        root=Path("."), image=IMAGE, ref_slug="feature-x", default_branch="main", environ=environ
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def plan_of(chosen: Settings, target: str = "a", no_cache: bool = False) -> Plan:
    request = Request(target=target, no_cache=no_cache)
    return make_plan(chosen, parse_dockerfile(DOCKERFILE), request)


@pytest.fixture
def context(tmp_path: Path) -> Iterator[BuildContext]:
    (tmp_path / "f").write_text("two\n", encoding="utf-8")
    made = make_context(tmp_path, tmp_path / "Dockerfile", DOCKERFILE)
    yield made
    made.close()


@pytest.mark.parametrize(
    ("printed", "version", "mode"),
    [
        ("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3", (0, 13), "rawjson"),
        ("github.com/docker/buildx v0.12.1 30feaa1", (0, 12), "plain"),
        ("github.com/docker/buildx v1.2.0 abc", (1, 2), "rawjson"),
        ("something unexpected", (0, 0), "plain"),
    ],
)
def test_the_progress_read_follows_the_buildx_version(
    tmp_path: Path, printed: str, version: tuple[int, int], mode: str
) -> None:
    environ = fake_docker(tmp_path, printed)
    assert buildx_version(environ) == (version, None)
    assert progress_mode(version) == mode


def test_without_buildx_the_reason_says_which_part_is_missing(tmp_path: Path) -> None:
    assert buildkit_missing_reason({"PATH": str(tmp_path)}) == "the docker CLI is not on PATH"
    no_plugin = fake_docker(tmp_path, None)
    assert buildkit_missing_reason(no_plugin) == "the docker CLI has no buildx plugin"
    assert buildx_version(no_plugin)[0] is None
    assert progress_mode(None) == "plain"


def test_a_stage_build_reads_its_cache_and_loads_or_pushes_its_tags() -> None:
    chosen = settings({"NPM_TOKEN": "x"}, secret_specs=("NPM_TOKEN",), build_network="host")
    dockerfile = DOCKERFILE.replace("FROM base AS a\n", "FROM base AS a\nARG PIP_INDEX_URL\n")
    index = ("PIP_INDEX_URL", "https://pypi.example/simple")
    plan = make_plan(chosen, parse_dockerfile(dockerfile), Request("a", build_args=(index,)))
    stage = replace(plan.stage("a"), labels=(("io.stageline.content-key", "sha256:k"),))
    config = BuildConfig(chosen, INLINE, "rawjson")
    reads = [
        f"type=registry,ref={IMAGE}:base--feature-x",
        f"type=registry,ref={IMAGE}:base",
        f"type=registry,ref={IMAGE}:a--feature-x",
        f"type=registry,ref={IMAGE}:a",
    ]
    common = [
        "docker", "buildx", "build", "--progress", "rawjson", "--file", "Dockerfile",
        "--target", "a",
        "--build-arg", "BUILDKIT_INLINE_CACHE=1",
        "--build-arg", "PIP_INDEX_URL=https://pypi.example/simple",
        "--secret", "id=NPM_TOKEN,env=NPM_TOKEN",
        *(option for ref in reads for option in ("--cache-from", ref)),
        "--build-context", f"base=docker-image://{IMAGE}@sha256:b",
        "--network", "host",
        "--label", "io.stageline.content-key=sha256:k",
    ]  # fmt: skip
    contexts = {"base": f"{IMAGE}@sha256:b"}
    assert buildx_command(config, plan, stage, "Dockerfile", contexts) == [
        *common, "--tag", f"{IMAGE}:a--feature-x", "--load",
    ]  # fmt: skip
    assert buildx_command(config, plan, stage, "Dockerfile", contexts, push=True) == [
        *common, "--provenance=false",
        "--output", f'type=image,"name={IMAGE}:a--feature-x",push=true',
    ]  # fmt: skip


def test_with_no_cache_nothing_is_read_and_the_base_is_pulled_again() -> None:
    chosen = settings({})
    plan = plan_of(chosen, no_cache=True)
    command = buildx_command(BuildConfig(chosen, INLINE), plan, plan.stage("a"), "Dockerfile")
    assert command[4:] == [
        "plain", "--file", "Dockerfile", "--target", "a",
        "--build-arg", "BUILDKIT_INLINE_CACHE=1", "--no-cache", "--pull",
        "--tag", f"{IMAGE}:a--feature-x", "--load",
    ]  # fmt: skip


def run_builds(
    chosen: Settings, context: BuildContext, stages: list[str], no_cache: bool = False
) -> tuple[list[StageResult], list[str]]:
    """Build ``stages`` of the target ``a`` with the fake buildx; return results and output."""
    plan = plan_of(chosen, no_cache=no_cache)
    builder = BuildkitBuilder(FakeEngine(size=42), BuildConfig(chosen, INLINE, "rawjson"))
    shown = io.StringIO()
    output = Output(shown, force_plain=True)
    chosen_stages = [plan.stage(name) for name in stages]
    results = builder.build_stages(plan, chosen_stages, context, StageBuild(output))
    return results, shown.getvalue().splitlines()


def test_a_build_counts_the_cached_steps_of_its_progress_and_loads_the_image(
    tmp_path: Path, context: BuildContext
) -> None:
    environ = fake_docker(tmp_path, BUILDX, "rawjson-remote-cache-hit.rawjson")
    ((result,), lines) = run_builds(settings(environ), context, ["a"])
    assert (result.steps, result.cached_steps) == (3, 1)
    assert (result.image_id, result.size_bytes) == ("sha256:fake", 42)
    assert any(line.endswith(" CACHED") for line in lines)
    (command,) = fake_builds(tmp_path)
    assert command[-3:-1] == ["--iidfile", command[-2]]
    assert command[-1] == "-"  # the context comes on stdin, byte for byte:
    assert (tmp_path / "context.tar").read_bytes() == context.open().read()
    assert not (tmp_path / "cli-config.json").exists()  # no login: the user's own config


def test_a_stage_builds_after_the_stage_it_needs_and_takes_it_as_a_named_context(
    tmp_path: Path, context: BuildContext
) -> None:
    environ = fake_docker(tmp_path, BUILDX, "rawjson-remote-cache-hit.rawjson")
    results, _ = run_builds(settings(environ), context, ["base", "a"])
    base, a = fake_builds(tmp_path)
    assert [c[c.index("--target") + 1] for c in (base, a)] == ["base", "a"]
    assert "--build-context" not in base
    assert a[a.index("--build-context") + 1] == f"base=docker-image://{IMAGE}:base--feature-x"
    assert [r.name for r in results] == ["base", "a"]
    assert (results[1].steps, results[1].cached_steps) == (3, 1)


def test_independent_stages_share_a_wave_and_a_stage_waits_for_all_it_needs() -> None:
    dockerfile = parse_dockerfile(
        "FROM debian AS py\nFROM debian AS node\nFROM scratch AS assets\n"
        "COPY --from=node /a /a\nFROM py AS app\nCOPY --from=assets /a /a\n"
    )
    plan = make_plan(settings({}), dockerfile)
    waves = build_waves(list(plan.stages))
    assert [[stage.name for stage in wave] for wave in waves] == [
        ["py", "node"],
        ["assets"],
        ["app"],
    ]
    without_py = [stage for stage in plan.stages if stage.name != "py"]  # py is reused
    assert [[s.name for s in wave] for wave in build_waves(without_py)] == [
        ["node"],
        ["assets"],
        ["app"],
    ]


def test_with_no_cache_the_stages_build_one_after_the_other(
    tmp_path: Path, context: BuildContext
) -> None:
    environ = fake_docker(tmp_path, BUILDX, "rawjson-remote-cache-hit.rawjson")
    run_builds(settings(environ), context, ["base", "a"], no_cache=True)
    builds = fake_builds(tmp_path)
    assert [command[command.index("--target") + 1] for command in builds] == ["base", "a"]


def test_a_failing_step_is_named_with_its_stage_and_last_lines(
    tmp_path: Path, context: BuildContext
) -> None:
    environ = fake_docker(tmp_path, BUILDX, "rawjson-failing-step.rawjson", exit_code=1)
    chosen = settings(environ)
    plan = plan_of(chosen, target="broken")
    builder = BuildkitBuilder(FakeEngine(), BuildConfig(chosen, INLINE, "rawjson"))
    build = StageBuild(Output(io.StringIO(), True))
    with pytest.raises(BuildError) as failed:
        builder.build_stages(plan, [plan.stage("broken")], context, build)
    first, *rest = str(failed.value).splitlines()
    assert first.startswith("build failed in stage broken, step `RUN echo marker-$((40+2))")
    assert "  marker-42" in rest


def test_the_registry_login_reaches_the_cli_in_a_private_config(
    tmp_path: Path, context: BuildContext
) -> None:
    environ = fake_docker(tmp_path, BUILDX, "rawjson-remote-cache-hit.rawjson")
    login = {"registry": "localhost:5000", "registry_user": "ci"}
    chosen = settings(environ, registry_password=Secret("pa55"), **login)
    run_builds(chosen, context, ["a"])
    config = json.loads((tmp_path / "cli-config.json").read_text(encoding="utf-8"))
    assert base64.b64decode(config["auths"]["localhost:5000"]["auth"]) == b"ci:pa55"
    assert "pa55" not in (tmp_path / "builds").read_text(encoding="utf-8")


def test_an_unreadable_cli_config_counts_as_empty(tmp_path: Path) -> None:
    assert existing_config(tmp_path) == {}  # none
    (tmp_path / "config.json").write_text("[1, 2]", encoding="utf-8")
    assert existing_config(tmp_path) == {}
