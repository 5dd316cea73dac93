"""One benchmark run: purge the runner, then pull, build and push one variant.

The variants:

* ``classic``, ``buildkit``: Stageline with that builder (its invoke tasks
  ``pull-stages``, ``build-stages``, ``push-stages``, run as CI runs them).
* ``baseline``: the single-stage ``benchmarks/baseline/Dockerfile`` that Stageline
  replaced, with ``docker pull``/``build --cache-from IMAGE:latest``/``push``
  (benchmarks/pipelines/latest.sh).
* ``multistage-latest``: GitLab's inline-cache recipe: the project's own multi-stage
  ``Dockerfile`` (target ``production``) built with ``--cache-from IMAGE:latest`` and
  ``BUILDKIT_INLINE_CACHE=1``, pulled and pushed by the engine (latest.sh again).
* ``registry-cache``: GitLab's registry-cache recipe: one ``docker buildx build`` with
  ``--cache-from``/``--cache-to type=registry,ref=IMAGE/cache:buildcache,mode=max`` and
  ``--push`` (benchmarks/pipelines/registry-cache.sh).
* ``per-stage-shell``: the per-stage pipeline a careful team writes by hand: every stage
  pulled, built with ``--target`` and ``--cache-from`` its own and the earlier stages'
  tags, and pushed (benchmarks/pipelines/per-stage.sh).

The hand-written pipelines build as ``docker build`` builds on Docker 23+: with
BuildKit, and (but for the registry-cache recipe) inline cache so that ``--cache-from``
can work at all (the classic builder's ``--cache-from`` fails on the containerd image
store the runner has). The wall time of a run covers pull + build + push; purging the
runner comes before the clock starts. A run that fails while the registry answers a 5xx
runs once more, and says so (benchmarks/retry.py).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from docker.errors import ImageNotFound

from benchmarks.registry import BenchRegistry
from benchmarks.retry import Failure, failure_message, retry_reason
from stageline.builders.buildkit_progress import PlainProgress
from testing.access_log import Traffic
from testing.runners import EmptyRunner
from testing.task_runner import base_environ, ok, run_task

STAGELINE_VARIANTS = ("classic", "buildkit")
HAND_WRITTEN_VARIANTS = ("baseline", "multistage-latest", "registry-cache", "per-stage-shell")
VARIANTS = STAGELINE_VARIANTS + HAND_WRITTEN_VARIANTS
# The runner has the containerd image store, where the classic builder builds without
# cache sources (see stageline/cache.py): measuring it there says nothing about caching,
# so it runs only when asked for (--variants).
DEFAULT_VARIANTS = ("buildkit", *HAND_WRITTEN_VARIANTS)
DEFAULT_BRANCH = "main"
PIPELINES_DIR = Path(__file__).resolve().parent / "pipelines"
# The single-stage build, outside the project it builds (an absolute -f path).
BASELINE_DOCKERFILE = Path(__file__).resolve().parent / "baseline" / "Dockerfile"
# The project's stages in Dockerfile order: the order in which steps are reported.
STAGE_ORDER = ("build-python", "build-node", "assets", "production")
# A line the shell pipelines print before each `docker build`.
BUILD_MARKER = "==> build "
STEPS = ("pull", "build", "push")
# The Stageline variants run ``python -m STAGELINE_MODULE *stageline_args(REPORT)``.
STAGELINE_MODULE = "stageline"
# Where results.md says a final image's size was read, when not from the engine.
SIZE_FROM_REGISTRY = "registry"


def stageline_args(report: Path) -> list[str]:
    """Return the Stageline variants' command line: the one place that says what they run.

    ``stageline build --push``, as the template's CI job runs it: BuildKit builds the
    stages at once and pushes them itself (the classic builder's build is pushed by the
    engine); the JSON report at ``report`` gets the step's seconds.
    """
    return ["build", "--push", "--report", str(report)]


@dataclass(frozen=True)
class ShellPipeline:
    """A hand-written pipeline: its script and what it builds."""

    script: str  # in benchmarks/pipelines/
    dockerfile: str  # in the project, or absolute
    target: str = ""  # empty: the Dockerfile's last stage


SHELL_PIPELINES = {
    "baseline": ShellPipeline("latest.sh", str(BASELINE_DOCKERFILE)),
    "multistage-latest": ShellPipeline("latest.sh", "Dockerfile", "production"),
    "registry-cache": ShellPipeline("registry-cache.sh", "Dockerfile", "production"),
    "per-stage-shell": ShellPipeline("per-stage.sh", "Dockerfile", "production"),
}


@dataclass
class StageSteps:
    """Cacheable steps of one stage, and how many were served from cache.

    ``outcome`` is Stageline's (``reused``, ``cached`` or ``built``); None for the
    hand-written pipelines and for results written before Stageline reused stages.
    """

    name: str
    steps: int
    cached: int
    outcome: str | None = None

    @property
    def fully_cached(self) -> bool:
        """Return whether every cacheable step came from cache (a reused stage has none)."""
        return self.cached == self.steps


@dataclass
class RunResult:
    """What one pull + build + push sequence cost.

    ``pulled_bytes``/``pushed_bytes`` count every blob; the ``*_layer_bytes`` leave out
    image configs and other JSON blobs (None in results written before they existed).
    ``retries``: how often the run (or the branch pipeline before it) ran again after
    failing while the registry answered a 5xx; the reasons are ``extra["retried_after"]``.
    """

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
    pulled_layer_bytes: int | None = None
    pushed_layer_bytes: int | None = None
    retries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready data."""
        data = asdict(self)
        for key in ("seconds", "pull_seconds", "build_seconds", "push_seconds"):
            data[key] = round(data[key], 2)
        return data


@dataclass(frozen=True)
class Job:
    """One pipeline to run: which variant, for which commit of which ref."""

    variant: str
    scenario: str
    repetition: int
    project: Path
    image: str
    sha: str
    ref: str = DEFAULT_BRANCH
    promote: bool = False  # Stageline's promote-merged setting
    platforms: str = ""  # e.g. "linux/amd64,linux/arm64"; empty: the runner's own platform

    @property
    def repository(self) -> str:
        """Return the image's repository in the registry (no host), e.g. ``bench-x/buildkit``."""
        return self.image.split("/", 1)[1]

    @property
    def title(self) -> str:
        """Return what the run is, for messages: repetition, scenario, variant and ref."""
        return f"run {self.repetition} of {self.scenario}, {self.variant} ({self.ref})"


@dataclass
class Timed:
    """The output and seconds of each step, and the registry traffic of all of them.

    The traffic is the whole run's: the registry-cache recipe pushes during its build.
    """

    outputs: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    traffic: Traffic = field(default_factory=Traffic)


def stage_rank(name: str) -> tuple[int, str]:
    """Return the sort key that puts stages in Dockerfile order, unknown ones last."""
    return (STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER), name)


def build_sections(output: str) -> list[tuple[str, list[str]]]:
    """Split a pipeline's build output at each ``==> build NAME`` line: (NAME, lines)."""
    sections: list[tuple[str, list[str]]] = []
    for line in output.splitlines():
        if line.startswith(BUILD_MARKER):
            sections.append((line[len(BUILD_MARKER) :].strip(), []))
        elif sections:
            sections[-1][1].append(line)
    return sections or [("image", output.splitlines())]


def steps_of_build_output(output: str) -> list[StageSteps]:
    """Return each stage's cacheable and cached steps, from BuildKit's plain progress.

    Each ``docker build`` (a section) numbers its steps anew. A stage counts in the first
    section that shows it: a per-stage pipeline's build of ``production`` shows its
    ancestors again, already counted. An unnamed stage takes the section's name.
    """
    counted: dict[str, StageSteps] = {}
    for name, lines in build_sections(output):
        log = PlainProgress(name)
        for line in lines:
            log.read(line)
        for stage in dict.fromkeys(vertex.stage for vertex in log.vertices.values()):
            if stage not in counted:
                tally = log.tally(stage)
                counted[stage] = StageSteps(stage, tally.steps, tally.cached)
    return sorted(counted.values(), key=lambda s: stage_rank(s.name))


def cached_steps_of_buildkit_output(output: str) -> StageSteps:
    """Return the single stage's cacheable steps and cached ones from BuildKit's plain log."""
    return steps_of_build_output(output)[0]


@dataclass
class Pipeline:
    """What every run shares: the runner, the registry and the base images."""

    runner: EmptyRunner
    registry: BenchRegistry
    base_images: dict[str, str]
    log_dir: Path
    # The engine's size of each final image built so far, by content key: a reused
    # image is not on the runner, but it is one that an earlier run built.
    sizes: dict[str, int] = field(default_factory=dict)

    def run_scenario(self, job: Job, branch: str | None = None) -> RunResult:
        """Run ``job``; with ``branch``, that branch's pipeline first, untimed."""
        setup = None
        if branch is not None:
            setup = self.run(replace(job, ref=branch, sha=f"{job.sha}b"))
        result = self.run(job)
        if setup is not None:
            result.extra["branch"] = {
                "ref": branch,
                "seconds": round(setup.seconds, 2),
                "pushed_bytes": setup.pushed_bytes,
            }
            result.retries += setup.retries
            reasons = setup.extra.get("retried_after", [])
            if reasons:
                result.extra["retried_after"] = [
                    *(f"{branch}: {reason}" for reason in reasons),
                    *result.extra.get("retried_after", []),
                ]
        return result

    def run(self, job: Job) -> RunResult:
        """Run ``job`` from an emptied runner; once more if it failed on a registry 5xx.

        Before the second attempt the job's repositories are put back as they were
        before the first (retry.py). Any other failure, or a second one, is raised.
        """
        failures: list[Failure] = []
        reasons: list[str] = []
        self.registry.snapshot(job.repository)
        while True:
            try:
                result = self._attempt(job)
            except Exception as exc:  # re-raised below unless the registry failed
                failures.append(Failure(str(exc), tuple(self.registry.errors())))
                self._log_failure(job, len(failures), str(exc))
                reason = retry_reason(failures)
                if reason is None and len(failures) == 1:
                    raise
                if reason is None:
                    raise RuntimeError(failure_message(job.title, failures)) from exc
                print(f"    {job.title} failed: {reason}; running it again", flush=True)
                reasons.append(reason)
                self.registry.restore(job.repository)
                continue
            result.retries = len(reasons)
            if reasons:
                result.extra["retried_after"] = reasons
            return result

    def _attempt(self, job: Job) -> RunResult:
        """Purge the runner, then pull, build and push ``job``; return what it cost."""
        self.runner.purge()
        self.registry.mark()
        if job.variant in SHELL_PIPELINES:
            return self._shell(job, SHELL_PIPELINES[job.variant])
        return self._stageline(job)

    def _timed(self, job: Job, step: Callable[[str], str]) -> Timed:
        """Run pull, build and push through ``step``, timing each; log and read traffic."""
        timed = Timed()
        for name in STEPS:
            started = time.monotonic()
            timed.outputs[name] = step(name)
            timed.seconds[name] = time.monotonic() - started
        timed.traffic = self.registry.traffic()
        self._log(job, timed)
        return timed

    def _log(self, job: Job, timed: Timed) -> None:
        """Keep each step's output in the log folder."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name, text in timed.outputs.items():
            log = f"r{job.repetition}-{job.scenario}-{job.variant}-{job.ref}-{name}.log"
            (self.log_dir / log).write_text(text, encoding="utf-8")

    def _log_failure(self, job: Job, attempt: int, error: str) -> None:
        """Keep the error of a failed attempt in the log folder."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = f"r{job.repetition}-{job.scenario}-{job.variant}-{job.ref}-failed-{attempt}.log"
        (self.log_dir / log).write_text(error, encoding="utf-8")

    def _layer_bytes(self, blobs: Iterable[tuple[str, str, int]]) -> tuple[int, int]:
        """Return (count, bytes) of the blobs that are layers, not JSON documents."""
        layers = [
            size for repo, digest, size in blobs if self.registry.is_layer(repo, digest, size)
        ]
        return len(layers), sum(layers)

    def _result(
        self, job: Job, timed: Timed, stages: list[StageSteps], image_bytes: int
    ) -> RunResult:
        uploads = {
            (repo, digest): self.registry.blob_size(repo, digest)
            for repo, digest in timed.traffic.uploads
        }
        layers, pushed_layer_bytes = self._layer_bytes((r, d, s) for (r, d), s in uploads.items())
        _, pulled_layer_bytes = self._layer_bytes(timed.traffic.downloads)
        return RunResult(
            variant=job.variant,
            scenario=job.scenario,
            repetition=job.repetition,
            seconds=sum(timed.seconds.values()),
            pull_seconds=timed.seconds["pull"],
            build_seconds=timed.seconds["build"],
            push_seconds=timed.seconds["push"],
            stages=stages,
            pulled_bytes=timed.traffic.pulled_bytes,
            pushed_bytes=sum(uploads.values()),
            pushed_blobs=len(uploads),
            layers_pushed=layers,
            image_bytes=image_bytes,
            pulled_layer_bytes=pulled_layer_bytes,
            pushed_layer_bytes=pushed_layer_bytes,
        )

    def _stageline(self, job: Job) -> RunResult:
        env = {
            "DOCKER_HOST": self.runner.docker_host,
            "STAGELINE_BUILD_NETWORK": "host",
            "CI_REGISTRY_IMAGE": job.image,
            "CI_COMMIT_REF_SLUG": job.ref,
            "CI_DEFAULT_BRANCH": DEFAULT_BRANCH,
            "CI_COMMIT_SHORT_SHA": job.sha,
            "STAGELINE_BUILDER": job.variant,
            # The image every variant builds; the template's targets also name development.
            "STAGELINE_TARGET": "production",
            **({"STAGELINE_PROMOTE_MERGED": "true"} if job.promote else {}),
            **({"STAGELINE_PLATFORMS": job.platforms} if job.platforms else {}),
            **self.base_images,
        }
        report_path = job.project / "reports" / f"bench-{job.variant}.json"
        report_path.unlink(missing_ok=True)
        command = stageline_args(report_path)
        started = time.monotonic()
        output = ok(run_task(job.project, *command, env=env, module=STAGELINE_MODULE)).output
        seconds = time.monotonic() - started
        timed = Timed(outputs={"pipeline": output}, traffic=self.registry.traffic())
        self._log(job, timed)
        report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
        timed.seconds = step_seconds(report.get("step_seconds", {}), seconds)
        stages = [
            StageSteps(s["name"], s["steps"], s["cached_steps"], s.get("outcome"))
            for s in report["stages"]
        ]
        result = self._result(job, timed, stages, self._final_size(report["stages"][-1]))
        result.extra["task_build_seconds"] = report["total_seconds"]
        result.extra["reused_from"] = {
            s["name"]: s["reused_from"] for s in report["stages"] if s.get("reused_from")
        }
        return result

    def _final_size(self, stage: dict[str, Any]) -> int:
        """Return the engine's size of the final image, also when it was reused."""
        key, size = stage.get("key"), int(stage["size_bytes"])
        if stage.get("outcome") == "reused":
            return self.sizes.get(str(key), size)  # else: compressed, from the manifest
        if key:
            self.sizes[str(key)] = size
        return size

    def _shell(self, job: Job, pipeline: ShellPipeline) -> RunResult:
        env = {
            **base_environ(),
            "DOCKER_HOST": self.runner.docker_host,
            "DOCKER_BUILDKIT": "1",
            "IMAGE": job.image,
            "REF": job.ref,
            "DEFAULT_BRANCH": DEFAULT_BRANCH,
            "SHA": job.sha,
            "CONTEXT": str(job.project),
            "DOCKERFILE": str(job.project / pipeline.dockerfile),
            "TARGET": pipeline.target,
            "PLATFORMS": job.platforms,
            **self.base_images,
        }
        script = PIPELINES_DIR / pipeline.script
        timed = self._timed(job, lambda step: run_script(script, step, env, job.project))
        size, source = self._image_size(job)
        result = self._result(job, timed, steps_of_build_output(timed.outputs["build"]), size)
        if source != "engine":
            result.extra["image_size_from"] = source
        return result

    def _image_size(self, job: Job) -> tuple[int, str]:
        """Return the size of the run's final image ``IMAGE:SHA``, and where it was read.

        The engine's size if the image is there. A build that pushed it itself
        (``--push``) may leave none in the engine: then the compressed size of its
        layers, from its manifest in the registry (SIZE_FROM_REGISTRY).
        """
        try:
            image = self.runner.client().api.inspect_image(f"{job.image}:{job.sha}")
        except ImageNotFound:
            return self.registry.layer_bytes(job.repository, job.sha), SIZE_FROM_REGISTRY
        return int(image["Size"]), "engine"


def step_seconds(noted: dict[str, float], wall: float) -> dict[str, float]:
    """Split a chained run's wall time into its steps, as the tasks noted them.

    What no task measured (starting Python, importing the tasks) counts to the pull,
    the first step, so that the steps add up to the wall time.
    """
    seconds = {name: float(noted.get(name, 0.0)) for name in STEPS}
    seconds["pull"] += max(0.0, wall - sum(seconds.values()))
    return seconds


def run_script(script: Path, step: str, env: dict[str, str], cwd: Path) -> str:
    """Run ``bash SCRIPT STEP``; return its output (stdout and stderr, interleaved)."""
    result = subprocess.run(
        ["bash", str(script), step],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{script.name} {step} failed ({result.returncode}):\n{result.stdout[-4000:]}"
        )
    return result.stdout


def stage_names(runs: Sequence[RunResult]) -> list[str]:
    """Return every stage name the runs report, in Dockerfile order."""
    names = {stage.name for run in runs for stage in run.stages}
    return sorted(names, key=stage_rank)
