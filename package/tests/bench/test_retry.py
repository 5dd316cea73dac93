"""When a failed benchmark run runs again: only once, only after the registry's own 5xx.

The registry's log lines are as distribution 2.8.2 wrote them when a HEAD of a tag met a
PUT of the same tag (benchmarks/retry.py); the run loop is driven with a stand-in runner
and registry, so a Stageline failure is shown to stop the benchmark unretried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.pipeline import Job, Pipeline, RunResult, StageSteps
from benchmarks.registry import REPOSITORIES, BenchRegistry, log_fields, server_errors
from benchmarks.retry import Failure, failure_message, retry_reason

ERROR_LINE = (
    'time="2026-12-04T20:18:54.190219602Z" level=error msg="response completed with error" '
    'err.code=unknown err.detail="invalid checksum digest format" err.message="unknown error" '
    'go.version=go1.19.8 http.request.host="127.0.0.1:5093" '
    "http.request.id=8cbd7a64-d28f-44e9-a0c9-ede105bb46b9 http.request.method=HEAD "
    'http.request.remoteaddr="127.0.0.1:43626" http.request.uri=/v2/bench/app/manifests/r1s0 '
    'http.request.useragent="containerd/1.7.24" http.response.contenttype="application/json; '
    'charset=utf-8" http.response.duration="978.423µs" http.response.status=500 '
    "http.response.written=70 vars.name=bench/app vars.reference=r1s0"
)
ACCESS_500 = (
    '127.0.0.1 - - [04/Dec/2026:20:18:54 +0000] "HEAD /v2/bench/app/manifests/r1s0 HTTP/1.1" '
    '500 70 "" "containerd/1.7.24"'
)
ACCESS_OK = (
    '127.0.0.1 - - [04/Dec/2026:20:18:54 +0000] "PUT /v2/bench/app/manifests/r1s0 HTTP/1.1" '
    '201 0 "" "containerd/1.7.24"'
)
NOT_FOUND = ERROR_LINE.replace("status=500", "status=404").replace("err.code=unknown", "x=y")
REGISTRY_500 = "500 to HEAD /v2/bench/app/manifests/r1s0: invalid checksum digest format"


def test_the_registrys_5xx_answers_are_read_with_their_detail() -> None:
    assert log_fields(ERROR_LINE)["http.request.useragent"] == "containerd/1.7.24"
    assert log_fields(ERROR_LINE)["http.response.contenttype"] == "application/json; charset=utf-8"
    assert server_errors([ACCESS_OK, ERROR_LINE, ACCESS_500, NOT_FOUND]) == [REGISTRY_500]
    # Without the registry's own line, the access log still tells.
    assert server_errors([ACCESS_OK, ACCESS_500]) == ["500 to HEAD /v2/bench/app/manifests/r1s0"]
    assert server_errors([ACCESS_OK, NOT_FOUND, "level=warning msg=x"]) == []


def test_only_a_first_failure_during_a_registry_5xx_is_retried() -> None:
    registry_failed = Failure("latest.sh push failed (1)", (REGISTRY_500,))
    assert retry_reason([registry_failed]) == f"the registry answered {REGISTRY_500}"
    assert retry_reason([Failure("invoke failed (1): build-python failed")]) is None
    assert retry_reason([registry_failed, registry_failed]) is None  # at most once
    assert retry_reason([]) is None
    two = Failure("x", (REGISTRY_500, "502 to GET /v2/"))
    assert retry_reason([two]) == f"the registry answered {REGISTRY_500} (and 1 more 5xx)"


def test_a_failure_that_repeats_is_kept_with_both_attempts() -> None:
    first = Failure("push failed", (REGISTRY_500,))
    second = Failure("push failed again: 500 Internal Server Error", (REGISTRY_500,))
    assert failure_message("run 1 of cold", [first]) == "run 1 of cold failed: push failed"
    assert failure_message("run 1 of cold", [first, second]) == (
        f"run 1 of cold failed 2 times (attempt 1: {REGISTRY_500}); "
        "attempt 2: push failed again: 500 Internal Server Error"
    )


class StandInRegistry:
    """What Pipeline.run asks of the registry, recorded."""

    def __init__(self, errors: list[list[str]]) -> None:
        self.errors_per_attempt = errors
        self.calls: list[str] = []

    def snapshot(self, repository: str) -> None:
        self.calls.append(f"snapshot {repository}")

    def restore(self, repository: str) -> None:
        self.calls.append(f"restore {repository}")

    def errors(self) -> list[str]:
        return self.errors_per_attempt.pop(0)


class ScriptedPipeline(Pipeline):
    """A pipeline whose attempts fail or succeed as scripted, on no runner."""

    outcomes: list[Exception | None]

    def _attempt(self, job: Job) -> RunResult:
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        stages = [StageSteps("production", 9, 9)]
        return RunResult(job.variant, job.scenario, 1, 5.0, 0, 5.0, 0, stages, 0, 0, 0, 0, 1)


def scripted(
    tmp_path: Path, outcomes: list[Exception | None], errors: list[list[str]]
) -> tuple[ScriptedPipeline, StandInRegistry]:
    registry = StandInRegistry(errors)
    stand_in: Any = registry
    pipeline = ScriptedPipeline(stand_in, stand_in, {}, tmp_path / "logs")
    pipeline.outcomes = outcomes
    return pipeline, registry


JOB = Job("multistage-latest", "cold", 1, Path("/nowhere"), "localhost:1/bench-r1/x", "r1s0")


def test_a_run_that_met_a_registry_5xx_runs_once_more_from_the_same_registry(
    tmp_path: Path,
) -> None:
    pipeline, registry = scripted(tmp_path, [RuntimeError("push failed"), None], [[REGISTRY_500]])
    result = pipeline.run(JOB)
    assert result.retries == 1
    assert result.extra["retried_after"] == [f"the registry answered {REGISTRY_500}"]
    assert registry.calls == ["snapshot bench-r1/x", "restore bench-r1/x"]
    failed_log = tmp_path / "logs" / "r1-cold-multistage-latest-main-failed-1.log"
    assert failed_log.read_text() == "push failed"


def test_any_other_failure_stops_the_benchmark_unretried(tmp_path: Path) -> None:
    stageline_failed = AssertionError("invoke failed (1): push-stages: 401 Unauthorized")
    pipeline, registry = scripted(tmp_path, [stageline_failed, None], [[]])
    with pytest.raises(AssertionError, match="401 Unauthorized"):
        pipeline.run(JOB)
    assert registry.calls == ["snapshot bench-r1/x"]  # nothing put back, nothing run again


def test_a_second_registry_5xx_stops_the_benchmark_with_both_failures(tmp_path: Path) -> None:
    outcomes: list[Exception | None] = [RuntimeError("push failed"), RuntimeError("again")]
    pipeline, _ = scripted(tmp_path, outcomes, [[REGISTRY_500], [REGISTRY_500]])
    with pytest.raises(RuntimeError, match=r"failed 2 times \(attempt 1: 500 to HEAD .*again"):
        pipeline.run(JOB)


def test_a_merges_branch_pipeline_retry_counts_in_the_timed_run(tmp_path: Path) -> None:
    outcomes: list[Exception | None] = [RuntimeError("branch push failed"), None, None]
    pipeline, _ = scripted(tmp_path, outcomes, [[REGISTRY_500]])
    result = pipeline.run_scenario(JOB, "feature-x")
    assert result.retries == 1
    assert result.extra["retried_after"] == [f"feature-x: the registry answered {REGISTRY_500}"]


def test_a_variants_repositories_are_put_back_as_they_were(tmp_path: Path) -> None:
    registry = BenchRegistry(tmp_path / "registry", 1)  # not started: storage only
    storage = tmp_path / "registry" / "data" / REPOSITORIES
    tag = storage / "bench-r1/x/_manifests/tags/latest/current/link"
    cache_tag = storage / "bench-r1/x/cache/_manifests/tags/buildcache/current/link"
    for link in (tag, cache_tag):
        link.parent.mkdir(parents=True)
        link.write_text("sha256:" + "a" * 64)
    other = storage / "bench-r1/y/_manifests/tags/latest/current/link"
    other.parent.mkdir(parents=True)
    other.write_text("sha256:" + "c" * 64)
    registry.snapshot("bench-r1/x")
    tag.write_text("")  # what a failed attempt may leave: a half-written tag
    (storage / "bench-r1/x/_layers/sha256/bb/link").parent.mkdir(parents=True)
    other.write_text("sha256:" + "d" * 64)
    registry.restore("bench-r1/x")
    assert tag.read_text() == cache_tag.read_text() == "sha256:" + "a" * 64
    assert not (storage / "bench-r1/x/_layers").exists()
    assert other.read_text() == "sha256:" + "d" * 64  # another variant's is left alone
    registry.snapshot("bench-r1/new")  # a cold run: nothing there yet
    (storage / "bench-r1/new/_layers").mkdir(parents=True)
    registry.restore("bench-r1/new")
    assert not (storage / "bench-r1/new").exists()
