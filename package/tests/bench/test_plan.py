"""What a benchmark run plans: scenarios in order, variants, short mode, --scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.pipeline import DEFAULT_VARIANTS, VARIANTS
from benchmarks.run import BenchError, names, parse_args, plan_runs, rotated
from benchmarks.scenarios import SCENARIO_NAMES, SCENARIOS


def test_scenarios_run_in_issue_14s_order_then_a_branchs_first_pipeline() -> None:
    assert SCENARIO_NAMES == (
        "cold",
        "no-change",
        "js",
        "requirement",
        "python",
        "merge",
        "merge-promoted",
        "branch",
    )
    assert [s.name for s in SCENARIOS if s.branch] == ["merge", "merge-promoted"]
    assert [s.name for s in SCENARIOS if s.promote] == ["merge-promoted"]
    # Only the last one times a branch's own pipeline: its change never reaches main.
    assert [(s.name, s.ref) for s in SCENARIOS if s.ref] == [("branch", "feature-y")]
    assert SCENARIOS[-1].ref is not None


def test_a_branchs_first_pipeline_changes_one_python_file(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    views = tmp_path / "core" / "views.py"
    views.write_text("x = 1\n")
    SCENARIOS[-1].change(tmp_path, 2)
    assert views.read_text() == "x = 1\n\n# Branch feature-y, change 2.\n"


def test_the_default_variants_leave_out_the_classic_builder() -> None:
    assert set(VARIANTS) - set(DEFAULT_VARIANTS) == {"classic"}
    assert "registry-cache" in DEFAULT_VARIANTS  # GitLab's registry-cache recipe
    assert parse_args([]).variants.split(",") == list(DEFAULT_VARIANTS)


def test_short_mode_runs_cold_no_change_and_a_promoted_merge() -> None:
    plan = plan_runs(True, list(DEFAULT_VARIANTS), list(SCENARIO_NAMES))
    assert plan == {
        "buildkit": ["cold", "no-change", "merge-promoted"],
        "baseline": ["cold", "no-change"],
        "registry-cache": ["cold", "no-change"],
    }


def test_scenarios_can_be_chosen_and_a_variant_left_with_none_is_dropped() -> None:
    plan = plan_runs(False, ["buildkit", "per-stage-shell"], ["merge", "cold"])
    assert plan == {"buildkit": ["cold", "merge"], "per-stage-shell": ["cold", "merge"]}
    assert plan_runs(True, ["per-stage-shell"], list(SCENARIO_NAMES)) == {}


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    assert names(" cold, merge ,", SCENARIO_NAMES, "scenario") == ["cold", "merge"]
    with pytest.raises(BenchError, match="unknown scenario"):
        names("cold,merged", SCENARIO_NAMES, "scenario")


def test_each_repetition_starts_with_another_variant() -> None:
    variants = ["buildkit", "baseline", "registry-cache"]
    firsts = [rotated(variants, repetition)[0] for repetition in (1, 2, 3, 4)]
    assert firsts == ["buildkit", "baseline", "registry-cache", "buildkit"]
    assert sorted(rotated(variants, 2)) == sorted(variants)
    assert rotated([], 3) == []
