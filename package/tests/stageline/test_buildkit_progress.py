"""BuildKit's progress, read from recorded ``docker buildx build`` output (buildx 0.13.1).

The streams in streams/ are two builds, each recorded in both formats:

* remote-cache-hit: ``FROM python; RUN head -c 3000000 /dev/urandom > /big; COPY f /f;
  RUN cat /f`` with an empty local cache, ``--cache-from`` a registry cache written
  before ``f`` changed: the RUN is a cache hit whose layer must be downloaded.
* failing-step: stage ``base`` (``RUN echo base-step``), then stage ``broken``
  (``RUN echo marker-$((40+2)) && echo to-stderr >&2 && exit 3``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.builders import StageTally
from stageline.builders.buildkit_progress import (
    PlainProgress,
    ProgressLog,
    RawjsonProgress,
    step_of,
)

STREAMS = Path(__file__).parent / "streams"


def read(log: ProgressLog, name: str) -> list[str]:
    shown: list[str] = []
    for line in (STREAMS / name).read_text(encoding="utf-8").splitlines():
        shown += log.read(line)
    return shown


def test_rawjson_counts_a_registry_cache_hit_that_had_to_be_downloaded() -> None:
    log = RawjsonProgress("a")
    read(log, "rawjson-remote-cache-hit.rawjson")
    assert log.tally("a") == StageTally(
        3, 1
    )  # RUN head (cached), COPY f, RUN cat; FROM not counted
    assert [v.instruction for v in log.vertices.values() if v.cached] == [
        "RUN head -c 3000000 /dev/urandom > /big"
    ]


def test_plain_text_shows_that_hit_as_done_so_it_is_not_counted() -> None:
    log = PlainProgress("a")
    read(log, "plain-remote-cache-hit.txt")
    assert log.tally("a") == StageTally(3, 0)


def test_rawjson_is_shown_as_readable_lines_once_per_step() -> None:
    shown = read(RawjsonProgress("a"), "rawjson-remote-cache-hit.rawjson")
    assert not any(line.lstrip().startswith(("{", '"')) for line in shown)
    heads = [line for line in shown if line.endswith("RUN head -c 3000000 /dev/urandom > /big")]
    assert len(heads) == 1
    number = heads[0].split()[0]
    assert f"{number} CACHED" in shown
    assert any(line.startswith("#") and line.endswith("two") for line in shown)  # RUN cat /f


@pytest.mark.parametrize(
    ("log", "stream"),
    [
        (RawjsonProgress("broken"), "rawjson-failing-step.rawjson"),
        (PlainProgress("broken"), "plain-failing-step.txt"),
    ],
)
def test_a_failing_step_is_named_with_its_stage_and_last_lines(
    log: ProgressLog, stream: str
) -> None:
    read(log, stream)
    message = log.failure("broken")
    first, *rest = message.splitlines()
    assert first.startswith("build failed in stage broken, step `RUN echo marker-$((40+2))")
    assert first.endswith("exit code: 3")
    assert "  marker-42" in rest
    assert "  to-stderr" in rest
    assert log.tally("base") == StageTally(1, 0)
    assert set(log.stages()) == {"base", "broken"}


def test_without_a_failing_step_the_error_line_and_its_context_are_kept() -> None:
    log = RawjsonProgress("app")
    for line in ['#0 building with "default" instance', "ERROR: failed to read dockerfile"]:
        log.read(line)
    assert log.failure("app").splitlines()[0] == (
        "build of stage app failed: failed to read dockerfile"
    )


def test_a_broken_object_is_shown_as_text_not_lost() -> None:
    log = RawjsonProgress("app")
    assert log.read("{") == []
    assert log.read('  "vertexes": [') == []
    assert log.read("}") == ["{", '  "vertexes": [', "}"]


def test_step_names_with_and_without_a_stage() -> None:
    step = step_of("[build-node  4/7] RUN npm ci   --no-audit", "target")
    assert step is not None
    assert (step.stage, step.instruction) == ("build-node", "RUN npm ci --no-audit")
    single = step_of("[2/4] COPY f /f", "app")
    assert single is not None
    assert single.stage == "app"
    assert step_of("[internal] load build context", "app") is None


def test_a_step_of_a_multi_platform_build_names_its_platform_first() -> None:
    arm = step_of("[linux/arm64 image 1/2] COPY --from=tool /made.txt /", "x")
    v7 = step_of("[linux/arm/v7 2/3] RUN make", "app")
    assert arm is not None
    assert v7 is not None
    assert (arm.stage, arm.position, arm.instruction) == (
        "image",
        "1/2",
        "COPY --from=tool /made.txt /",
    )
    assert (v7.stage, v7.instruction) == ("app", "RUN make")


def test_a_step_two_builds_share_counts_once_and_as_run_if_either_ran_it() -> None:
    log = PlainProgress("app")
    for line in [
        "#5 [app 2/3] RUN make",  # one build's vertex: it ran the step
        "#5 DONE 3.1s",
        "#9 [app 2/3] RUN make",  # the other build's vertex of the same step
        "#9 CACHED",
        "#6 [app 3/3] COPY . /src",
        "#6 CACHED",
        "#10 [app 3/3] COPY . /src",
        "#10 CACHED",
    ]:
        log.read(line)
    tally = log.tally("app")
    assert (tally.steps, tally.cached) == (2, 1)
