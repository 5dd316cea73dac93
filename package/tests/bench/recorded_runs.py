"""Run results as the benchmark records them, for the target and table tests (no daemon)."""

from __future__ import annotations

from typing import Any

from benchmarks.pipeline import RunResult, StageSteps


def run_result(
    variant: str, scenario: str, seconds: float, stage: str = "build-python", **changes: Any
) -> RunResult:
    """Return one run of ``variant`` in ``scenario`` that took ``seconds`` and moved nothing;
    ``changes`` replace any other field.
    """
    values: dict[str, Any] = {
        "repetition": 1,
        "pull_seconds": 0.0,
        "build_seconds": seconds,
        "push_seconds": 0.0,
        "stages": [StageSteps(stage, 3, 3)],
        "pulled_bytes": 0,
        "pushed_bytes": 0,
        "pushed_blobs": 0,
        "layers_pushed": 0,
        "image_bytes": 200,
        "pulled_layer_bytes": 0,
        "pushed_layer_bytes": 0,
        **changes,
    }
    return RunResult(variant=variant, scenario=scenario, seconds=seconds, **values)
