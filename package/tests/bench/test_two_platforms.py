"""The two-platform benchmark's plan, platforms read from an index, targets and table."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.pipeline import RunResult, StageSteps
from benchmarks.results import summarise
from benchmarks.run import BenchError
from benchmarks.two_platform_results import (
    image_platforms,
    paired_ratios,
    table_2p_markdown,
    two_platform_targets,
    write_two_platform_results,
)
from benchmarks.two_platforms import (
    PlannedRun,
    earlier_results,
    meta_of,
    parse_args,
    planned_runs,
    render,
)
from tests.bench.recorded_runs import run_result

BOTH = ["linux/amd64", "linux/arm64"]
COLD_LIMIT = "cold (empty registry): at most 1.1 x the fastest other variant's"
COLD_CLAIM = "cold (empty registry): faster than the recipe"
NO_CHANGE_FASTER = "no change: faster than the best other variant"
NO_CHANGE_QUICK = "no change: at most 0.05 of the cold time"
NO_CHANGE_BYTES = "no change: 0 layer bytes pulled, 0 uploaded"
INDEX = "every run's IMAGE:<sha> is an index of linux/amd64 and linux/arm64"


def run(variant: str, scenario: str, seconds: float, **changes: Any) -> RunResult:
    changes = {"stages": [StageSteps("production", 9, 0)], "extra": {"platforms": BOTH}, **changes}
    return run_result(variant, scenario, seconds, **changes)


def verdicts(runs: list[RunResult]) -> dict[tuple[str, str], bool | None]:
    return {(t.builder, t.text): t.met for t in two_platform_targets(summarise(runs))}


def test_each_repetition_runs_cold_then_no_change_starting_with_the_other_variant() -> None:
    assert planned_runs(2) == [
        PlannedRun(1, "cold", "buildkit"),
        PlannedRun(1, "cold", "registry-cache"),
        PlannedRun(1, "no-change", "buildkit"),
        PlannedRun(1, "no-change", "registry-cache"),
        PlannedRun(2, "cold", "registry-cache"),
        PlannedRun(2, "cold", "buildkit"),
        PlannedRun(2, "no-change", "registry-cache"),
        PlannedRun(2, "no-change", "buildkit"),
    ]
    assert parse_args([]).repetitions == 2  # at least two, medians with a spread


def test_platforms_of_an_index_leave_attestations_out_and_a_single_image_has_none() -> None:
    index = {
        "manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:c", "platform": {"os": "unknown", "architecture": "unknown"}},
        ]
    }
    assert image_platforms(index) == BOTH
    assert image_platforms({"layers": [], "config": {}}) == []


def test_a_slower_cold_misses_the_claim_and_within_a_tenth_meets_the_limit() -> None:
    within = [run("buildkit", "cold", 105.0), run("registry-cache", "cold", 100.0)]
    assert verdicts(within)[("buildkit", COLD_LIMIT)] is True
    assert verdicts(within)[("buildkit", COLD_CLAIM)] is False
    beyond = [run("buildkit", "cold", 111.0), run("registry-cache", "cold", 100.0)]
    assert verdicts(beyond)[("buildkit", COLD_LIMIT)] is False
    faster = [run("buildkit", "cold", 99.0), run("registry-cache", "cold", 100.0)]
    assert verdicts(faster)[("buildkit", COLD_CLAIM)] is True


def test_no_change_must_be_quick_faster_than_the_recipe_and_move_no_layer() -> None:
    runs = [
        run("buildkit", "cold", 200.0),
        run("registry-cache", "cold", 190.0),
        run("buildkit", "no-change", 2.0, pulled_bytes=40_000),  # configs only
        run("registry-cache", "no-change", 30.0, pulled_layer_bytes=90_000_000),
    ]
    result = verdicts(runs)
    assert result[("buildkit", NO_CHANGE_FASTER)] is True
    assert result[("buildkit", NO_CHANGE_QUICK)] is True
    assert result[("buildkit", NO_CHANGE_BYTES)] is True
    moved = [*runs[:2], run("buildkit", "no-change", 2.0, pushed_layer_bytes=1), runs[3]]
    assert verdicts(moved)[("buildkit", NO_CHANGE_BYTES)] is False


def test_a_run_that_left_one_platform_misses_the_index_target_of_its_variant() -> None:
    runs = [
        run("buildkit", "cold", 100.0),
        run("registry-cache", "cold", 100.0, extra={"platforms": ["linux/amd64"]}),
    ]
    result = verdicts(runs)
    assert result[("buildkit", INDEX)] is True
    assert result[("registry-cache", INDEX)] is False


def test_the_table_gives_stagelines_ratio_to_the_recipe_per_scenario() -> None:
    runs = [
        run("buildkit", "cold", 240.0),
        run("buildkit", "cold", 260.0, repetition=2),
        run("registry-cache", "cold", 200.0),
        run("registry-cache", "cold", 200.0, repetition=2),
        run("buildkit", "no-change", 1.0, pulled_bytes=1),
        run("registry-cache", "no-change", 20.0, pulled_layer_bytes=87_400_000),
    ]
    lines = table_2p_markdown(summarise(runs)).splitlines()
    assert lines[2].startswith("| cold (empty registry) | buildkit | 250.0 (240.0-260.0) | 1.25 |")
    recipe = "| cold (empty registry) | registry-cache | 200.0 (200.0-200.0) | - |"
    assert lines[3].startswith(recipe)
    assert "| no change | buildkit | 1.0 (1.0-1.0) | 0.05 | 0.00 | 0 B |" in lines[4]
    assert "| 87.4 MB |" in lines[5]
    assert "linux/amd64, linux/arm64" in lines[2]


def test_results_are_written_and_rendered_again_from_their_json(tmp_path: Path) -> None:
    runs = [run("buildkit", "cold", 240.0), run("registry-cache", "cold", 200.0)]
    meta = {"command": "python -m benchmarks.two_platforms", "repetitions": 1, "machine": {}}
    write_two_platform_results(tmp_path, meta, runs)
    first = (tmp_path / "results.md").read_text()
    assert "| cold (empty registry) | buildkit | 240.0 (240.0-240.0) | 1.20 |" in first
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["summary"][0]["versus_recipe"] == 1.2
    assert render(tmp_path / "results.json") == 0
    assert (tmp_path / "results.md").read_text() == first


def test_appended_repetitions_number_on_and_keep_alternating() -> None:
    assert [(p.repetition, p.variant) for p in planned_runs(1, first=4)] == [
        (4, "registry-cache"),
        (4, "buildkit"),
        (4, "registry-cache"),
        (4, "buildkit"),
    ]


def test_appended_results_say_both_runs_and_count_every_repetition() -> None:
    args = parse_args(["--repetitions", "1"])
    earlier = {
        "command": "python -m benchmarks.two_platforms --repetitions 3",
        "date": "2026-12-05 06:21-07:05 UTC",
        "repetitions": 3,
        "wall_seconds": 2640.0,
    }
    meta = meta_of(args, {}, time.monotonic(), earlier)
    assert meta["repetitions"] == 4
    assert meta["command"] == (
        "python -m benchmarks.two_platforms --repetitions 3, then "
        "python -m benchmarks.two_platforms --repetitions 1 --append"
    )
    assert meta["date"].startswith("2026-12-05 06:21-07:05 UTC and ")


def test_an_unreadable_results_file_to_append_to_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(BenchError, match=r"cannot read runs from .*give a results\.json"):
        earlier_results(tmp_path / "results.json")
    assert earlier_results(None) == (None, [])


def test_paired_ratios_compare_the_two_runs_of_each_repetition() -> None:
    runs = [
        run("buildkit", "cold", 500.0),
        run("registry-cache", "cold", 400.0),
        run("buildkit", "cold", 300.0, repetition=2),
        run("registry-cache", "cold", 400.0, repetition=2),
        run("buildkit", "cold", 300.0, repetition=3),  # its pair did not run
    ]
    assert paired_ratios(runs, "cold") == [(1, 1.25), (2, 0.75)]
    assert paired_ratios(runs, "no-change") == []
