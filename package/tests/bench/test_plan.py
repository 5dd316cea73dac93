"""What a benchmark run plans: scenarios in order, variants, short mode, --scenarios."""

from __future__ import annotations

import pytest

from benchmarks.pipeline import DEFAULT_VARIANTS, VARIANTS
from benchmarks.run import BenchError, names, parse_args, plan_runs
from benchmarks.scenarios import SCENARIO_NAMES, SCENARIOS


def test_scenarios_run_in_issue_14s_order_and_only_the_merges_have_a_branch() -> None:
    assert SCENARIO_NAMES == (
        "cold",
        "no-change",
        "js",
        "requirement",
        "python",
        "merge",
        "merge-promoted",
    )
    assert [s.name for s in SCENARIOS if s.branch] == ["merge", "merge-promoted"]
    assert [s.name for s in SCENARIOS if s.promote] == ["merge-promoted"]


def test_the_default_variants_leave_out_the_classic_builder() -> None:
    assert set(VARIANTS) - set(DEFAULT_VARIANTS) == {"classic"}
    assert parse_args([]).variants.split(",") == list(DEFAULT_VARIANTS)


def test_short_mode_runs_cold_no_change_and_a_promoted_merge() -> None:
    plan = plan_runs(True, list(DEFAULT_VARIANTS), list(SCENARIO_NAMES))
    assert plan == {
        "buildkit": ["cold", "no-change", "merge-promoted"],
        "baseline": ["cold", "no-change"],
    }


def test_scenarios_can_be_chosen_and_a_variant_left_with_none_is_dropped() -> None:
    plan = plan_runs(False, ["buildkit", "per-stage-shell"], ["merge", "cold"])
    assert plan == {"buildkit": ["cold", "merge"], "per-stage-shell": ["cold", "merge"]}
    assert plan_runs(True, ["per-stage-shell"], list(SCENARIO_NAMES)) == {}


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    assert names(" cold, merge ,", SCENARIO_NAMES, "scenario") == ["cold", "merge"]
    with pytest.raises(BenchError, match="unknown scenario"):
        names("cold,merged", SCENARIO_NAMES, "scenario")
