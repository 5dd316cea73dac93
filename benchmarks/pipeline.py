"""One benchmark run: purge the runner, then pull, build and push one variant.

A variant is Stageline with one builder (its invoke tasks, run as CI runs them) or
the baseline (the single-stage Dockerfile with ``docker pull``/``build --cache-from``/
``push``, built as ``docker build`` builds on Docker 23+: with BuildKit, and inline
cache so that ``--cache-from IMAGE:latest`` can work at all; the classic builder's
``--cache-from`` fails on the containerd image store the runner has). The wall time of
a run covers pull + build + push; purging the runner comes before the clock starts.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.registry import BenchRegistry, Traffic
from stageline.builders.buildkit import BuildkitLog
from tests.pipeline.conftest import base_environ, ok, run_task
from tests.pipeline.services import EmptyRunner

VARIANTS = ("classic", "buildkit", "baseline")
# The runner has the containerd image store, where the classic builder builds without
# cache sources (see stageline/cache.py): measuring it there says nothing about caching.
DEFAULT_VARIANTS = ("buildkit", "baseline")
BASELINE_DOCKERFILE = "benchmarks/baseline/Dockerfile"


@dataclass
class StageSteps:
    """Cacheable steps of one stage, and how many were served from cache."""

    name: str
    steps: int
    cached: int

    @property
    def fully_cached(self) -> bool:
        """Return whether every cacheable step came from cache."""
        return self.cached == self.steps


@dataclass
class RunResult:
    """What one pull + build + push sequence cost."""

    variant: str
    scenario: str
    repetition: int
    seconds: float
    pull_seconds: float
    build_seconds: float
    push_seconds: float
    stages: list[StageSteps]
    pulled_bytes: int
    pushed_bytes: int
    pushed_blobs: int
    layers_pushed: int
    image_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready data."""
        data = asdict(self)
        for key in ("seconds", "pull_seconds", "build_seconds", "push_seconds"):
            data[key] = round(data[key], 2)
        return data


def cached_steps_of_buildkit_output(output: str) -> StageSteps:
    """Return the single stage's cacheable steps and cached ones from BuildKit's plain log."""
    log = BuildkitLog("image")
    for line in output.splitlines():
        log.read(line)
    steps, cached = log.tally("image")
    return StageSteps("image", steps, cached)


@dataclass
class Pipeline:
    """What every run shares: the runner, the registry and the base images."""

    runner: EmptyRunner
    registry: BenchRegistry
    base_images: dict[str, str]
    log_dir: Path

    def run(
        self, variant: str, scenario: str, repetition: int, project: Path, image: str, sha: str
    ) -> RunResult:
        """Purge the runner, then pull, build and push ``variant``; return what it cost."""
        self.runner.purge()
        self.registry.mark()
        if variant == "baseline":
            result = self._baseline(scenario, repetition, project, image, sha)
        else:
            result = self._stageline(variant, scenario, repetition, project, image, sha)
        return result

    def _log(self, variant: str, scenario: str, repetition: int, name: str, text: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.log_dir / f"r{repetition}-{scenario}-{variant}-{name}.log"
        path.write_text(text, encoding="utf-8")

    def _pushed(self, traffic: Traffic, repository: str, tags: list[str]) -> tuple[int, int, int]:
        """Return (bytes, blobs, layers) uploaded: layers are blobs that are not configs."""
        configs = {self.registry.config_digest(repository, tag) for tag in tags}
        sizes = {digest: self.registry.blob_size(repo, digest) for repo, digest in traffic.uploads}
        layers = sum(1 for digest in sizes if digest not in configs)
        return sum(sizes.values()), len(sizes), layers

    def _stageline(
        self, builder: str, scenario: str, repetition: int, project: Path, image: str, sha: str
    ) -> RunResult:
        env = {
            "DOCKER_HOST": self.runner.docker_host,
            "STAGELINE_BUILD_NETWORK": "host",
            "CI_REGISTRY_IMAGE": image,
            "CI_COMMIT_REF_SLUG": "main",
            "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_SHORT_SHA": sha,
            "STAGELINE_BUILDER": builder,
            **self.base_images,
        }
        report_path = project / "reports" / f"bench-{builder}.json"
        started = time.monotonic()
        pull = ok(run_task(project, "pull-stages", env=env))
        pulled_at = time.monotonic()
        build = ok(run_task(project, "build-stages", "--report", str(report_path), env=env))
        built_at = time.monotonic()
        pulled = self.registry.traffic()
        push = ok(run_task(project, "push-stages", env=env))
        finished = time.monotonic()
        pushed = self.registry.traffic()
        for name, task in (("pull", pull), ("build", build), ("push", push)):
            self._log(builder, scenario, repetition, name, task.output)
        report = build.report(report_path)
        repository = image.split("/", 1)[1]
        tags = [tag.rsplit(":", 1)[1] for stage in report["stages"] for tag in stage["tags"]]
        pushed_bytes, pushed_blobs, layers = self._pushed(pushed, repository, tags)
        return RunResult(
            variant=builder,
            scenario=scenario,
            repetition=repetition,
            seconds=finished - started,
            pull_seconds=pulled_at - started,
            build_seconds=built_at - pulled_at,
            push_seconds=finished - built_at,
            stages=[
                StageSteps(stage["name"], stage["steps"], stage["cached_steps"])
                for stage in report["stages"]
            ],
            pulled_bytes=pulled.pulled_bytes,
            pushed_bytes=pushed_bytes,
            pushed_blobs=pushed_blobs,
            layers_pushed=layers,
            image_bytes=int(report["stages"][-1]["size_bytes"]),
            extra={"task_build_seconds": report["total_seconds"]},
        )

    def _docker(
        self, *args: str, check: bool = True, buildkit: bool = False
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **base_environ(),
            "DOCKER_HOST": self.runner.docker_host,
            "DOCKER_BUILDKIT": "1" if buildkit else "0",
        }
        result = subprocess.run(
            ["docker", *args], env=env, capture_output=True, text=True, timeout=1800, check=False
        )
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr)[-4000:]
            raise RuntimeError(f"docker {args[0]} failed ({result.returncode}):\n{output}")
        return result

    def _baseline(
        self, scenario: str, repetition: int, project: Path, image: str, sha: str
    ) -> RunResult:
        started = time.monotonic()
        # As the seed's pipeline: `docker pull IMAGE:latest || true`.
        pull = self._docker("pull", f"{image}:latest", check=False)
        pulled_at = time.monotonic()
        build = self._docker(
            "build",
            "--progress",
            "plain",
            "--network",
            "host",
            "--cache-from",
            f"{image}:latest",
            "--build-arg",
            "BUILDKIT_INLINE_CACHE=1",
            "--build-arg",
            f"PYTHON_IMAGE={self.base_images['PYTHON_IMAGE']}",
            "--file",
            str(project / BASELINE_DOCKERFILE),
            "--tag",
            f"{image}:latest",
            "--tag",
            f"{image}:{sha}",
            str(project),
            buildkit=True,
        )
        built_at = time.monotonic()
        pulled = self.registry.traffic()
        push_sha = self._docker("push", f"{image}:{sha}")
        push_latest = self._docker("push", f"{image}:latest")
        finished = time.monotonic()
        pushed = self.registry.traffic()
        self._log("baseline", scenario, repetition, "pull", pull.stdout + pull.stderr)
        self._log("baseline", scenario, repetition, "build", build.stdout + build.stderr)
        self._log("baseline", scenario, repetition, "push", push_sha.stdout + push_latest.stdout)
        repository = image.split("/", 1)[1]
        pushed_bytes, pushed_blobs, layers = self._pushed(pushed, repository, ["latest", sha])
        size = int(self.runner.client().api.inspect_image(f"{image}:latest")["Size"])
        return RunResult(
            variant="baseline",
            scenario=scenario,
            repetition=repetition,
            seconds=finished - started,
            pull_seconds=pulled_at - started,
            build_seconds=built_at - pulled_at,
            push_seconds=finished - built_at,
            stages=[cached_steps_of_buildkit_output(build.stdout + build.stderr)],
            pulled_bytes=pulled.pulled_bytes,
            pushed_bytes=pushed_bytes,
            pushed_blobs=pushed_blobs,
            layers_pushed=layers,
            image_bytes=size,
        )
