"""Whole-pipeline wall time through gitlab-ci-local: the pipeline before issue 24 and now.

    python -m benchmarks.pipeline_times [--repetitions N] [--old-rev REV]

"Before" is the template at ``--old-rev`` (default: the last commit before the pipeline
built once and tested its own image): its .gitlab-ci.yml, .gitlab-ci-local.yml,
noxfile.py, pyproject.toml and its stageline. Its test jobs start from the bare Python and
Node images and install everything; its build runs last. "Now" is this checkout. Both run
side by side in one run, on one engine, through the same gitlab-ci-local command (every
job in its image, one job at a time), each pushing to its own repository of the loopback
registry, in these scenarios, each after a pipeline of the same tree:

- ``no change``: a new commit that changes nothing;
- ``one python file``: a comment added to core/views.py;
- ``one failing test``: a test that fails on purpose (then reverted, unmeasured).

The order of the two pipelines alternates per repetition. Results go to
benchmarks/results/pipeline-times.json and .md. Needs what `nox -s gitlab` needs
(.ci/start-services, .ci/build-base-images, `source .ci/env`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from testing.gitlab_ci_local import mirror_arguments
from testing.projects import copy_project, cut_template_only_sessions, git_commit_all
from testing.registries import manifest_digest, registry_tags
from testing.task_runner import base_environ
from testing.wheelhouse import find_links_variables

OLD_REV = "449041c"
OLD_FILES = (".gitlab-ci.yml", ".gitlab-ci-local.yml", "noxfile.py", "pyproject.toml")
# The old jobs pin image tags the loopback mirror does not have; it has these stand-ins.
OLD_IMAGE_TAGS = {"python:3.13.7-slim-trixie": "python:3.13", "node:24.11.1-trixie-slim": "node:20"}
SCENARIOS = ("no change", "one python file", "one failing test")
PIPELINES = ("before", "now")
RESULTS = Path(__file__).resolve().parent / "results"
FAILING_TEST = "\n\ndef test_broken_on_purpose() -> None:\n    assert 1 + 1 == 3\n"


@dataclass
class PipelineTime:
    """One measured pipeline: which, in which scenario, how long, and what it left."""

    pipeline: str
    scenario: str
    repetition: int
    seconds: float
    passed: bool
    jobs_passed: list[str]
    latest_moved: bool
    stage_path_seconds: float = 0.0  # with a runner per job: each stage's slowest job, summed


def old_pipeline_text(text: str) -> str:
    """Return the old .gitlab-ci.yml with its pinned job images replaced by the mirror's."""
    for pinned, mirrored in OLD_IMAGE_TAGS.items():
        text = text.replace(pinned, mirrored)
    return text


def passed_jobs(output: str) -> list[str]:
    """Return the jobs gitlab-ci-local's summary reports as passed."""
    return re.findall(r"^ PASS  (\S+)", output, re.M)


def stage_path_seconds(output: str) -> float:
    """Return the pipeline's time had every job of a stage run at once on its own runner.

    gitlab-ci-local runs the jobs one at a time here; its log names each job's stage
    (``JOB starting IMAGE (STAGE)``) and time (``JOB finished in 5.2 s``). The stages run
    in the order they first start; each takes as long as its slowest job.
    """
    stages = dict(re.findall(r"^(\S+) +starting .* \((\S+)\)$", output, re.M))
    units = {"ms": 0.001, "s": 1.0, "min": 60.0}
    slowest: dict[str, float] = {}
    for job, amount, unit in re.findall(r"^(\S+) +finished in ([\d.]+) (ms|s|min)$", output, re.M):
        if job in stages:
            stage = stages[job]
            slowest[stage] = max(slowest.get(stage, 0.0), float(amount) * units[unit])
    return sum(slowest.values())


def git(project: Path, *args: str) -> str:
    """Run git in ``project`` as the test identity; return its output."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@invalid"}
    env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@invalid"}
    done = subprocess.run(
        ["git", *args], cwd=project, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def change(project: Path, scenario: str) -> None:
    """Make the scenario's change in ``project`` and commit it (no change: an empty commit)."""
    if scenario == "one python file":
        with (project / "core" / "views.py").open("a") as handle:
            handle.write(f"\n\n# {uuid.uuid4().hex}\n")  # two blank lines: ruff format
    elif scenario == "one failing test":
        with (project / "tests" / "web" / "test_healthz.py").open("a") as handle:
            handle.write(FAILING_TEST)
    git(project, "add", "-A")
    git(project, "commit", "-q", "--allow-empty", "-m", scenario)


def revert_failing_test(project: Path) -> None:
    """Take the failing test out again, in a new commit."""
    path = project / "tests" / "web" / "test_healthz.py"
    path.write_text(path.read_text().replace(FAILING_TEST, ""))
    git(project, "commit", "-q", "-am", "revert the failing test")


def old_wheelhouse(root: Path, rev: str) -> Path:
    """Build the stageline wheel of ``rev`` into ``root``/wheels; return the folder."""
    source = root / "old-package"
    source.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", rev, "package"], cwd=repository_root(), capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    return build_wheel(source / "package", root / "old-wheels")


def build_wheel(package: Path, folder: Path) -> Path:
    """Build the wheel of ``package`` into ``folder``; return ``folder``."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(package), "-w"]
    subprocess.run([*command, str(folder)], check=True)
    return folder


def repository_root() -> Path:
    """Return this repository's root (the template's)."""
    return Path(__file__).resolve().parents[2]


def old_project(root: Path, rev: str) -> Path:
    """Return a committed copy of the template with the pipeline files of ``rev``."""
    project = copy_project(root / "before")
    for name in OLD_FILES:
        text = git(repository_root(), "show", f"{rev}:{name}")
        (project / name).write_text(old_pipeline_text(text) if name == ".gitlab-ci.yml" else text)
    cut_template_only_sessions(project)
    git_commit_all(project)
    return project


def new_project(root: Path) -> Path:
    """Return a committed copy of this checkout's template."""
    project = copy_project(root / "now")
    cut_template_only_sessions(project)
    git_commit_all(project)
    return project


def gitlab_ci_local(project: Path, image: str, wheels: Path) -> tuple[bool, str]:
    """Run the whole pipeline in ``project`` as `nox -s ci_local` does; return (ok, output)."""
    registry = image.split("/", 1)[0]
    environ = {**base_environ(), **find_links_variables(wheels)}
    extra_env, mirror = mirror_arguments(environ)
    variables = {
        "CI_REGISTRY_IMAGE": image,
        "CI_REGISTRY": registry,
        "DATABASE_URL": os.environ.get("TEST_DATABASE_URL", ""),
        # The old test jobs install with uv, which trusts only its own CA list unless told:
        # the machine's intercepting proxy is in the system bundle the images carry.
        "UV_NATIVE_TLS": "true",
        **{name: os.environ[name] for name in ("PYTHON_IMAGE", "NODE_IMAGE") if name in os.environ},
        **find_links_variables(wheels),
    }
    socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    command = ["gitlab-ci-local", "--file", ".gitlab-ci-local.yml", "--no-color"]
    command += ["--network", "host", "--volume", f"{socket}:/var/run/docker.sock"]
    command += ["--concurrency", "1", "--state-dir", ".nox/gitlab-ci-local", *mirror]
    command += [arg for key, value in variables.items() for arg in ("--variable", f"{key}={value}")]
    done = subprocess.run(
        command, cwd=project, env={**environ, **extra_env}, capture_output=True, text=True
    )
    return done.returncode == 0, done.stdout + done.stderr


def latest_digest(image: str) -> str:
    """Return the digest ``image:latest`` names, or "" when there is none."""
    registry, repository = image.split("/", 1)
    if "latest" not in registry_tags(registry, repository):
        return ""
    return manifest_digest(registry, repository, "latest") or ""


@dataclass
class Subject:
    """One pipeline under test: its project copy, repository and wheelhouse."""

    name: str
    project: Path
    image: str
    wheels: Path

    def run(self, scenario: str, repetition: int) -> PipelineTime:
        """Run the pipeline once and return its time and what it left."""
        before = latest_digest(self.image)
        started = time.monotonic()
        ok, output = gitlab_ci_local(self.project, self.image, self.wheels)
        seconds = time.monotonic() - started
        log = RESULTS / "pipeline-logs" / f"{self.name}-{scenario.replace(' ', '-')}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output)
        moved = latest_digest(self.image) != before
        return PipelineTime(
            self.name,
            scenario,
            repetition,
            seconds,
            ok,
            passed_jobs(output),
            moved,
            stage_path_seconds(output),
        )


def measure(subjects: list[Subject], repetitions: int) -> list[PipelineTime]:
    """Run every scenario for every subject, alternating their order per repetition."""
    times: list[PipelineTime] = []
    for subject in subjects:  # the tree each scenario starts from: built once, unmeasured
        subject.run("warm-up", 0)
    for repetition in range(1, repetitions + 1):
        order = subjects if repetition % 2 else subjects[::-1]
        for scenario in SCENARIOS:
            for subject in order:
                change(subject.project, scenario)
                times.append(subject.run(scenario, repetition))
                print(json.dumps(asdict(times[-1])), flush=True)
        for subject in subjects:
            revert_failing_test(subject.project)
            if repetition < repetitions:  # the next repetition starts from a built tree
                subject.run("revert", repetition)
    return times


def median(values: list[float]) -> float:
    """Return the median of ``values``."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def render(times: list[PipelineTime]) -> str:
    """Return the results as a Markdown table: medians, the ratios, and whether latest moved."""
    lines = [
        "| scenario | before (s) | now (s) | now / before | a runner per job: before, now (s)"
        " | now / before | latest moved (before, now) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for scenario in SCENARIOS:
        runs = {
            name: [t for t in times if t.scenario == scenario and t.pipeline == name]
            for name in PIPELINES
        }
        before, now = (median([t.seconds for t in runs[name]]) for name in PIPELINES)
        path_before, path_now = (
            median([t.stage_path_seconds for t in runs[name]]) for name in PIPELINES
        )
        moved = ", ".join(
            "yes" if any(t.latest_moved for t in runs[n]) else "no" for n in PIPELINES
        )
        lines.append(
            f"| {scenario} | {before:.0f} | {now:.0f} | {now / before:.2f} "
            f"| {path_before:.0f}, {path_now:.0f} | {path_now / path_before:.2f} | {moved} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure both pipelines and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--old-rev", default=OLD_REV)
    arguments = parser.parse_args(argv)
    registry = os.environ.get("STAGELINE_TEST_REGISTRY", "localhost:5000")
    with tempfile.TemporaryDirectory(prefix="pipeline-times-") as scratch:
        root = Path(scratch)
        new_wheels = build_wheel(repository_root() / "package", root / "new-wheels")
        run_id = uuid.uuid4().hex[:8]
        subjects = [
            Subject(
                "before",
                old_project(root, arguments.old_rev),
                f"{registry}/pipeline-times-{run_id}/before",
                old_wheelhouse(root, arguments.old_rev),
            ),
            Subject(
                "now", new_project(root), f"{registry}/pipeline-times-{run_id}/now", new_wheels
            ),
        ]
        times = measure(subjects, arguments.repetitions)
        shutil.rmtree(root / "before" / ".nox", ignore_errors=True)
    (RESULTS / "pipeline-times.json").write_text(json.dumps([asdict(t) for t in times], indent=2))
    table = render(times)
    (RESULTS / "pipeline-times.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
