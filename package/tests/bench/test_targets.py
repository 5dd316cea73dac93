"""Issues 14's and 23's targets, computed from runs: each verdict, what "not measured"
means, and how results.md shows the spread, the retries and where a size was read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.pipeline import RunResult
from benchmarks.results import (
    CHANGED,
    cold_reference,
    evaluate_targets,
    retries_markdown,
    summarise,
    table_markdown,
    write_results,
)
from tests.bench.recorded_runs import run_result

NO_CHANGE_QUICK = "no change: at most 0.05 of the cold time"
NO_CHANGE_BYTES = "no change: 0 layer bytes pulled, 0 uploaded"
MERGED_QUICK = "merge to main (promotion on): at most 0.05 of the cold time"
MERGED_BYTES = "merge to main (promotion on): 0 layer bytes pulled, 0 uploaded"
MERGE_OFF = "merge to main (promotion off): no slower than one JS file changed"
FASTER_JS = "one JS file changed: faster than the best other variant"
FASTER_REQUIREMENT = "one requirement added: faster than the best other variant"
FASTER_BRANCH = "a branch's first pipeline (one Python file): faster than the best other variant"
FASTEST_COLD = "cold (empty registry): at most 1.1 x the fastest other variant's"
SIZE = "cold (empty registry): final image at most half the baseline's size"
COLD = "cold (empty registry): at most 1.05 of the previous run's cold time"
NO_RETRY = "every run finished without a retry after a registry 5xx"


def run(variant: str, scenario: str, seconds: float, **changes: Any) -> RunResult:
    return run_result(variant, scenario, seconds, **changes)


def verdicts(
    runs: list[RunResult], reference: dict[str, Any] | None = None
) -> dict[tuple[str, str], bool | None]:
    return {(t.builder, t.text): t.met for t in evaluate_targets(summarise(runs), reference)}


def test_no_change_and_a_promoted_merge_are_quick_and_move_no_layer() -> None:
    runs = [
        run("buildkit", "cold", 100.0),
        run("buildkit", "no-change", 4.0, pulled_bytes=30_000),  # configs read, no layer
        run("buildkit", "merge-promoted", 6.0, pulled_layer_bytes=5_000_000),
    ]
    result = verdicts(runs)
    assert result[("buildkit", NO_CHANGE_QUICK)] is True
    assert result[("buildkit", NO_CHANGE_BYTES)] is True
    assert result[("buildkit", MERGED_QUICK)] is False
    assert result[("buildkit", MERGED_BYTES)] is False
    assert not [builder for builder, _ in result if builder == "classic"]  # it did not run


def test_one_uploaded_layer_misses_and_unrecorded_layer_bytes_are_not_measured() -> None:
    runs = [
        run("buildkit", "cold", 100.0),
        run("buildkit", "no-change", 1.0, pushed_layer_bytes=1),
        run("classic", "cold", 100.0),
        run("classic", "no-change", 1.0, pulled_layer_bytes=None, pushed_layer_bytes=None),
    ]
    result = verdicts(runs)
    assert result[("buildkit", NO_CHANGE_BYTES)] is False
    assert result[("classic", NO_CHANGE_BYTES)] is None


def test_a_merge_without_promotion_may_cost_as_much_as_a_js_change_but_no_more() -> None:
    same = [run("buildkit", "merge", 20.0), run("buildkit", "js", 20.0)]
    slower = [run("buildkit", "merge", 21.0), run("buildkit", "js", 20.0)]
    assert verdicts(same)[("buildkit", MERGE_OFF)] is True
    assert verdicts(slower)[("buildkit", MERGE_OFF)] is False


def target(runs: list[RunResult], builder: str, text: str) -> Any:
    (found,) = [
        t for t in evaluate_targets(summarise(runs)) if (t.builder, t.text) == (builder, text)
    ]
    return found


def test_every_changed_scenario_has_a_target_against_the_best_other_variant() -> None:
    assert CHANGED == ("js", "requirement", "python", "merge", "merge-promoted", "branch")
    texts = {t.text for t in evaluate_targets(summarise([run("buildkit", "cold", 1.0)]))}
    assert FASTER_BRANCH in texts
    assert "no change: faster than the best other variant" not in texts  # its own targets


def test_a_change_must_beat_the_median_of_the_fastest_other_variant() -> None:
    runs = [
        run("buildkit", "js", 10.0),
        run("baseline", "js", 12.0),
        run("registry-cache", "js", 11.0),
        run("classic", "js", 5.0),  # the other Stageline builder is no rival
        run("buildkit", "requirement", 10.0),
        run("baseline", "requirement", 30.0),
        run("registry-cache", "requirement", 8.0),
        run("per-stage-shell", "requirement", 9.0),
    ]
    js = target(runs, "buildkit", FASTER_JS)
    assert js.met is True
    assert js.measured == "10.0 s vs registry-cache 11.0 s (0.91x; best of 2)"
    requirement = target(runs, "buildkit", FASTER_REQUIREMENT)
    assert requirement.met is False
    assert requirement.measured == "10.0 s vs registry-cache 8.0 s (1.25x; best of 3)"
    level = [run("buildkit", "js", 10.0), run("multistage-latest", "js", 10.0)]
    assert target(level, "buildkit", FASTER_JS).met is False  # a tie does not beat it
    alone = target([run("buildkit", "js", 10.0)], "buildkit", FASTER_JS)
    assert (alone.met, alone.measured) == (None, "10.0 s")  # no other variant ran


def test_the_median_decides_not_one_fast_run() -> None:
    runs = [
        run("buildkit", "python", 10.0),
        run("buildkit", "python", 11.0, repetition=2),
        run("buildkit", "python", 30.0, repetition=3),
        run("registry-cache", "python", 3.0),
        run("registry-cache", "python", 12.0, repetition=2),
        run("registry-cache", "python", 13.0, repetition=3),
    ]
    python = "one Python file changed: faster than the best other variant"
    assert target(runs, "buildkit", python).met is True  # 11.0 against 12.0


def test_cold_may_be_at_most_a_tenth_slower_than_the_fastest_other_cold() -> None:
    runs = [
        run("buildkit", "cold", 44.0),
        run("multistage-latest", "cold", 40.0),
        run("registry-cache", "cold", 41.0),
        run("baseline", "cold", 90.0),
    ]
    cold = target(runs, "buildkit", FASTEST_COLD)
    assert cold.met is True
    assert cold.measured == "44.0 s vs multistage-latest 40.0 s (1.10x; best of 3)"
    runs[0] = run("buildkit", "cold", 44.5)
    assert target(runs, "buildkit", FASTEST_COLD).met is False


def test_the_cold_image_size_and_the_cold_time_against_an_earlier_run() -> None:
    runs = [run("buildkit", "cold", 42.0), run("baseline", "cold", 80.0, image_bytes=500)]
    reference = {"date": "2026-11-28 04:22 UTC", "seconds": {"buildkit": 41.1}}
    result = verdicts(runs, reference)
    assert result[("buildkit", SIZE)] is True
    assert result[("buildkit", COLD)] is True  # 42.0 <= 1.05 * 41.1
    assert verdicts([run("buildkit", "cold", 44.0)], reference)[("buildkit", COLD)] is False
    assert verdicts(runs)[("buildkit", COLD)] is None  # no earlier results


def test_the_earlier_cold_comes_from_cold_seconds_or_from_an_older_summary(
    tmp_path: Path,
) -> None:
    path = tmp_path / "results.json"
    assert cold_reference(path) is None
    summary = [
        {"variant": "buildkit", "scenario": "cold", "median_seconds": 41.1},
        {"variant": "buildkit", "scenario": "js", "median_seconds": 23.8},
    ]
    path.write_text(json.dumps({"date": "2026-11-28 04:22 UTC", "summary": summary}))
    assert cold_reference(path) == {"date": "2026-11-28 04:22 UTC", "seconds": {"buildkit": 41.1}}
    path.write_text(json.dumps({"date": "d", "cold_seconds": {"baseline": 80.0}, "summary": []}))
    assert cold_reference(path) == {"date": "d", "seconds": {"baseline": 80.0}}


def test_an_earlier_cold_on_another_engine_is_no_yardstick(tmp_path: Path) -> None:
    machine = {"os": "Debian", "cpu": "AMD EPYC", "cores": "2", "docker": "26.1.5"}
    earlier = {**machine, "docker": "20.10.24"}
    path = tmp_path / "results.json"
    data = {"date": "d", "machine": earlier, "cold_seconds": {"buildkit": 41.1}}
    path.write_text(json.dumps(data))
    reference = cold_reference(path, machine)
    assert reference is not None
    assert reference["not_comparable"] == "docker 20.10.24 then, 26.1.5 now"
    targets = evaluate_targets(summarise([run("buildkit", "cold", 80.0)]), reference)
    (target,) = [t for t in targets if (t.builder, t.text) == ("buildkit", COLD)]
    assert target.met is None
    assert "not comparable" in target.measured
    path.write_text(json.dumps({**data, "machine": machine}))
    assert "not_comparable" not in (cold_reference(path, machine) or {})


def test_the_table_shows_every_variant_and_the_ratio_to_its_cold_time() -> None:
    runs = [
        run("buildkit", "cold", 100.0),
        run("buildkit", "no-change", 10.0, layers_pushed=1, pushed_bytes=2_000_000),
        run("per-stage-shell", "cold", 50.0),
        run("multistage-latest", "merge", 25.0),
    ]
    table = table_markdown(summarise(runs))
    assert "| no change | buildkit | 10.0 (10.0-10.0) | 0.10 |" in table
    assert "| cold (empty registry) | per-stage-shell | 50.0 (50.0-50.0) | 1.00 |" in table
    assert "| merge to main (promotion off) | multistage-latest | 25.0 (25.0-25.0) | - |" in table


def test_the_table_shows_the_spread_of_the_runs_around_the_median() -> None:
    runs = [
        run("registry-cache", "js", 12.6),
        run("registry-cache", "js", 11.94, repetition=2),
        run("registry-cache", "js", 15.25, repetition=3),
    ]
    assert "| one JS file changed | registry-cache | 12.6 (11.9-15.2) |" in table_markdown(
        summarise(runs)
    )


def test_a_size_read_from_the_registry_manifest_says_so() -> None:
    pushed = run("registry-cache", "cold", 20.0, image_bytes=35_000_000)
    pushed.extra["image_size_from"] = "registry"
    table = table_markdown(summarise([pushed, run("buildkit", "cold", 30.0)]))
    assert "| 35.0 MB (registry) | 0 |" in table
    assert "| 200 B | 0 |" in table  # the engine's size, unmarked


def test_a_retried_run_is_counted_listed_and_a_stageline_target_misses() -> None:
    retried = run("buildkit", "js", 10.0, retries=1)
    retried.extra["retried_after"] = ["the registry answered 500 to HEAD /v2/x/manifests/t"]
    runs = [run("buildkit", "cold", 50.0), retried, run("baseline", "js", 9.0, retries=1)]
    summaries = summarise(runs)
    assert "| one JS file changed | buildkit | 10.0 (10.0-10.0) |" in table_markdown(summaries)
    assert table_markdown(summaries).splitlines()[3].endswith("| 1 |")
    assert (
        "- one JS file changed, buildkit, run 1: the registry answered 500 to HEAD "
        "/v2/x/manifests/t" in retries_markdown(summaries)
    )
    no_retry = target(runs, "buildkit", NO_RETRY)
    assert (no_retry.met, no_retry.measured) == (
        False,
        "1 of 2 runs retried (one JS file changed run 1)",
    )
    assert target(runs[:1], "buildkit", NO_RETRY).met is True
    assert retries_markdown(summarise(runs[:1])).startswith("No run needed a retry")


def test_the_result_files_keep_the_cold_medians_and_the_earlier_cold(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    meta = {
        "command": "nox -s bench",
        "date": "2026-12-02 06:00 UTC",
        "mode": "full",
        "repetitions": 1,
        "machine": {"os": "Debian", "cpu": "x", "cores": "2", "memory": "1 GiB", "docker": "26"},
        "previous_cold": {"date": "2026-11-28", "seconds": {"buildkit": 40.0}},
    }
    write_results(tmp_path, meta, [run("buildkit", "cold", 41.0), run("baseline", "cold", 80.0)])
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["cold_seconds"] == {"buildkit": 41.0, "baseline": 80.0}
    (cold,) = [t for t in data["targets"] if (t["target"], t["builder"]) == (COLD, "buildkit")]
    assert cold["met"] is True
    assert data["summary"][0]["min_seconds"] == 41.0
    assert data["summary"][0]["retries"] == 0
    assert "41.0 s vs 40.0 s on 2026-11-28 (1.02)" in (tmp_path / "results.md").read_text()
