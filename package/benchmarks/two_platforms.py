"""Two platforms: `python -m benchmarks.two_platforms [--repetitions N]` (not in CI: too slow).

Stageline (``STAGELINE_PLATFORMS=linux/amd64,linux/arm64``, ``stageline build --push``)
against GitLab's registry-cache recipe with ``--platform linux/amd64,linux/arm64``
(benchmarks/pipelines/registry-cache.sh), both building the template's ``production``
target on the empty-cache runner (Docker 26, containerd image store, the engine's own
BuildKit: the docker driver exports a registry cache there), arm64 under QEMU through the
kernel's binfmt handler. Two scenarios per repetition, each on an emptied runner: cold
(new, empty repositories) and no change (the same tree again). Each repetition has fresh
repositories and starts with the other variant. Writes results.md and results.json into
benchmarks/results/two-platforms/ (two_platform_results.py says what they hold).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.pipeline import DEFAULT_BRANCH, Job, Pipeline, RunResult
from benchmarks.results import runs_from_json
from benchmarks.run import (
    PACKAGE_ROOT,
    BenchError,
    bench_session,
    check_environment,
    progress_line,
    rotated,
    run_reporting_failures,
)
from benchmarks.scenarios import SCENARIOS
from benchmarks.two_platform_results import (
    PLATFORMS,
    SCENARIOS_2P,
    VARIANTS_2P,
    image_platforms,
    write_two_platform_results,
)
from testing.emulation import arm64_readiness
from testing.projects import copy_project

OUTPUT = PACKAGE_ROOT / "benchmarks" / "results" / "two-platforms"
COMMAND = "python -m benchmarks.two_platforms"


@dataclass(frozen=True)
class PlannedRun:
    """One timed run: which repetition, scenario and variant, in the order they run."""

    repetition: int
    scenario: str
    variant: str


def planned_runs(repetitions: int, first: int = 1) -> list[PlannedRun]:
    """Return every run in order: per repetition, cold then no change, variants rotated.

    Repetitions are numbered from ``first`` (after an earlier run's, with --append).
    """
    return [
        PlannedRun(repetition, scenario, variant)
        for repetition in range(first, first + repetitions)
        for scenario in SCENARIOS_2P
        for variant in rotated(list(VARIANTS_2P), repetition)
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--repetitions", type=int, default=2, help="default %(default)s")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default %(default)s")
    parser.add_argument("--port", type=int, default=None, help="the registry's loopback port")
    parser.add_argument(
        "--append",
        type=Path,
        metavar="RESULTS_JSON",
        help="run --repetitions more, numbered after those of an earlier results.json, and "
        "write them all together into its folder",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: write results.md and results.json again from a results.json",
    )
    return parser.parse_args(argv)


def prepare() -> dict[str, str]:
    """Return the base images; raise BenchError naming what is missing (QEMU, the index)."""
    images = check_environment(list(VARIANTS_2P))
    ready = arm64_readiness(os.environ)
    if isinstance(ready, str):
        raise BenchError(ready)
    return images


def timed_run(pipeline: Pipeline, planned: PlannedRun, project: Path, image: str) -> RunResult:
    """Run one planned run; add the platforms of its ``IMAGE:SHA`` and the load before it."""
    load = os.getloadavg()[0]
    job = Job(
        variant=planned.variant,
        scenario=planned.scenario,
        repetition=planned.repetition,
        project=project,
        image=image,
        sha=f"r{planned.repetition}{planned.scenario}",
        ref=DEFAULT_BRANCH,
        platforms=PLATFORMS,
    )
    result = pipeline.run(job)
    document, _ = pipeline.registry.manifest(job.repository, job.sha)
    result.extra["platforms"] = image_platforms(document)
    result.extra["load_before"] = round(load, 2)
    return result


def run_all(
    pipeline: Pipeline,
    plan: list[PlannedRun],
    earlier: list[RunResult],
    work: Path,
    written: Callable[[list[RunResult]], None],
) -> list[RunResult]:
    """Run every planned run on fresh repositories per repetition; return all the results.

    ``written`` gets the runs so far (``earlier`` first) after each run: a run stopped
    early keeps them.
    """
    runs = list(earlier)
    changes = {scenario.name: scenario.change for scenario in SCENARIOS}
    projects: dict[int, Path] = {}
    last = max((planned.repetition for planned in plan), default=0)
    for planned in plan:
        if planned.repetition not in projects:
            projects[planned.repetition] = copy_project(work / f"project-{planned.repetition}")
        project = projects[planned.repetition]
        changes[planned.scenario](project, planned.repetition)  # both change nothing
        print(f"==> run {planned.repetition}/{last}: {planned.scenario}, {planned.variant}")
        image = f"{pipeline.registry.address}/{work.name}-r{planned.repetition}/"
        result = timed_run(pipeline, planned, project, image + planned.variant)
        runs.append(result)
        print(f"{progress_line(result)}; platforms {', '.join(result.extra['platforms'])}")
        written(runs)
    return runs


def meta_of(
    args: argparse.Namespace,
    machine: dict[str, str],
    started: float,
    earlier: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return what results.json keeps about the run besides the runs (and an earlier one's)."""
    now = datetime.datetime.now(datetime.UTC)
    begun = now - datetime.timedelta(seconds=time.monotonic() - started)
    meta = {
        "command": f"{COMMAND} --repetitions {args.repetitions}",
        "date": f"{begun:%Y-%m-%d %H:%M}-{now:%H:%M} UTC",
        "repetitions": args.repetitions,
        "platforms": PLATFORMS,
        "machine": machine,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    if earlier:
        meta["command"] = f"{earlier['command']}, then {meta['command']} --append"
        meta["date"] = f"{earlier['date']} and {meta['date']}"
        meta["repetitions"] = int(earlier["repetitions"]) + args.repetitions
        meta["wall_seconds"] = float(earlier["wall_seconds"]) + float(meta["wall_seconds"])
    return meta


def earlier_results(path: Path | None) -> tuple[dict[str, Any] | None, list[RunResult]]:
    """Return the meta and runs of the results.json ``--append`` names (none without it)."""
    if path is None:
        return None, []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data, runs_from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"cannot read runs from {path} ({exc}); give a results.json.") from exc


def run(args: argparse.Namespace) -> Path:
    """Run every repetition and write the results; return the output folder."""
    base_images = prepare()
    earlier, earlier_runs = earlier_results(args.append)
    output: Path = args.append.parent if args.append else args.output
    first = 1 + max((r.repetition for r in earlier_runs), default=0)
    started = time.monotonic()
    logs = lambda run_id: output / f"logs-{run_id}"  # noqa: E731 - one use, read in place
    with bench_session("bench2p", args.port, base_images, logs) as bench:

        def written(runs: list[RunResult]) -> None:
            write_two_platform_results(output, meta_of(args, bench.machine, started, earlier), runs)

        plan = planned_runs(args.repetitions, first)
        runs = run_all(bench.pipeline, plan, earlier_runs, bench.work, written)
        written(runs)
    print(f"==> done in {time.monotonic() - started:.0f} s; results in {output}")
    print((output / "results.md").read_text(), flush=True)
    return output


def render(path: Path) -> int:
    """Write results.md and results.json again from the runs in ``path``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        runs = runs_from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: cannot read runs from {path} ({exc}); give a results.json.", file=sys.stderr)
        return 1
    meta = {key: value for key, value in data.items() if key not in ("runs", "summary", "targets")}
    write_two_platform_results(path.parent, meta, runs)
    print(f"==> wrote {path.parent}/results.md, results.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the two-platform benchmark; a foreseeable failure prints one line and returns 1."""
    args = parse_args(argv)
    if args.render:
        return render(args.render)
    if args.repetitions < 1:
        print("error: --repetitions must be at least 1.", file=sys.stderr)
        return 1
    return run_reporting_failures(run, args, "the two-platform benchmark")


if __name__ == "__main__":
    sys.exit(main())
