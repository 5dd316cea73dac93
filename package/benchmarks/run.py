"""Run the benchmark: `python -m benchmarks [--short]` (what `nox -s bench` calls).

For each repetition: a fresh copy of the project and fresh repositories; then for each
scenario in order that some variant runs, its change, then one run per variant
(interleaved, so a busy moment on the machine hits every variant alike). A merge
scenario runs a branch's pipeline first, untimed; the last scenario times a branch's
own first pipeline (see benchmarks/scenarios.py).
Writes results.md, results.json, chart.png.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.pipeline import DEFAULT_BRANCH, DEFAULT_VARIANTS, VARIANTS, Job, Pipeline, RunResult
from benchmarks.registry import BenchRegistry
from benchmarks.results import cold_reference, runs_from_json, write_results
from benchmarks.scenarios import SCENARIO_NAMES, SCENARIOS
from testing.checks import free_port
from testing.daemons import engine_available, is_root
from testing.projects import copy_project
from testing.runners import EmptyRunner

# This package's folder: the results (benchmarks/results/) and reports (reports/) live here.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]

# Short mode (CI's proof that the benchmark still works, one repetition): the cold and
# no-change runs of the baseline and of Stageline with BuildKit, and Stageline's merge with
# promotion on. That drives both kinds of pipeline (the other hand-written ones run the
# same scripts), a branch pipeline before a timed one, reuse by content key, the byte
# counting and every result file; the classic builder runs the same Stageline tasks with
# another STAGELINE_BUILDER. It took 5 min 58 s and 6 min 12 s on 2 cores (Docker 26)
# with other test suites running alongside, most of it the two cold builds; the merge
# adds about 40 s. GitLab's registry-cache recipe runs its cold and no-change too: the
# only pipeline that pushes from BuildKit and exports a registry cache, which nothing else
# here exercises. It added 57 s (39.9 s cold, 17.5 s no change) with two other suites
# running, 87 s with four (load average 5; the whole short run then took 8 min 29 s).
SHORT_VARIANTS = {
    "buildkit": ["cold", "no-change", "merge-promoted"],
    "baseline": ["cold", "no-change"],
    "registry-cache": ["cold", "no-change"],
}


# What results.json keeps about the run besides the runs, summary and targets.
META_KEYS = (
    "command",
    "date",
    "mode",
    "repetitions",
    "machine",
    "plan",
    "wall_seconds",
    "previous_cold",
)


class BenchError(Exception):
    """A foreseeable reason the benchmark cannot run; the message says what to do."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--short",
        action="store_true",
        help="one repetition of a subset (CI's check that it still works); "
        "writes to reports/bench/ unless --output is given",
    )
    parser.add_argument(
        "--repetitions", type=int, default=None, help="runs per scenario (default 3; short: 1)"
    )
    parser.add_argument("--output", type=Path, default=None, help="folder for the results")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="loopback port of the benchmark's own registry (default: a free one)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: write the results again from a results.json (into its folder)",
    )
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIO_NAMES),
        help="comma-separated subset of the scenarios to run, in their fixed order; one "
        "left out makes no change either (default: all)",
    )
    return parser.parse_args(argv)


def check_environment(variants: list[str]) -> dict[str, str]:
    """Return the base images; raise BenchError naming what is missing and how to get it."""
    images = {name: os.environ.get(name, "") for name in ("PYTHON_IMAGE", "NODE_IMAGE")}
    if not all(images.values()):
        raise BenchError(
            "PYTHON_IMAGE and NODE_IMAGE are not set: run `.ci/start-services && "
            ".ci/build-base-images && source .ci/env` first."
        )
    for name, image in images.items():
        host = image.split("/", 1)[0]
        if not (host.startswith("localhost:") or host.startswith("127.")):
            raise BenchError(
                f"{name}={image} is not in a loopback registry; the benchmark copies the base "
                "images from one (`source .ci/env` sets them)."
            )
    if not is_root() or shutil.which("dockerd") is None:
        raise BenchError(
            "the empty-cache runner needs root and dockerd (apt-get install docker.io)."
        )
    if shutil.which("docker") is None:
        raise BenchError("the docker CLI is not on PATH (apt-get install docker.io).")
    if not (shutil.which("docker-registry") or shutil.which("registry")):
        raise BenchError("docker-registry is not installed (apt-get install docker-registry).")
    if set(variants) - {"classic"}:  # every other variant builds with BuildKit
        result = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False)
        if result.returncode != 0:
            raise BenchError(
                "docker buildx is missing: run .ci/install-packages, or --variants classic."
            )
    return images


def machine_info(runner: EmptyRunner) -> dict[str, str]:
    """Return what the machine is: OS, CPU, cores, memory, Docker Engine version."""
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown memory"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 2**20:.0f} GiB RAM"
    version = str(runner.client().version().get("Version", "unknown"))
    return {
        "os": os_name,
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "docker": version,
    }


def names(text: str, known: tuple[str, ...], what: str) -> list[str]:
    """Return the comma-separated names in ``text``; raise BenchError on an unknown one."""
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise BenchError(f"unknown {what}(s) {', '.join(unknown)}; use {', '.join(known)}.")
    return chosen


def plan_runs(short: bool, variants: list[str], scenarios: list[str]) -> dict[str, list[str]]:
    """Return, per variant, the scenarios to run (in scenario order)."""
    wanted = SHORT_VARIANTS if short else {v: list(SCENARIO_NAMES) for v in VARIANTS}
    plan = {
        variant: [s for s in SCENARIO_NAMES if s in wanted.get(variant, []) and s in scenarios]
        for variant in variants
    }
    return {variant: chosen for variant, chosen in plan.items() if chosen}


def progress_line(result: RunResult) -> str:
    """Return the line printed after a run: seconds, steps per stage, bytes."""
    stages = ", ".join(
        f"{s.name} reused" if s.outcome == "reused" else f"{s.name} {s.cached}/{s.steps}"
        for s in result.stages
    )
    retried = f"; retried {result.retries}x" if result.retries else ""
    return (
        f"    {result.seconds:.1f} s (pull {result.pull_seconds:.1f}, build "
        f"{result.build_seconds:.1f}, push {result.push_seconds:.1f}); {stages}; pulled "
        f"{result.pulled_bytes / 1e6:.1f} MB ({(result.pulled_layer_bytes or 0) / 1e6:.1f} MB "
        f"of layers), pushed {result.pushed_bytes / 1e6:.1f} MB ({result.layers_pushed} "
        f"layers){retried}"
    )


def rotated(variants: list[str], repetition: int) -> list[str]:
    """Return ``variants`` rotated by the repetition, so that none always runs first.

    The first run of a scenario finds the machine's caches (page cache, the runner's
    BuildKit) in whatever state the previous scenario left them; rotating spreads that
    over the variants instead of always charging one.
    """
    if not variants:
        return variants
    shift = (repetition - 1) % len(variants)
    return variants[shift:] + variants[:shift]


def warm_up(runner: EmptyRunner, images: dict[str, str]) -> None:
    """Pull the base images once and purge them, before any timed run.

    A freshly started runner and registry charge their first pull (containerd's
    snapshotter, the registry's files on disk) to whichever run comes first.
    """
    client = runner.client()
    for image in images.values():
        client.images.pull(image)
    runner.purge()


def run_repetitions(
    pipeline: Pipeline, plan: dict[str, list[str]], repetitions: int, work: Path, run_id: str
) -> list[RunResult]:
    """Run each planned scenario of each variant, repetition after repetition."""
    runs: list[RunResult] = []
    for repetition in range(1, repetitions + 1):
        project = copy_project(work / f"project-{repetition}")
        for index, scenario in enumerate(SCENARIOS):
            variants = rotated(
                [v for v, chosen in plan.items() if scenario.name in chosen], repetition
            )
            if variants:  # a scenario no variant runs changes nothing either
                scenario.change(project, repetition)
            for variant in variants:
                print(f"==> run {repetition}/{repetitions}: {scenario.name}, {variant}")
                job = Job(
                    variant=variant,
                    scenario=scenario.name,
                    repetition=repetition,
                    project=project,
                    image=f"{pipeline.registry.address}/bench-{run_id}-r{repetition}/{variant}",
                    sha=f"r{repetition}s{index}",
                    ref=scenario.ref or DEFAULT_BRANCH,
                    promote=scenario.promote,
                )
                result = pipeline.run_scenario(job, scenario.branch)
                runs.append(result)
                print(progress_line(result), flush=True)
    return runs


def make_meta(
    args: argparse.Namespace, machine: dict[str, str], plan: dict[str, list[str]], started: float
) -> dict[str, Any]:
    """Return what results.json keeps about the run besides the runs."""
    return {
        "command": "nox -s bench -- --short" if args.short else "nox -s bench",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "short" if args.short else "full",
        "repetitions": args.repetitions or (1 if args.short else 3),
        "machine": machine,
        "plan": plan,
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def prepare(args: argparse.Namespace) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Return the plan and the base images; raise BenchError if the run cannot start."""
    variants = names(args.variants, VARIANTS, "variant")
    plan = plan_runs(args.short, variants, names(args.scenarios, SCENARIO_NAMES, "scenario"))
    if not plan:
        raise BenchError("nothing to run: no chosen variant has a chosen scenario.")
    base_images = check_environment(list(plan))
    reason = engine_available(os.environ.get("DOCKER_HOST"))
    if reason:
        raise BenchError(f"no Docker engine answers ({reason}): start one (.ci/start-services).")
    return plan, base_images


@dataclass
class BenchSession:
    """One benchmark run: its id, pipeline (registry and emptied runner), machine, folder."""

    run_id: str
    pipeline: Pipeline
    machine: dict[str, str]
    work: Path


@contextmanager
def bench_session(
    name: str, port: int, base_images: dict[str, str], logs_to: Callable[[str], Path]
) -> Iterator[BenchSession]:
    """Start a registry with the base images and an empty runner under /tmp; stop them
    after. The logs move to ``logs_to(run_id)`` when the run succeeded, else stay in /tmp.
    """
    run_id = uuid.uuid4().hex[:8]
    work = Path("/tmp") / f"stageline-{name}-{run_id}"
    registry = BenchRegistry(work / "registry", port or free_port())
    runner = EmptyRunner(work / "runner")  # on a bridge of its own, deleted by stop()
    print(f"==> {name} {run_id}: work folder {work}", flush=True)
    failed = True
    try:
        registry.start()
        mirrored = {
            image_name: registry.copy_image(image, f"mirror/{image_name.lower()}", "bench")
            for image_name, image in base_images.items()
        }
        runner.start()
        warm_up(runner, mirrored)
        pipeline = Pipeline(runner, registry, mirrored, work / "logs")
        yield BenchSession(run_id, pipeline, machine_info(runner), work)
        failed = False
    finally:
        runner.stop()
        registry.stop()
        if failed:
            print(f"==> logs kept in {work}/logs", file=sys.stderr)
            shutil.rmtree(work / "runner", ignore_errors=True)
        else:
            keep_logs(work / "logs", logs_to(run_id))
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace) -> Path:
    """Run every repetition and write the results; return the output folder."""
    plan, base_images = prepare(args)
    output = args.output or PACKAGE_ROOT / ("reports/bench" if args.short else "benchmarks/results")
    started = time.monotonic()
    with bench_session("bench", args.port, base_images, lambda _: output / "logs") as bench:
        repetitions = args.repetitions or (1 if args.short else 3)
        runs = run_repetitions(bench.pipeline, plan, repetitions, bench.work, bench.run_id)
        meta = make_meta(args, bench.machine, plan, started)
        previous = cold_reference(output / "results.json", bench.machine)  # before overwritten
        if previous is not None:
            meta["previous_cold"] = previous
        write_results(output, meta, runs)
    print(f"==> done in {time.monotonic() - started:.0f} s; results in {output}", flush=True)
    print((output / "results.md").read_text(), flush=True)
    return output


def keep_logs(logs: Path, destination: Path) -> None:
    """Move each run's task output next to the results (git ignores it)."""
    if logs.is_dir():
        shutil.rmtree(destination, ignore_errors=True)
        shutil.move(logs, destination)


def render(path: Path) -> int:
    """Write results.md, results.json and chart.png again from the runs in ``path``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        runs = runs_from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: cannot read runs from {path} ({exc}); give a results.json.", file=sys.stderr)
        return 1
    meta = {key: data[key] for key in META_KEYS if key in data}
    write_results(path.parent, meta, runs)
    print(f"==> wrote {path.parent}/results.md, results.json, chart.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; a foreseeable failure prints one line and returns 1."""
    args = parse_args(argv)
    if args.render:
        return render(args.render)
    return run_reporting_failures(run, args, "the benchmark")


def run_reporting_failures(
    run_all: Callable[[argparse.Namespace], object], args: argparse.Namespace, what: str
) -> int:
    """Run ``run_all(args)`` with progress lines unbuffered; return 0, or 1 after one line
    saying why ``what`` failed.
    """
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines show up in CI logs
    try:
        run_all(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (AssertionError, RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"error: {what} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
