"""Medians, ratios to the cold build, the targets, and the three result files.

Every verdict in results.md is computed here from the runs; nothing is hand-written.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.pipeline import VARIANTS, RunResult, StageSteps
from benchmarks.scenarios import SCENARIOS

TITLES = {scenario.name: scenario.title for scenario in SCENARIOS}
LABELS = {
    "classic": "Stageline, classic builder",
    "buildkit": "Stageline, BuildKit",
    "baseline": "baseline: single stage, --cache-from latest",
}
STAGELINE = ("classic", "buildkit")


@dataclass
class Summary:
    """The runs of one variant in one scenario, summarised."""

    variant: str
    scenario: str
    runs: list[RunResult]
    cold_seconds: float | None

    @property
    def seconds(self) -> float:
        """Return the median wall time of pull + build + push."""
        return statistics.median(run.seconds for run in self.runs)

    @property
    def ratio(self) -> float | None:
        """Return the median time as a fraction of the same variant's cold median."""
        return self.seconds / self.cold_seconds if self.cold_seconds else None

    def median(self, value: Callable[[RunResult], float]) -> float:
        """Return the median of ``value`` over the runs."""
        return statistics.median(value(run) for run in self.runs)

    def fully_cached(self, stage: str) -> bool:
        """Return whether ``stage`` was fully cached in every run."""
        return all(s.fully_cached for run in self.runs for s in run.stages if s.name == stage)

    def steps_text(self) -> str:
        """Return cached/total per stage, e.g. ``build-python 3/3``; ranges if runs differ."""
        parts = []
        for index, stage in enumerate(self.runs[0].stages):
            cached = sorted({run.stages[index].cached for run in self.runs})
            shown = str(cached[0]) if len(cached) == 1 else f"{cached[0]}-{cached[-1]}"
            parts.append(f"{stage.name} {shown}/{stage.steps}")
        return ", ".join(parts)


@dataclass
class Target:
    """One target of issue 8, as measured."""

    text: str
    builder: str
    measured: str
    met: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        """Return met, MISSED or not measured."""
        return {True: "met", False: "**MISSED**", None: "not measured"}[self.met]


def human_bytes(size: float) -> str:
    """Return ``size`` bytes in kB/MB (10^3, 10^6), as Docker shows sizes."""
    if size < 1e3:
        return f"{size:.0f} B"
    if size < 1e6:
        return f"{size / 1e3:.1f} kB"
    return f"{size / 1e6:.1f} MB"


def summarise(runs: Iterable[RunResult]) -> dict[tuple[str, str], Summary]:
    """Return the runs grouped by (variant, scenario), in table order."""
    runs = list(runs)
    summaries: dict[tuple[str, str], Summary] = {}
    for scenario in SCENARIOS:
        for variant in VARIANTS:
            chosen = [r for r in runs if r.variant == variant and r.scenario == scenario.name]
            if not chosen:
                continue
            cold = [r.seconds for r in runs if r.variant == variant and r.scenario == "cold"]
            cold_seconds = statistics.median(cold) if cold else None
            summaries[(variant, scenario.name)] = Summary(
                variant, scenario.name, chosen, cold_seconds
            )
    return summaries


def evaluate_targets(summaries: dict[tuple[str, str], Summary]) -> list[Target]:
    """Return each target per Stageline builder, met or missed, from the summaries."""
    targets: list[Target] = []
    for builder in STAGELINE:

        def get(scenario: str, builder: str = builder) -> Summary | None:
            return summaries.get((builder, scenario))

        def ratio_target(scenario: str, limit: float, builder: str = builder) -> Target:
            summary = get(scenario)
            text = f"{TITLES[scenario]}: at most {limit:.2f} of the cold time"
            if summary is None or summary.ratio is None:
                return Target(text, builder, "-", None)
            measured = (
                f"{summary.ratio:.2f} ({summary.seconds:.0f} s / {summary.cold_seconds:.0f} s)"
            )
            return Target(text, builder, measured, summary.ratio <= limit)

        def cached_target(scenario: str, stages: list[str], builder: str = builder) -> Target:
            summary = get(scenario)
            text = f"{TITLES[scenario]}: {' and '.join(stages)} fully cached"
            if summary is None:
                return Target(text, builder, "-", None)
            return Target(
                text, builder, summary.steps_text(), all(summary.fully_cached(s) for s in stages)
            )

        targets.append(ratio_target("no-change", 0.15))
        no_change = get("no-change")
        uploaded = (
            Target(
                "no change: no layer uploaded on push",
                builder,
                f"{max(r.layers_pushed for r in no_change.runs)} layers, "
                f"{human_bytes(max(r.pushed_bytes for r in no_change.runs))} uploaded (max)",
                all(r.layers_pushed == 0 for r in no_change.runs),
            )
            if no_change
            else Target("no change: no layer uploaded on push", builder, "-", None)
        )
        targets.append(uploaded)
        targets.append(ratio_target("js", 0.35))
        targets.append(cached_target("js", ["build-python"]))
        targets.append(cached_target("requirement", ["build-node"]))
        targets.append(cached_target("python", ["build-python", "build-node"]))
        ours, theirs = get("cold"), summaries.get(("baseline", "cold"))
        text = "final image at most half the baseline's size"
        if ours and theirs:
            mine = ours.median(lambda r: r.image_bytes)
            base = theirs.median(lambda r: r.image_bytes)
            measured = f"{human_bytes(mine)} vs {human_bytes(base)} ({mine / base:.2f})"
            targets.append(Target(text, builder, measured, mine <= base / 2))
        else:
            targets.append(Target(text, builder, "-", None))
    return targets


def table_markdown(summaries: dict[tuple[str, str], Summary]) -> str:
    """Return the results table in Markdown."""
    lines = [
        "| scenario | variant | seconds (median; min-max) | x cold | of which pull "
        "| steps cached/total | pulled | pushed (layers) | final image |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for (variant, scenario), summary in summaries.items():
        low = min(r.seconds for r in summary.runs)
        high = max(r.seconds for r in summary.runs)
        ratio = f"{summary.ratio:.2f}" if summary.ratio is not None else "-"
        layers = sorted({r.layers_pushed for r in summary.runs})
        layers_text = str(layers[0]) if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"
        lines.append(
            f"| {TITLES[scenario]} | {variant} | {summary.seconds:.1f} ({low:.0f}-{high:.0f}) "
            f"| {ratio} | {summary.median(lambda r: r.pull_seconds):.1f} "
            f"| {summary.steps_text()} "
            f"| {human_bytes(summary.median(lambda r: r.pulled_bytes))} "
            f"| {human_bytes(summary.median(lambda r: r.pushed_bytes))} ({layers_text}) "
            f"| {human_bytes(summary.median(lambda r: r.image_bytes))} |"
        )
    return "\n".join(lines)


def targets_markdown(targets: list[Target]) -> str:
    """Return the targets table in Markdown."""
    lines = ["| target | builder | measured | result |", "|---|---|---|---|"]
    lines += [f"| {t.text} | {t.builder} | {t.measured} | {t.verdict} |" for t in targets]
    return "\n".join(lines)


def write_markdown(
    path: Path,
    meta: dict[str, Any],
    summaries: dict[tuple[str, str], Summary],
    targets: list[Target],
) -> None:
    """Write results.md: what ran where, the table, and the targets."""
    machine = meta["machine"]
    met = sum(1 for t in targets if t.met)
    measured = sum(1 for t in targets if t.met is not None)
    text = f"""# Benchmark results

Generated by `{meta["command"]}` on {meta["date"]}: {meta["mode"]} mode, {meta["repetitions"]}
repetition(s) per scenario. Machine: {machine["os"]}, {machine["cpu"]} ({machine["cores"]} cores),
{machine["memory"]}, Docker Engine {machine["docker"]}; other builds may have run alongside.

Each run purges an empty-cache runner daemon, then times `pull + build + push` against a
registry that holds what the previous scenario pushed. Seconds are the median of the runs;
"x cold" divides by the same variant's cold median. Steps cached/total are per stage, from
the JSON report (Stageline) or from BuildKit's `CACHED` lines (baseline);
"of which pull" is the median time of the pull step alone.
Pulled/pushed are blob bytes read from the registry's access log (median); layers pushed
excludes image configs. Final image: the engine's image size.

{table_markdown(summaries)}

![seconds per scenario](chart.png)

## Targets ({met} of {measured} measured targets met)

{targets_markdown(targets)}
"""
    path.write_text(text, encoding="utf-8")


def write_json(
    path: Path,
    meta: dict[str, Any],
    summaries: dict[tuple[str, str], Summary],
    targets: list[Target],
) -> None:
    """Write results.json: every run, the medians and the targets."""
    data = {
        **meta,
        "summary": [
            {
                "variant": s.variant,
                "scenario": s.scenario,
                "median_seconds": round(s.seconds, 2),
                "ratio_to_cold": round(s.ratio, 3) if s.ratio is not None else None,
                "steps": s.steps_text(),
                "median_pulled_bytes": s.median(lambda r: r.pulled_bytes),
                "median_pushed_bytes": s.median(lambda r: r.pushed_bytes),
                "max_layers_pushed": max(r.layers_pushed for r in s.runs),
                "median_image_bytes": s.median(lambda r: r.image_bytes),
            }
            for s in summaries.values()
        ],
        "targets": [
            {"target": t.text, "builder": t.builder, "measured": t.measured, "met": t.met}
            for t in targets
        ],
        "runs": [run.as_dict() for s in summaries.values() for run in s.runs],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def runs_from_json(data: dict[str, Any]) -> list[RunResult]:
    """Return the runs stored in a results.json."""
    runs = []
    for item in data["runs"]:
        stages = [StageSteps(**stage) for stage in item.pop("stages")]
        runs.append(RunResult(stages=stages, **item))
    return runs


def write_results(output: Path, meta: dict[str, Any], runs: list[RunResult]) -> None:
    """Write chart.png, results.md and results.json for ``runs`` into ``output``."""
    summaries = summarise(runs)
    targets = evaluate_targets(summaries)
    output.mkdir(parents=True, exist_ok=True)
    write_chart(output / "chart.png", summaries, int(meta["repetitions"]))
    write_markdown(output / "results.md", meta, summaries, targets)
    write_json(output / "results.json", meta, summaries, targets)


def write_chart(path: Path, summaries: dict[tuple[str, str], Summary], repetitions: int) -> None:
    """Write a grouped bar chart: seconds per scenario, each bar labelled with x cold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = [s.name for s in SCENARIOS if any(k[1] == s.name for k in summaries)]
    variants = [v for v in VARIANTS if any(k[0] == v for k in summaries)]
    colours = {"classic": "#1f77b4", "buildkit": "#2ca02c", "baseline": "#999999"}
    width = 0.8 / max(len(variants), 1)
    figure, axes = plt.subplots(figsize=(10, 5.2), dpi=110)
    for index, variant in enumerate(variants):
        xs, heights, labels = [], [], []
        for position, scenario in enumerate(scenarios):
            summary = summaries.get((variant, scenario))
            if summary is None:
                continue
            xs.append(position + (index - (len(variants) - 1) / 2) * width)
            heights.append(summary.seconds)
            labels.append(f"x{summary.ratio:.2f}" if summary.ratio is not None else "")
        bars = axes.bar(xs, heights, width, label=LABELS[variant], color=colours[variant])
        axes.bar_label(bars, labels=labels, fontsize=7, padding=2)
    axes.set_xticks(range(len(scenarios)), [TITLES[s] for s in scenarios], fontsize=9)
    axes.set_ylabel("seconds: pull + build + push (median)")
    axes.set_title(
        f"Empty-cache runner, registry holds the previous push (median of {repetitions}); "
        "labels: x cold",
        fontsize=10,
    )
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
