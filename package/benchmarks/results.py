"""Medians, ratios to the cold build, the targets, and the three result files.

Every verdict in results.md is computed here from the runs; nothing is hand-written.
The targets (docs/benchmark.md; issues 14 and 23), for each Stageline variant measured,
each a ratio of medians measured side by side in one run:

* no change, and a merge to main with promotion on: at most 0.05 of the cold time, with
  no layer byte pulled and none uploaded;
* every scenario in which something changed (all but cold and no change): a median below
  the best median of every other variant measured (the hand-written pipelines and
  GitLab's recipes; not the other Stageline builder);
* a merge to main with promotion off: no slower than one JS file changed;
* cold: at most 1.1 times the fastest other variant's cold; the final image at most half
  the baseline's; and the cold time at most 1.05 of the cold time in the previous
  results.json of the same folder (if there was one);
* every run finished without a retry (benchmarks/retry.py).
"""

from __future__ import annotations

import json
import statistics
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.pipeline import (
    SIZE_FROM_REGISTRY,
    STAGELINE_VARIANTS,
    VARIANTS,
    RunResult,
    StageSteps,
    stage_names,
)
from benchmarks.scenarios import SCENARIOS

TITLES = {scenario.name: scenario.title for scenario in SCENARIOS}
LABELS = {
    "classic": "Stageline, classic builder (`stageline build --push`)",
    "buildkit": "Stageline, BuildKit (`stageline build --push`)",
    "baseline": "baseline: single stage, --cache-from latest",
    "multistage-latest": "GitLab's inline recipe: multi-stage, --cache-from :latest, "
    "BUILDKIT_INLINE_CACHE=1",
    "registry-cache": "GitLab's registry-cache recipe: buildx --cache-from/--cache-to "
    "type=registry,mode=max --push",
    "per-stage-shell": "per-stage shell pipeline (--target, tag per stage)",
}
COLOURS = {
    "classic": "#1f77b4",
    "buildkit": "#2ca02c",
    "baseline": "#999999",
    "multistage-latest": "#ff7f0e",
    "registry-cache": "#d62728",
    "per-stage-shell": "#9467bd",
}
STAGELINE = STAGELINE_VARIANTS
# The variants Stageline is measured against: every one that is not Stageline.
OTHERS = tuple(v for v in VARIANTS if v not in STAGELINE_VARIANTS)
QUICK_LIMIT = 0.05  # of the cold time: no change, merge with promotion on
COLD_LIMIT = 1.05  # of the previous run's cold time
FASTEST_COLD_LIMIT = 1.1  # of the fastest other variant's cold time, in the same run
# Every scenario in which something changed: all but cold and no change.
CHANGED = tuple(s.name for s in SCENARIOS if s.name not in ("cold", "no-change"))
# What must be the same for an earlier run's cold time to be a yardstick.
MACHINE_KEYS = ("docker", "cpu", "cores")


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

    def steps_text(self) -> str:
        """Return cached/total per stage, e.g. ``build-python 3/3``; ranges if runs differ.

        A stage Stageline reused (found by key: not pulled, not built) shows ``reused``.
        """
        parts = []
        for name in stage_names(self.runs):
            stages = [s for run in self.runs for s in run.stages if s.name == name]
            built = [s for s in stages if s.outcome != "reused"]
            if not built:
                parts.append(f"{name} reused")
                continue
            parts.append(f"{name} {steps_range(built)}")
            if len(built) < len(stages):
                parts[-1] += f" (reused in {len(stages) - len(built)} of {len(stages)} runs)"
        return ", ".join(parts)


def steps_range(stages: list[StageSteps]) -> str:
    """Return ``cached/steps`` of one stage over runs, ``low-high/steps`` if they differ."""
    cached = sorted({s.cached for s in stages})
    shown = str(cached[0]) if len(cached) == 1 else f"{cached[0]}-{cached[-1]}"
    return f"{shown}/{max(s.steps for s in stages)}"


@dataclass
class Target:
    """One target, as measured."""

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


def cold_seconds(summaries: dict[tuple[str, str], Summary]) -> dict[str, float]:
    """Return each variant's median cold seconds (what a later run compares with)."""
    return {v: round(s.seconds, 2) for (v, scenario), s in summaries.items() if scenario == "cold"}


def cold_reference(path: Path, machine: dict[str, str] | None = None) -> dict[str, Any] | None:
    """Return the date and cold medians of an earlier results.json, or None if unreadable.

    With ``machine`` (this run's), an earlier run on another engine, CPU or core count is
    marked ``not_comparable`` (the reason): its cold time is no yardstick for this one.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        seconds = data.get("cold_seconds") or {
            item["variant"]: item["median_seconds"]
            for item in data["summary"]
            if item["scenario"] == "cold"
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not seconds:
        return None
    reference = {"date": str(data.get("date", "an earlier run")), "seconds": dict(seconds)}
    earlier = data.get("machine") or {}
    differs = [k for k in MACHINE_KEYS if machine and earlier.get(k) != machine.get(k)]
    if differs:
        reference["not_comparable"] = ", ".join(
            f"{key} {earlier.get(key, '?')} then, {machine.get(key) if machine else '?'} now"
            for key in differs
        )
    return reference


def ratio_target(builder: str, scenario: str, summary: Summary | None, limit: float) -> Target:
    """Return "``scenario`` takes at most ``limit`` of the cold time"."""
    text = f"{TITLES[scenario]}: at most {limit:.2f} of the cold time"
    if summary is None or summary.ratio is None:
        return Target(text, builder, "-", None)
    measured = f"{summary.ratio:.2f} ({summary.seconds:.1f} s / {summary.cold_seconds:.1f} s)"
    return Target(text, builder, measured, summary.ratio <= limit)


def transfer_target(builder: str, scenario: str, summary: Summary | None) -> Target:
    """Return "``scenario`` pulls no layer byte and uploads none" (every run)."""
    text = f"{TITLES[scenario]}: 0 layer bytes pulled, 0 uploaded"
    if summary is None:
        return Target(text, builder, "-", None)
    pulled = [r.pulled_layer_bytes for r in summary.runs]
    pushed = [r.pushed_layer_bytes for r in summary.runs]
    if None in pulled or None in pushed:
        return Target(text, builder, "layer bytes not recorded", None)
    most_pulled, most_pushed = max(p or 0 for p in pulled), max(p or 0 for p in pushed)
    measured = (
        f"{human_bytes(most_pulled)} of layers pulled "
        f"({human_bytes(max(r.pulled_bytes for r in summary.runs))} of blobs), "
        f"{human_bytes(most_pushed)} uploaded (max)"
    )
    return Target(text, builder, measured, most_pulled == 0 and most_pushed == 0)


def not_slower_target(builder: str, merge: Summary | None, js: Summary | None) -> Target:
    """Return "the merge without promotion is no slower than one JS file changed"."""
    text = f"{TITLES['merge']}: no slower than {TITLES['js']}"
    if merge is None or js is None:
        return Target(text, builder, "-", None)
    measured = f"{merge.seconds:.1f} s vs {js.seconds:.1f} s"
    return Target(text, builder, measured, merge.seconds <= js.seconds)


def fastest_other(
    summaries: dict[tuple[str, str], Summary], scenario: str
) -> tuple[str, Summary] | None:
    """Return the other variant (not Stageline) with the lowest median in ``scenario``."""
    others = [(v, summaries[(v, scenario)]) for v in OTHERS if (v, scenario) in summaries]
    return min(others, key=lambda item: item[1].seconds, default=None)


def versus(ours: Summary, best: tuple[str, Summary], measured: int) -> str:
    """Return "ours s vs the best variant's s (ratio; best of N)"."""
    variant, theirs = best
    return (
        f"{ours.seconds:.1f} s vs {variant} {theirs.seconds:.1f} s "
        f"({ours.seconds / theirs.seconds:.2f}x; best of {measured})"
    )


def faster_target(summaries: dict[tuple[str, str], Summary], builder: str, scenario: str) -> Target:
    """Return "``builder``'s median beats the best other variant's in ``scenario``"."""
    text = f"{TITLES[scenario]}: faster than the best other variant"
    ours, best = summaries.get((builder, scenario)), fastest_other(summaries, scenario)
    if ours is None or best is None:
        return Target(text, builder, "-" if ours is None else f"{ours.seconds:.1f} s", None)
    measured = sum(1 for v in OTHERS if (v, scenario) in summaries)
    return Target(text, builder, versus(ours, best, measured), ours.seconds < best[1].seconds)


def fastest_cold_target(summaries: dict[tuple[str, str], Summary], builder: str) -> Target:
    """Return "the cold time is at most 1.1 of the fastest other variant's cold"."""
    text = f"{TITLES['cold']}: at most {FASTEST_COLD_LIMIT:.1f} x the fastest other variant's"
    ours, best = summaries.get((builder, "cold")), fastest_other(summaries, "cold")
    if ours is None or best is None:
        return Target(text, builder, "-" if ours is None else f"{ours.seconds:.1f} s", None)
    measured = sum(1 for v in OTHERS if (v, "cold") in summaries)
    ratio = ours.seconds / best[1].seconds
    return Target(text, builder, versus(ours, best, measured), ratio <= FASTEST_COLD_LIMIT)


def retry_target(summaries: dict[tuple[str, str], Summary], builder: str) -> Target:
    """Return "every run of ``builder`` finished without a retry" (retry.py)."""
    text = "every run finished without a retry after a registry 5xx"
    runs = [r for (v, _), s in summaries.items() if v == builder for r in s.runs]
    if not runs:
        return Target(text, builder, "-", None)
    retried = [r for r in runs if r.retries]
    named = ", ".join(f"{TITLES[r.scenario]} run {r.repetition}" for r in retried)
    measured = f"{len(retried)} of {len(runs)} runs retried" + (f" ({named})" if named else "")
    return Target(text, builder, measured, not retried)


def size_target(builder: str, ours: Summary | None, theirs: Summary | None) -> Target:
    """Return "the final image is at most half the baseline's" (cold runs)."""
    text = f"{TITLES['cold']}: final image at most half the baseline's size"
    if ours is None or theirs is None:
        return Target(text, builder, "-", None)
    mine = ours.median(lambda r: r.image_bytes)
    base = theirs.median(lambda r: r.image_bytes)
    measured = f"{human_bytes(mine)} vs {human_bytes(base)} ({mine / base:.2f})"
    return Target(text, builder, measured, mine <= base / 2)


def cold_target(builder: str, ours: Summary | None, reference: dict[str, Any] | None) -> Target:
    """Return "the cold time is at most 1.05 of the previous run's" (if there was one)."""
    text = f"{TITLES['cold']}: at most {COLD_LIMIT:.2f} of the previous run's cold time"
    if ours is None:
        return Target(text, builder, "-", None)
    earlier = float(reference["seconds"].get(builder) or 0) if reference else 0.0
    if reference is None or not earlier:
        return Target(text, builder, f"{ours.seconds:.1f} s (no earlier result)", None)
    if reference.get("not_comparable"):
        measured = (
            f"{ours.seconds:.1f} s; earlier run not comparable ({reference['not_comparable']})"
        )
        return Target(text, builder, measured, None)
    ratio = ours.seconds / earlier
    measured = f"{ours.seconds:.1f} s vs {earlier:.1f} s on {reference['date']} ({ratio:.2f})"
    return Target(text, builder, measured, ratio <= COLD_LIMIT)


def builder_targets(
    summaries: dict[tuple[str, str], Summary], builder: str, reference: dict[str, Any] | None
) -> list[Target]:
    """Return every target of one Stageline variant."""

    def get(scenario: str) -> Summary | None:
        return summaries.get((builder, scenario))

    return [
        ratio_target(builder, "no-change", get("no-change"), QUICK_LIMIT),
        transfer_target(builder, "no-change", get("no-change")),
        *(faster_target(summaries, builder, scenario) for scenario in CHANGED),
        fastest_cold_target(summaries, builder),
        ratio_target(builder, "merge-promoted", get("merge-promoted"), QUICK_LIMIT),
        transfer_target(builder, "merge-promoted", get("merge-promoted")),
        not_slower_target(builder, get("merge"), get("js")),
        size_target(builder, get("cold"), summaries.get(("baseline", "cold"))),
        cold_target(builder, get("cold"), reference),
        retry_target(summaries, builder),
    ]


def evaluate_targets(
    summaries: dict[tuple[str, str], Summary], reference: dict[str, Any] | None = None
) -> list[Target]:
    """Return each target per Stageline variant, met or missed, from the summaries.

    ``reference``: an earlier run's cold medians (:func:`cold_reference`), if any.
    """
    ran = {variant for variant, _ in summaries}
    return [
        target
        for builder in STAGELINE
        if builder in ran
        for target in builder_targets(summaries, builder, reference)
    ]


def image_text(summary: Summary) -> str:
    """Return the median final image size; marked if read from the registry's manifest."""
    size = human_bytes(summary.median(lambda r: r.image_bytes))
    sources = {r.extra.get("image_size_from", "engine") for r in summary.runs}
    return f"{size} ({SIZE_FROM_REGISTRY})" if SIZE_FROM_REGISTRY in sources else size


def table_markdown(summaries: dict[tuple[str, str], Summary]) -> str:
    """Return the results table in Markdown."""
    lines = [
        "| scenario | variant | seconds (median; min-max) | x cold | of which pull "
        "| steps cached/total | pulled | pushed (layers) | final image | retries |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for (variant, scenario), summary in summaries.items():
        low = min(r.seconds for r in summary.runs)
        high = max(r.seconds for r in summary.runs)
        ratio = f"{summary.ratio:.2f}" if summary.ratio is not None else "-"
        layers = sorted({r.layers_pushed for r in summary.runs})
        layers_text = str(layers[0]) if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"
        lines.append(
            f"| {TITLES[scenario]} | {variant} | {summary.seconds:.1f} ({low:.1f}-{high:.1f}) "
            f"| {ratio} | {summary.median(lambda r: r.pull_seconds):.1f} "
            f"| {summary.steps_text()} "
            f"| {human_bytes(summary.median(lambda r: r.pulled_bytes))} "
            f"| {human_bytes(summary.median(lambda r: r.pushed_bytes))} ({layers_text}) "
            f"| {image_text(summary)} | {sum(r.retries for r in summary.runs)} |"
        )
    return "\n".join(lines)


def retries_markdown(summaries: dict[tuple[str, str], Summary]) -> str:
    """Return one line per run that ran again after a registry 5xx, with the reason."""
    lines = [
        f"- {TITLES[r.scenario]}, {r.variant}, run {r.repetition}: {reason}"
        for summary in summaries.values()
        for r in summary.runs
        for reason in r.extra.get("retried_after", [])
    ]
    if not lines:
        return "No run needed a retry (a run runs once more only after a registry 5xx)."
    return "Runs that ran once more after a registry 5xx (benchmarks/retry.py):\n\n" + "\n".join(
        lines
    )


def targets_markdown(targets: list[Target]) -> str:
    """Return the targets table in Markdown."""
    lines = ["| target | builder | measured | result |", "|---|---|---|---|"]
    lines += [f"| {t.text} | {t.builder} | {t.measured} | {t.verdict} |" for t in targets]
    return "\n".join(lines)


EXPLANATION = """\
Each run purges an empty-cache runner daemon, then times `pull + build + push` (Stageline:
its one command) against a registry that holds what the previous scenario pushed. Before
the first run the runner pulls the base images once, untimed, and each repetition starts
the variants one further along, so that no variant always runs first. Seconds are the
median of the runs; "x cold" divides by the same variant's cold median. Steps
cached/total are per stage, from the JSON report (Stageline; "reused": found by content
key, neither pulled nor built) or from BuildKit's `CACHED` lines (the hand-written
pipelines);
"of which pull" is the median time of the pull step alone.
Pulled/pushed are blob bytes read from the registry's access log over the whole run
(median); layers pushed excludes image configs; the targets' layer bytes leave out configs
(and other JSON blobs: cache configs, attestations) on both sides. The registry-cache
recipe pulls and pushes during its build (its pull and push steps do nothing), and its
pushed bytes include its registry cache (mode=max: every step's layers). Final image: the
engine's image size; "(registry)" where the engine had no image after a `--push` build and
the size is the sum of its compressed layers in the registry's manifest. Retries: runs that
failed while the registry answered a 5xx and ran once more (listed below the table).

Variants: {variants}.

The merge scenarios: before the clock starts, a branch (`feature-x`) builds and pushes a
changed `assets/js/main.js` on an emptied runner; the timed run is the default branch's
pipeline for the same tree. With promotion on, both pipelines of the Stageline variants
set `STAGELINE_PROMOTE_MERGED=true`; the hand-written pipelines have no such setting and
run the same way in both modes (see benchmarks/scenarios.py).

A branch's first pipeline: ref `feature-y`, with no tag or cache of its own yet, builds a
commit that changes one Python file, timed itself; each variant falls back on what the
default branch pushed, as it reads a branch's tags (Stageline and the per-stage pipeline:
each stage's default-branch tag; latest.sh: `IMAGE:latest`; the registry-cache recipe: its
one shared cache ref)."""


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
    shown = [v for v in VARIANTS if any(key[0] == v for key in summaries)]
    variants = "; ".join(f"`{v}`: {LABELS[v]}" for v in shown)
    text = f"""# Benchmark results

Generated by `{meta["command"]}` on {meta["date"]}: {meta["mode"]} mode, {meta["repetitions"]}
repetition(s) per scenario. Machine: {machine["os"]}, {machine["cpu"]} ({machine["cores"]} cores),
{machine["memory"]}, Docker Engine {machine["docker"]}; other builds may have run alongside.

{EXPLANATION.format(variants=variants)}

{table_markdown(summaries)}

{retries_markdown(summaries)}

![seconds per scenario](chart.png)

## Targets ({met} of {measured} measured targets met)

{targets_markdown(targets)}
"""
    path.write_text(text, encoding="utf-8")


def summary_json(summary: Summary) -> dict[str, Any]:
    """Return one summary row of results.json."""
    return {
        "variant": summary.variant,
        "scenario": summary.scenario,
        "median_seconds": round(summary.seconds, 2),
        "min_seconds": round(min(r.seconds for r in summary.runs), 2),
        "max_seconds": round(max(r.seconds for r in summary.runs), 2),
        "ratio_to_cold": round(summary.ratio, 3) if summary.ratio is not None else None,
        "steps": summary.steps_text(),
        "median_pulled_bytes": summary.median(lambda r: r.pulled_bytes),
        "median_pushed_bytes": summary.median(lambda r: r.pushed_bytes),
        "max_layers_pushed": max(r.layers_pushed for r in summary.runs),
        "max_pulled_layer_bytes": max_of(r.pulled_layer_bytes for r in summary.runs),
        "max_pushed_layer_bytes": max_of(r.pushed_layer_bytes for r in summary.runs),
        "median_image_bytes": summary.median(lambda r: r.image_bytes),
        "retries": sum(r.retries for r in summary.runs),
    }


def max_of(values: Iterable[int | None]) -> int | None:
    """Return the largest value, or None if any is unknown."""
    known = list(values)
    return None if None in known else max(v or 0 for v in known)


def write_json(
    path: Path,
    meta: dict[str, Any],
    summaries: dict[tuple[str, str], Summary],
    targets: list[Target],
) -> None:
    """Write results.json: every run, the medians, the cold medians and the targets."""
    data = {
        **meta,
        "cold_seconds": cold_seconds(summaries),
        "summary": [summary_json(s) for s in summaries.values()],
        "targets": [
            {"target": t.text, "builder": t.builder, "measured": t.measured, "met": t.met}
            for t in targets
        ],
        "runs": [run.as_dict() for s in summaries.values() for run in s.runs],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def runs_from_json(data: dict[str, Any]) -> list[RunResult]:
    """Return the runs stored in a results.json (also one written before content keys)."""
    runs = []
    for item in data["runs"]:
        stages = [StageSteps(**stage) for stage in item.pop("stages")]
        runs.append(RunResult(stages=stages, **item))
    return runs


def write_results(output: Path, meta: dict[str, Any], runs: list[RunResult]) -> None:
    """Write chart.png, results.md and results.json for ``runs`` into ``output``.

    ``meta["previous_cold"]``, if set, is the earlier run the cold target compares with.
    """
    summaries = summarise(runs)
    targets = evaluate_targets(summaries, meta.get("previous_cold"))
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
    width = 0.8 / max(len(variants), 1)
    figure, axes = plt.subplots(figsize=(13, 5.6), dpi=110)
    for index, variant in enumerate(variants):
        xs, heights, labels = [], [], []
        for position, scenario in enumerate(scenarios):
            summary = summaries.get((variant, scenario))
            if summary is None:
                continue
            xs.append(position + (index - (len(variants) - 1) / 2) * width)
            heights.append(summary.seconds)
            labels.append(f"x{summary.ratio:.2f}" if summary.ratio is not None else "")
        bars = axes.bar(xs, heights, width, label=LABELS[variant], color=COLOURS[variant])
        axes.bar_label(bars, labels=labels, fontsize=6, padding=2, rotation=90)
    names = [textwrap.fill(TITLES[s], 18) for s in scenarios]
    axes.set_xticks(range(len(scenarios)), names, fontsize=8)
    axes.set_ylabel("seconds: pull + build + push (median)")
    axes.set_title(
        f"Empty-cache runner, registry holds the previous push (median of {repetitions}); "
        "labels: x cold",
        fontsize=10,
    )
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    axes.margins(y=0.12)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
