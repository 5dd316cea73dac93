"""The actions' pure parts: which builder, the plan as JSON and text, what to pull and report.

Where an action takes an engine client, it gets the recorded streams (see replay.py);
``docker`` is a script on a private PATH that prints a buildx version, or none.
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
import requests
from docker.errors import ImageNotFound

from stageline import actions
from stageline.builders import BuildConfig, StageBuild
from stageline.builders import choice as builder_choice
from stageline.builders.buildkit import INSTALL_HINT, BuildkitBuilder
from stageline.builders.choice import BuilderChoice
from stageline.builders.classic import ClassicBuilder
from stageline.cache import CacheChoice
from stageline.console import Output, print_summary
from stageline.content_key import KEY_LABEL
from stageline.context import make_context
from stageline.dockerfile import parse_dockerfile
from stageline.errors import BuilderUnavailableError, PlanError
from stageline.plan import Plan, make_plan
from stageline.registry import PullOutcome, PushOutcome
from stageline.report import BuildReport
from stageline.reuse import Found, Registries, Reuse, find_image, image_size
from stageline.settings import Secret, Settings
from tests.stageline.replay import (
    CLASSIC_DOCKERFILE,
    IMAGE_TYPE,
    INDEX_TYPE,
    FakeEngine,
    FakeRegistry,
    build_node_registry,
    fake_docker,
    recorded,
    recorded_manifest,
)

IMAGE = "localhost:5000/group/app"
DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.13
FROM $PYTHON_IMAGE AS base
RUN echo base
FROM base AS app
COPY f /f
"""
WITH_MOUNT = DOCKERFILE.replace("RUN echo", "RUN --mount=type=cache,target=/c echo")
BUILDX = "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3"
CLASSIC = BuilderChoice("classic", "asked for")
IMAGES = CacheChoice("images", "the classic builder reads the pulled stage images")
INLINE = CacheChoice("inline", "each stage image carries its own steps' cache")
# The content key label of the recorded build-node image (streams/registry-build-node-*).
RECORDED_KEY = "sha256:c47244810f2610c1903e1940efcb58b2e72afd33aa50b6e8e198c23ebadf8c18"


def settings(ref: str = "feature-x", **overrides: object) -> Settings:
    base = Settings(
        root=Path("."),
        image=IMAGE,
        ref_slug=ref,
        default_branch="main",
        environ={"PYTHON_IMAGE": "localhost:5000/mirror/python:3.13"},
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def plan_of(chosen: Settings, dockerfile: str = DOCKERFILE) -> Plan:
    return make_plan(chosen, parse_dockerfile(dockerfile))


def plain() -> tuple[Output, io.StringIO]:
    stream = io.StringIO()
    return Output(stream, force_plain=True), stream


def test_the_classic_builder_refuses_secrets_and_buildkit_syntax() -> None:
    secret = settings(secret_specs=("NPM_TOKEN",), environ={"NPM_TOKEN": "x"})
    assert builder_choice.classic_refusal(secret, plan_of(secret)) == (
        "build secrets (NPM_TOKEN) reach a build only through BuildKit"
    )
    assert builder_choice.classic_refusal(settings(), plan_of(settings(), WITH_MOUNT)) == (
        "Dockerfile line 3 uses RUN --mount, which needs BuildKit"
    )
    assert builder_choice.classic_refusal(settings(), plan_of(settings())) is None


@pytest.mark.parametrize(
    ("buildx", "dockerfile", "requested", "chosen"),
    [
        (BUILDX, DOCKERFILE, None, ("buildkit", "auto: the docker CLI has buildx")),
        (BUILDX, WITH_MOUNT, None,
         ("buildkit", "auto: Dockerfile line 3 uses RUN --mount, which needs BuildKit")),
        (BUILDX, DOCKERFILE, "BuildKit", ("buildkit", "asked for")),
        (BUILDX, DOCKERFILE, "classic", ("classic", "asked for")),
        (None, DOCKERFILE, None, ("classic", "auto: the docker CLI has no buildx plugin")),
        ("", DOCKERFILE, None, ("buildkit", "auto: the docker CLI has buildx")),
    ],
)  # fmt: skip
def test_auto_takes_buildkit_where_the_cli_has_buildx_or_the_dockerfile_needs_it(
    tmp_path: Path,
    buildx: str | None,
    dockerfile: str,
    requested: str | None,
    chosen: tuple[str, str],
) -> None:
    chosen_settings = settings(environ=fake_docker(tmp_path, buildx))
    choice = builder_choice.choose_builder(
        chosen_settings, plan_of(settings(), dockerfile), requested
    )
    assert (choice.name, choice.reason) == chosen


def test_without_the_docker_cli_auto_is_classic_and_buildkit_says_how_to_install_it(
    tmp_path: Path,
) -> None:
    no_docker = settings(environ={"PATH": str(tmp_path)})  # an empty directory
    choice = builder_choice.choose_builder(no_docker, plan_of(settings()))
    assert (choice.name, choice.reason) == ("classic", "auto: the docker CLI is not on PATH")
    with pytest.raises(BuilderUnavailableError) as asked:
        builder_choice.choose_builder(no_docker, plan_of(settings()), "buildkit")
    assert str(asked.value) == f"--builder buildkit: the docker CLI is not on PATH; {INSTALL_HINT}"
    with pytest.raises(BuilderUnavailableError) as needed:
        builder_choice.choose_builder(no_docker, plan_of(settings(), WITH_MOUNT))
    assert str(needed.value).startswith("Dockerfile line 3 uses RUN --mount, which needs BuildKit:")


def test_the_classic_builder_asked_for_a_buildkit_dockerfile_is_refused(tmp_path: Path) -> None:
    chosen = settings(builder="classic", environ=fake_docker(tmp_path, BUILDX))
    with pytest.raises(BuilderUnavailableError) as refused:
        builder_choice.choose_builder(chosen, plan_of(settings(), WITH_MOUNT))
    assert str(refused.value) == (
        "--builder classic: Dockerfile line 3 uses RUN --mount, which needs BuildKit; use BuildKit."
    )
    with pytest.raises(PlanError, match="unknown builder 'kaniko'; use one of"):
        builder_choice.choose_builder(chosen, plan_of(settings()), "kaniko")


def with_secrets() -> Settings:
    environ = {"NPM_TOKEN": "x", "PYTHON_IMAGE": "localhost:5000/mirror/python:3.13"}
    return settings(
        secret_specs=("NPM_TOKEN", "id=pip,src=pip.conf"),
        environ=environ,
        registry="localhost:5000",
        registry_user="ci",
        registry_password=Secret("ci-pass"),
    )


def test_the_plan_document_names_what_each_stage_reads_and_writes() -> None:
    chosen = with_secrets()
    document = actions.plan_document(plan_of(chosen), CLASSIC, IMAGES, chosen)
    base, app = cast(list[dict[str, Any]], document["stages"])
    assert app == {
        "name": "app",
        "parents": ["base"],
        "tags": [f"{IMAGE}:app--feature-x"],
        "cache_from": [f"{IMAGE}:base--feature-x", f"{IMAGE}:base", f"{IMAGE}:app--feature-x",
                       f"{IMAGE}:app"],
        "platforms": ["linux/amd64"],
        "shared": False,
    }  # fmt: skip
    assert document["pulls"] == [*base["cache_from"], *app["cache_from"][2:]]
    assert document["pushes"] == [f"{IMAGE}:base--feature-x", f"{IMAGE}:app--feature-x"]
    assert document["secrets"] == [
        {"id": "NPM_TOKEN", "source": "environment variable NPM_TOKEN", "set": True},
        {"id": "pip", "source": "file pip.conf", "set": False},
    ]
    assert document["reuse"] == {
        "reads": [f"{IMAGE}:<stage>--feature-x", f"{IMAGE}:<stage>"],
        "promote_merged": False,
    }
    assert "ci-pass" not in str(document)


def test_buildkit_reads_the_stage_tags_from_the_registry_and_pulls_nothing() -> None:
    plan = plan_of(settings())
    buildkit = BuilderChoice("buildkit", "auto: the docker CLI has buildx")
    document = actions.plan_document(plan, buildkit, INLINE)  # no settings: nothing reused
    (_, app) = cast(list[dict[str, Any]], document["stages"])
    assert app["cache_from"][:2] == [f"{IMAGE}:base--feature-x", f"{IMAGE}:base"]
    assert "cache_to" not in app
    assert document["pulls"] == []
    assert document["reuse"] == {"reads": [], "promote_merged": False}


def test_the_plan_is_shown_stage_by_stage_without_the_password() -> None:
    chosen = with_secrets()
    output, stream = plain()
    buildkit = BuilderChoice("buildkit", "auto: the docker CLI has buildx")
    actions.show_plan(plan_of(chosen), chosen, buildkit, INLINE, output)
    lines = stream.getvalue().splitlines()
    assert lines[0] == (
        f"==> plan for {IMAGE} on feature-x (not main); builder: buildkit "
        "(auto: the docker CLI has buildx)"
    )
    assert lines[2:8] == [
        "platforms:   linux/amd64 (builds on linux/amd64)",
        "cache:       inline (each stage image carries its own steps' cache)",
        "stage base",
        "  parents:     none (a base image)",
        "  platforms:   linux/amd64",
        f"  tags:        {IMAGE}:base--feature-x",
    ]
    assert not [line for line in lines if "cache to" in line or "/cache:" in line]
    assert lines[-7:] == [
        "build arg:   PYTHON_IMAGE=localhost:5000/mirror/python:3.13 "
        "(environment, listed in [tool.stageline] build-args)",
        "secret:      NPM_TOKEN (from environment variable NPM_TOKEN)",
        "secret:      pip not set (file pip.conf): building without it",
        f"reuse:       a stage whose content key is under {IMAGE}:<stage>--feature-x, "
        f"then {IMAGE}:<stage>",
        "pull reads:  nothing (less what is reused)",
        f"push writes: {IMAGE}:base--feature-x, {IMAGE}:app--feature-x",
        "registry:    localhost:5000 as ci",
    ]
    assert "ci-pass" not in stream.getvalue()


def test_with_no_cache_the_plan_reads_and_reuses_nothing() -> None:
    chosen = settings(ref="main")
    plan = replace(plan_of(chosen), no_cache=True, stages=tuple(
        replace(stage, cache_from=()) for stage in plan_of(chosen).stages
    ))  # fmt: skip
    output, stream = plain()
    actions.show_plan(plan, chosen, CLASSIC, IMAGES, output)
    assert "  cache from:  none (--no-cache)" in stream.getvalue().splitlines()
    assert "reuse:       a stage whose content key is under nothing (--no-cache)" in (
        stream.getvalue().splitlines()
    )


def reused_base() -> Reuse:
    """Return a comparison that found stage base (the recorded build-node image) by key."""
    image = recorded_manifest("registry-build-node-manifest.json", IMAGE_TYPE)
    return Reuse(
        keys={"base": "sha256:1111", "app": "sha256:2222"},
        found={"base": Found(f"{IMAGE}:base", image, image_size(image))},
    )


def test_a_reused_stage_s_cache_sources_are_not_pulled() -> None:
    plan = plan_of(settings())
    assert actions.pulls_for(plan, CLASSIC, reused_base()) == [
        f"{IMAGE}:base--feature-x",
        f"{IMAGE}:base",
        f"{IMAGE}:app--feature-x",
        f"{IMAGE}:app",
    ]  # app's sources include base's: app is built
    reuse_both = Reuse(found={name: reused_base().found["base"] for name in ("base", "app")})
    assert actions.pulls_for(plan, CLASSIC, reuse_both) == []
    assert actions.pulls_for(plan, BuilderChoice("buildkit", "asked for")) == []


def test_a_reused_stage_is_reported_with_the_registry_image_s_size() -> None:
    result = actions.reused_result("base", [f"{IMAGE}:base--feature-x"], reused_base())
    image = reused_base().found["base"].manifest
    assert result.outcome == "reused"
    assert result.reused_from == f"{IMAGE}:base"
    assert (result.key, result.image_id) == ("sha256:1111", image.digest)
    assert result.size_bytes == reused_base().found["base"].size_bytes > 0
    assert (result.steps, result.seconds) == (0, 0.0)


def test_a_stage_reused_from_an_index_shows_its_amd64_image_s_size_in_the_summary() -> None:
    chosen = settings()
    registries = Registries(chosen)
    registry = build_node_registry("group/app", "base")  # an index, as BuildKit pushes
    registries.clients["localhost:5000"] = registry  # type: ignore[assignment]
    found = find_image(registries, chosen, "base", RECORDED_KEY)
    assert found is not None
    assert found.manifest.is_index
    reuse = Reuse(keys={"base": RECORDED_KEY}, found={"base": found})
    result = actions.reused_result("base", [f"{IMAGE}:base--feature-x"], reuse)
    assert result.image_id == found.manifest.digest  # the index, as the tags copy it
    assert result.size_bytes == 142_712_743  # the amd64 image's config and layers
    output, stream = plain()
    print_summary(output, BuildReport(IMAGE, "feature-x", "buildkit", stages=[result]))
    rows = [line.split() for line in stream.getvalue().splitlines()]
    assert ["base", "reused", "-", "0.0", "142.7", "MB"] in rows, stream.getvalue()


def test_pulled_and_pushed_bytes_are_counted_per_stage() -> None:
    chosen = settings()
    plan = plan_of(chosen)
    pulled = [
        PullOutcome(f"{IMAGE}:base", "pulled", bytes=100),
        PullOutcome(f"{IMAGE}:app--feature-x", "pulled", bytes=20),
        PullOutcome(f"{IMAGE}:app", "missing"),
        PullOutcome("localhost:5000/other:x", "pulled", bytes=5),  # no stage's own
    ]
    assert actions.pulled_by_stage(chosen, plan, pulled) == {
        "base": {"pulled_bytes": 100},
        "app": {"pulled_bytes": 20},
    }
    pushed = [PushOutcome(f"{IMAGE}:app--feature-x", bytes_pushed=300)]
    copied = {"base": [f"{IMAGE}:base--feature-x"]}
    assert actions.pushed_by_stage(plan, pushed, copied) == {
        "base": {"pushed_bytes": 0, "tags_copied": [f"{IMAGE}:base--feature-x"]},
        "app": {"pushed_bytes": 300, "tags_copied": []},
    }


def test_each_stage_s_comparison_says_reused_or_why_it_is_built() -> None:
    chosen = settings()
    plan = plan_of(chosen)
    assert actions.comparison_lines(plan, reused_base()) == [
        f"  base: reused, {IMAGE}:base has its key",
        "  app: build (no image this ref may read has its key)",
    ]
    assert actions.comparison_lines(plan, Reuse(keys={"base": "sha256:1"})) == [
        "  base: build (no image this ref may read has its key)",
        "  app: build (no key: not every input is known ahead)",
    ]
    no_cache = replace(plan, no_cache=True)
    assert actions.comparison_lines(no_cache, Reuse(keys={"base": "sha256:1"}))[0] == (
        "  base: build (--no-cache)"
    )


def test_a_reused_stage_is_not_built_and_a_built_one_is_labelled_with_its_key(
    tmp_path: Path,
) -> None:
    chosen = settings(ref="main", targets=("app",))
    plan = plan_of(chosen, CLASSIC_DOCKERFILE)
    engine = FakeEngine(recorded("classic-cached-and-run.jsonl"))
    builder = ClassicBuilder(engine, BuildConfig(chosen, IMAGES))
    (tmp_path / "f").write_text("two\n", encoding="utf-8")
    context = make_context(tmp_path, tmp_path / "Dockerfile", plan.dockerfile_text)
    output, stream = plain()
    try:
        build = StageBuild(output)
        base, app = actions.build_each(plan, builder, context, reused_base(), build)
    finally:
        context.close()
    assert (base.outcome, app.outcome) == ("reused", "built")
    assert (app.key, app.steps, app.cached_steps) == ("sha256:2222", 2, 0)
    ((_, target, request),) = engine.calls  # base was not built
    assert (target, request["labels"]) == ("app", {KEY_LABEL: "sha256:2222"})
    assert f"==> reuse base: {IMAGE}:base has its key" in stream.getvalue().splitlines()


def test_a_push_prints_what_it_uploaded_and_its_digest() -> None:
    ref = f"{IMAGE}:app--feature-x"
    engine = FakeEngine(recorded("push-new-layers.jsonl"))
    output, stream = plain()
    outcome = actions.push_one(settings(push_retries=0), engine, ref, output)
    assert outcome.layers_pushed == 3
    assert stream.getvalue().splitlines()[-1] == (
        f"  {ref}: 3 layers pushed, 1 already present, {outcome.digest}"
    )
    assert outcome.digest.startswith("sha256:c731f955")


class NothingBuilt(FakeEngine):
    def inspect_image(self, image: str) -> dict[str, object]:
        raise ImageNotFound(f"No such image: {image}")

    def info(self) -> dict[str, object]:
        raise requests.exceptions.ConnectionError("socket closed")


def test_a_tag_that_was_not_built_here_is_not_pushed() -> None:
    with pytest.raises(PlanError) as refused:
        actions.check_built(NothingBuilt(), [f"{IMAGE}:app"])
    assert str(refused.value) == (
        f"{IMAGE}:app is not built here; build it first "
        "(`stageline build`, or `invoke build-stages`), then push."
    )
    assert actions.engine_info(NothingBuilt()) is None


def test_promote_merged_names_each_stage_s_image_by_its_key() -> None:
    chosen = settings(ref="main", promote_merged=True)
    plan = plan_of(chosen)
    built = recorded_manifest("registry-build-node-index.json", INDEX_TYPE)
    registry = FakeRegistry(manifests={("group/app", "app"): built})
    registries = Registries(chosen)
    registries.clients["localhost:5000"] = registry  # type: ignore[assignment]
    reuse = Reuse(keys={"base": None, "app": "sha256:" + "ab" * 32})
    actions.write_key_tags(registries, plan, reuse, plain()[0])
    assert registry.written == [("group/app", "app--key." + "ab" * 20, built)]


def test_the_builder_made_reads_the_progress_its_buildx_prints(tmp_path: Path) -> None:
    chosen = settings(environ=fake_docker(tmp_path, BUILDX), build_network="host")
    buildkit = BuilderChoice("buildkit", "asked for", (0, 13))
    made = builder_choice.make_builder(buildkit, chosen, FakeEngine(), INLINE)
    assert isinstance(made, BuildkitBuilder)
    assert made.config.progress == "rawjson"
    old_buildx = BuilderChoice("buildkit", "asked for", (0, 12))
    assert builder_choice.make_builder(
        old_buildx, chosen, FakeEngine(), INLINE
    ).config.progress == ("plain")
    no_cache = CacheChoice("none", "the containerd image store")
    classic = builder_choice.make_builder(CLASSIC, chosen, FakeEngine(), no_cache)
    assert isinstance(classic, ClassicBuilder)
    assert classic.config == BuildConfig(chosen, no_cache)


@pytest.mark.parametrize("requested", [None, "buildkit"])
def test_buildx_version_runs_once_to_choose_and_make_the_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requested: str | None
) -> None:
    chosen = settings(environ=fake_docker(tmp_path, BUILDX))
    run = subprocess.run
    asked: list[list[str]] = []

    def counting_run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if args[1:] == ["buildx", "version"]:
            asked.append(args)
        return run(args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting_run)
    choice = builder_choice.choose_builder(chosen, plan_of(chosen), requested)
    made = builder_choice.make_builder(choice, chosen, FakeEngine(), INLINE)
    assert (choice.name, choice.buildx) == ("buildkit", (0, 13))
    assert isinstance(made, BuildkitBuilder)
    assert made.config.progress == "rawjson"
    assert len(asked) == 1, asked


def test_without_an_engine_the_cache_is_chosen_from_the_builder_alone(tmp_path: Path) -> None:
    chosen = settings(environ={"DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"})
    plan = plan_of(chosen)
    cache = actions.probe_cache(chosen, plan, CLASSIC)
    assert cache.backend == "images"
