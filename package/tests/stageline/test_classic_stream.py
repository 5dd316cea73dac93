"""The classic builder, fed the engine's recorded build streams (no Docker needed).

streams/classic-*.jsonl (see record_engine_streams.py) are ``APIClient.build(decode=True)``
messages of Docker 26.1 building this Dockerfile, after a first build of ``app`` with
``f`` = ``one``:

* classic-cached-and-run: target ``app`` with ``f`` = ``two`` and ``pull=True``: the
  base's RUN is cached, COPY and the last RUN run; the RUN prints ``two`` and, on stderr,
  ``to-stderr``.
* classic-failing-step: target ``broken``: every step before it is cached, its RUN prints
  ``marker-42`` and ``to-stderr`` and exits 3.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from docker.errors import APIError

from stageline.builders import BuildConfig
from stageline.builders.classic import ClassicBuilder, classic_build_options
from stageline.cache import CacheChoice
from stageline.console import Output
from stageline.context import BuildContext, make_context
from stageline.dockerfile import parse_dockerfile
from stageline.errors import BuildError, DaemonError
from stageline.plan import Plan, make_plan
from stageline.settings import Settings
from tests.stageline.replay import CLASSIC_DOCKERFILE as DOCKERFILE
from tests.stageline.replay import FakeEngine, recorded

IMAGE = "localhost:5000/coverage-fixtures/app"
APP_ID = "sha256:c731f95549c7a1bba2fcf54b105e76b726fe47bc7e8d158b3a0d0116eb77fe78"


def classic(
    engine: FakeEngine, network: str | None = None, cache: str = "images"
) -> ClassicBuilder:
    """Return the classic builder on ``engine``, as make_builder makes it."""
    settings = Settings(
        root=Path("."), image=IMAGE, ref_slug="main", default_branch="main", build_network=network
    )
    return ClassicBuilder(engine, BuildConfig(settings, CacheChoice(cache, "test")))


def plan_for(target: str) -> Plan:
    settings = Settings(
        root=Path("."), image=IMAGE, ref_slug="main", default_branch="main", targets=(target,)
    )
    return make_plan(settings, parse_dockerfile(DOCKERFILE))


@pytest.fixture
def context(tmp_path: Path) -> Iterator[BuildContext]:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")
    (tmp_path / "f").write_text("two\n", encoding="utf-8")
    made = make_context(tmp_path, tmp_path / "Dockerfile", DOCKERFILE)
    yield made
    made.close()


def build(engine: FakeEngine, target: str, context: BuildContext) -> tuple[Any, str]:
    """Build ``target`` through ``engine``; return the result and what was printed."""
    plan = plan_for(target)
    shown = io.StringIO()
    builder = classic(engine, network="host")
    result = builder.build_stage(plan, plan.stage(target), context, Output(shown, True))
    return result, shown.getvalue()


def test_the_build_options_are_made_from_the_plan_alone() -> None:
    plan = plan_for("app")
    stage = replace(plan.stage("app"), labels=(("io.stageline.content-key", "sha256:k"),))
    settings = Settings(
        root=Path("."), image=IMAGE, ref_slug="main", default_branch="main", build_network="host"
    )
    images = BuildConfig(settings, CacheChoice("images", "test"))
    options = classic_build_options(images, plan, stage, "Dockerfile")
    assert options == {
        "custom_context": True,
        "dockerfile": "Dockerfile",
        "target": "app",
        "tag": f"{IMAGE}:app",
        "cache_from": list(stage.cache_from),
        "buildargs": plan.build_arg_values,
        "labels": {"io.stageline.content-key": "sha256:k"},
        "nocache": False,
        "pull": False,
        "rm": True,
        "forcerm": True,
        "network_mode": "host",
    }
    assert options["cache_from"]
    without = BuildConfig(settings, CacheChoice("none", "the containerd image store"))
    assert classic_build_options(without, plan, stage, "Dockerfile")["cache_from"] is None
    bare = classic_build_options(without, replace(plan, no_cache=True), plan.stage("app"), "D")
    assert (bare["labels"], bare["nocache"], bare["pull"]) == (None, True, True)


def test_a_cached_step_and_steps_that_ran_are_counted_and_the_image_is_tagged(
    context: BuildContext,
) -> None:
    engine = FakeEngine(recorded("classic-cached-and-run.jsonl"))
    result, shown = build(engine, "app", context)
    assert (result.steps, result.cached_steps) == (2, 0)  # COPY f and the RUN both ran
    assert (result.image_id, result.size_bytes) == (APP_ID, 1_234_567)
    assert engine.tags == [(APP_ID, IMAGE, "app")]  # no short SHA here: no commit tag
    ((_, _, request),) = engine.calls
    assert (request["target"], request["tag"]) == ("app", f"{IMAGE}:app")
    assert request["cache_from"] == [f"{IMAGE}:base", f"{IMAGE}:app"]
    assert request["network_mode"] == "host"
    lines = shown.splitlines()
    assert "Step 2/5 : RUN echo base-step > /base-step" in lines
    assert "3.13: Pulling from mirror/python" in lines  # the base image's pull, as lines
    assert lines[lines.index("two") + 1] == "to-stderr"  # stderr, without its colour codes
    assert not any("\x1b" in line for line in lines)


def test_the_cached_step_counts_for_the_stage_it_belongs_to(context: BuildContext) -> None:
    plan = plan_for("base")
    engine = FakeEngine(recorded("classic-cached-and-run.jsonl"))
    builder = classic(engine, cache="none")
    result = builder.build_stage(plan, plan.stage("base"), context, Output(io.StringIO(), True))
    assert (result.steps, result.cached_steps) == (1, 1)
    assert result.fully_cached
    assert engine.calls[0][2]["cache_from"] is None


def test_a_failing_step_is_named_with_its_stage_and_its_own_last_lines(
    context: BuildContext,
) -> None:
    engine = FakeEngine(recorded("classic-failing-step.jsonl"))
    with pytest.raises(BuildError) as failed:
        build(engine, "broken", context)
    command = "echo marker-$((40+2)) && echo to-stderr >&2 && exit 3"
    assert str(failed.value).splitlines() == [
        f"build failed in stage broken, step `RUN {command}`: "
        f"The command '/bin/sh -c {command}' returned a non-zero code: 3",
        "last output:",
        "  marker-42",
        "  to-stderr",
    ]
    assert engine.tags == []


def test_an_engine_that_refuses_the_build_gives_its_own_reason(context: BuildContext) -> None:
    refusal = APIError("400 Client Error", explanation="dockerfile parse error line 3")
    with pytest.raises(BuildError) as refused:
        build(FakeEngine(refusal), "app", context)
    assert str(refused.value) == "build failed in stage app: dockerfile parse error line 3"


def test_an_engine_that_goes_away_is_a_daemon_error(context: BuildContext) -> None:
    with pytest.raises(DaemonError, match="cannot reach the Docker daemon at unix://"):
        build(FakeEngine(requests.exceptions.ConnectionError("gone")), "app", context)


def test_a_stream_that_ends_without_an_image_id_is_a_build_error(context: BuildContext) -> None:
    without_id = [c for c in recorded("classic-cached-and-run.jsonl") if "aux" not in c]
    with pytest.raises(BuildError, match="finished stage app without an image ID"):
        build(FakeEngine(without_id), "app", context)


class RefusingTags(FakeEngine):
    def tag(self, image: str, repository: str, tag: str, force: bool) -> None:
        raise APIError("500 Server Error", explanation="no space left on device")


def test_a_stage_that_cannot_be_tagged_says_so(context: BuildContext) -> None:
    engine = RefusingTags(recorded("classic-cached-and-run.jsonl"))
    with pytest.raises(DaemonError, match=r"^tagging stage app failed: no space left on device$"):
        build(engine, "app", context)
