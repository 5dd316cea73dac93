"""The two-platform benchmark's medians, ratios, targets and result files (pure but the writes).

The targets, for Stageline against GitLab's registry-cache recipe, both building
linux/amd64 and linux/arm64, each a ratio of medians measured side by side in one run:

* cold: at most 1.1 times the recipe's cold (the single-platform benchmark's target), and
  the project's claim, faster than the recipe;
* no change: faster than the recipe, at most 0.05 of Stageline's own cold, with no layer
  byte pulled and none uploaded;
* every run of each variant left an index with both platforms under ``IMAGE:<sha>`` (read
  from the registry);
* no run retried after a registry 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.pipeline import RunResult
from benchmarks.results import (
    FASTEST_COLD_LIMIT,
    QUICK_LIMIT,
    TITLES,
    Summary,
    Target,
    faster_target,
    fastest_cold_target,
    human_bytes,
    ratio_target,
    retry_target,
    summarise,
    summary_json,
    targets_markdown,
    transfer_target,
)

PLATFORMS = "linux/amd64,linux/arm64"
STAGELINE = "buildkit"
RECIPE = "registry-cache"
VARIANTS_2P = (STAGELINE, RECIPE)
SCENARIOS_2P = ("cold", "no-change")
LABELS_2P = {
    STAGELINE: "Stageline: `STAGELINE_PLATFORMS=linux/amd64,linux/arm64 stageline build --push`",
    RECIPE: "GitLab's registry-cache recipe: `docker buildx build --platform "
    "linux/amd64,linux/arm64 --cache-from/--cache-to type=registry,ref=IMAGE/cache:buildcache,"
    "mode=max --push`",
}


def image_platforms(document: Mapping[str, Any]) -> list[str]:
    """Return the sorted "os/arch" of each image an index lists (attestations left out).

    A single image manifest (not an index) gives ``[]``: it names no platform itself.
    """
    entries = document.get("manifests")
    found = set()
    for entry in entries if isinstance(entries, list) else []:
        platform = entry.get("platform") or {}
        name = f"{platform.get('os', 'unknown')}/{platform.get('architecture', 'unknown')}"
        if name != "unknown/unknown":
            found.add(name)
    return sorted(found)


def platforms_target(summaries: Mapping[tuple[str, str], Summary], variant: str) -> Target:
    """Return "every run left an index of both platforms under IMAGE:<sha>"."""
    text = f"every run's IMAGE:<sha> is an index of {PLATFORMS.replace(',', ' and ')}"
    runs = [r for (v, _), s in summaries.items() if v == variant for r in s.runs]
    if not runs:
        return Target(text, variant, "-", None)
    wanted = sorted(PLATFORMS.split(","))
    wrong = [r for r in runs if r.extra.get("platforms") != wanted]
    measured = f"{len(runs) - len(wrong)} of {len(runs)} runs"
    return Target(text, variant, measured, not wrong)


def cold_claim_target(summaries: Mapping[tuple[str, str], Summary]) -> Target:
    """Return "cold: faster than the recipe" (the project's claim, stricter than 1.1x)."""
    target = faster_target(dict(summaries), STAGELINE, "cold")
    return Target(
        f"{TITLES['cold']}: faster than the recipe", STAGELINE, target.measured, target.met
    )


def two_platform_targets(summaries: Mapping[tuple[str, str], Summary]) -> list[Target]:
    """Return every target of the two-platform run, met or missed (None: not measured)."""
    data = dict(summaries)
    no_change = data.get((STAGELINE, "no-change"))
    return [
        fastest_cold_target(data, STAGELINE),
        cold_claim_target(data),
        faster_target(data, STAGELINE, "no-change"),
        ratio_target(STAGELINE, "no-change", no_change, QUICK_LIMIT),
        transfer_target(STAGELINE, "no-change", no_change),
        *(platforms_target(data, variant) for variant in VARIANTS_2P),
        *(retry_target(data, variant) for variant in VARIANTS_2P),
    ]


def versus_recipe(summaries: Mapping[tuple[str, str], Summary], scenario: str) -> float | None:
    """Return Stageline's median over the recipe's in ``scenario`` (None if either is missing)."""
    ours, theirs = summaries.get((STAGELINE, scenario)), summaries.get((RECIPE, scenario))
    if ours is None or theirs is None or not theirs.seconds:
        return None
    return ours.seconds / theirs.seconds


def paired_ratios(runs: list[RunResult], scenario: str) -> list[tuple[int, float]]:
    """Return (repetition, Stageline's seconds over the recipe's) for each repetition of both.

    The two runs of one repetition ran back to back, so the load of a shared machine
    weighs on them more alike than on runs of different repetitions.
    """
    seconds = {(r.variant, r.repetition): r.seconds for r in runs if r.scenario == scenario}
    return [
        (repetition, seconds[(STAGELINE, repetition)] / seconds[(RECIPE, repetition)])
        for repetition in sorted({repetition for _, repetition in seconds})
        if (STAGELINE, repetition) in seconds and seconds.get((RECIPE, repetition))
    ]


def paired_markdown(runs: list[RunResult]) -> str:
    """Return a line per scenario: Stageline over the recipe in each repetition."""
    lines = []
    for scenario in SCENARIOS_2P:
        pairs = paired_ratios(runs, scenario)
        if pairs:
            shown = ", ".join(f"{ratio:.2f} (run {repetition})" for repetition, ratio in pairs)
            lines.append(f"- {TITLES[scenario]}: {shown}")
    return "\n".join(lines)


def spread(values: list[int | None]) -> str:
    """Return human bytes of the median-free range of ``values``: ``a`` or ``a-b``."""
    known = sorted(v or 0 for v in values)
    low, high = human_bytes(known[0]), human_bytes(known[-1])
    return low if low == high else f"{low}-{high}"


def row_markdown(summaries: Mapping[tuple[str, str], Summary], summary: Summary) -> str:
    """Return one table row: seconds, ratios, layer bytes moved, platforms, retries."""
    runs = summary.runs
    low, high = min(r.seconds for r in runs), max(r.seconds for r in runs)
    ratio = versus_recipe(summaries, summary.scenario) if summary.variant == STAGELINE else None
    platforms = sorted({", ".join(r.extra.get("platforms", [])) or "none" for r in runs})
    layers = sorted({r.layers_pushed for r in runs})
    count = str(layers[0]) if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"
    return (
        f"| {TITLES[summary.scenario]} | {summary.variant} "
        f"| {summary.seconds:.1f} ({low:.1f}-{high:.1f}) "
        f"| {f'{ratio:.2f}' if ratio is not None else '-'} "
        f"| {f'{summary.ratio:.2f}' if summary.ratio is not None else '-'} "
        f"| {spread([r.pulled_layer_bytes for r in runs])} "
        f"| {spread([r.pushed_layer_bytes for r in runs])} ({count}) "
        f"| {summary.steps_text()} | {'; '.join(platforms)} "
        f"| {sum(r.retries for r in runs)} |"
    )


def table_2p_markdown(summaries: Mapping[tuple[str, str], Summary]) -> str:
    """Return the results table in Markdown, scenario by scenario, Stageline first."""
    lines = [
        "| scenario | variant | seconds (median; min-max) | Stageline / recipe | x cold "
        "| layers pulled | layers uploaded (count) | steps cached/total "
        "| platforms in IMAGE:sha | retries |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for scenario in SCENARIOS_2P:
        for variant in VARIANTS_2P:
            if (variant, scenario) in summaries:
                lines.append(row_markdown(summaries, summaries[(variant, scenario)]))
    return "\n".join(lines)


def loads_text(runs: list[RunResult]) -> str:
    """Return the range of the one-minute load average before the runs, or ''."""
    loads = sorted(float(r.extra["load_before"]) for r in runs if "load_before" in r.extra)
    return f"{loads[0]:.2f}-{loads[-1]:.2f}" if loads else ""


EXPLANATION_2P = f"""\
Both variants build the template's `production` target for {PLATFORMS.replace(",", " and ")}
on an emptied runner daemon (Docker's own BuildKit, docker driver, containerd image store;
arm64 under QEMU through the kernel's binfmt handler), against the benchmark's own
registry. Cold: new, empty repositories; no change: the same tree again, after the cold run
pushed. Each repetition uses fresh repositories and starts with the other variant. Seconds:
wall time of the whole pipeline, median (min-max); "Stageline / recipe" divides the
medians; "x cold" divides by the same variant's cold median. Layers pulled and uploaded:
from the registry's access log, image configs and other JSON blobs (attestations, cache
configs) left out; the recipe's uploads include its registry cache (mode=max). Platforms:
the entries of `IMAGE:<sha>` in the registry after the run."""


def write_two_platform_results(output: Path, meta: dict[str, Any], runs: list[RunResult]) -> None:
    """Write results.md and results.json for ``runs`` into ``output``."""
    summaries = summarise(runs)
    targets = two_platform_targets(summaries)
    output.mkdir(parents=True, exist_ok=True)
    met = sum(1 for t in targets if t.met)
    measured = sum(1 for t in targets if t.met is not None)
    machine = meta.get("machine", {})
    variants = "\n".join(f"- `{v}`: {LABELS_2P[v]}" for v in VARIANTS_2P)
    loads = loads_text(runs)
    load_line = f" One-minute load average before the runs: {loads}." if loads else ""
    text = f"""# Two-platform benchmark results

Generated by `{meta.get("command", "")}` on {meta.get("date", "")}, {meta.get("repetitions")}
repetition(s). Machine: {machine.get("os")}, {machine.get("cpu")} ({machine.get("cores")} cores),
{machine.get("memory")}, Docker Engine {machine.get("docker")}; other work may have shared the
machine.{load_line}

{EXPLANATION_2P}

{variants}

{table_2p_markdown(summaries)}

Stageline / recipe within each repetition (the two runs back to back):

{paired_markdown(runs)}

## Targets ({met} of {measured} measured targets met)

Cold: at most {FASTEST_COLD_LIMIT:.1f} x the recipe, and the claim, faster; no change: faster
than the recipe and at most {QUICK_LIMIT:.2f} of the cold time, with 0 layer bytes moved.

{targets_markdown(targets)}
"""
    (output / "results.md").write_text(text, encoding="utf-8")
    data = {
        **meta,
        "summary": [
            {**summary_json(s), "versus_recipe": versus_recipe(summaries, s.scenario)}
            if s.variant == STAGELINE
            else summary_json(s)
            for s in summaries.values()
        ],
        "targets": [
            {"target": t.text, "builder": t.builder, "measured": t.measured, "met": t.met}
            for t in targets
        ],
        "runs": [run.as_dict() for s in summaries.values() for run in s.runs],
    }
    (output / "results.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
