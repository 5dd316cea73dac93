"""Several ``docker buildx build`` processes at once, one per stage, on one BuildKit.

The engine's BuildKit shares one solver between the builds it runs: a step that two
stage builds need runs once, and independent stages run side by side. Each process
gets the same context tar on its stdin and writes its progress to its own log; only one
of them (the target's, whose progress shows every step) is printed as it comes.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stageline.builders import StageTally
from stageline.builders.buildkit_progress import ProgressLog
from stageline.console import Output
from stageline.context import BuildContext
from stageline.errors import BuildError


@dataclass
class BuildxRun:
    """One stage's ``docker buildx build``: its command, its log and where its ID goes."""

    stage: str
    command: list[str]
    log: ProgressLog
    iidfile: Path
    shown: bool = False  # print its progress as it comes
    pushed_tag: str | None = None  # the first tag BuildKit pushes, if it pushes
    process: subprocess.Popen[bytes] | None = None
    threads: list[threading.Thread] = field(default_factory=list)
    started: float = 0.0
    seconds: float = 0.0

    def image_id(self) -> str:
        """Return the image ID buildx wrote, or "" if it wrote none."""
        exists = self.iidfile.exists()
        return self.iidfile.read_text(encoding="utf-8").strip() if exists else ""


def send_context(context: BuildContext, process: subprocess.Popen[bytes]) -> None:
    """Write the context tar to the process's stdin, then close it."""
    assert process.stdin is not None
    try:
        for chunk in context.chunks():
            process.stdin.write(chunk)
        process.stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # buildx stopped reading early; its output says why


def read_progress(run: BuildxRun, output: Output) -> None:
    """Read the process's output into its log; print it if the run is shown."""
    assert run.process is not None
    assert run.process.stdout is not None
    for raw in run.process.stdout:
        for shown in run.log.read(raw.decode("utf-8", "replace").rstrip("\n")):
            if run.shown:
                output.line(shown)
    run.process.wait()
    run.seconds = time.monotonic() - run.started


def start(run: BuildxRun, context: BuildContext, env: Mapping[str, str], output: Output) -> None:
    """Start the run's process, with a thread sending the context and one reading output."""
    run.started = time.monotonic()
    run.process = subprocess.Popen(
        [*run.command, "--iidfile", str(run.iidfile), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
    )
    run.threads = [
        threading.Thread(target=send_context, args=(context, run.process), daemon=True),
        threading.Thread(target=read_progress, args=(run, output), daemon=True),
    ]
    for thread in run.threads:
        thread.start()


def cancel(runs: list[BuildxRun], grace: float) -> None:
    """Cancel every run still going, as Ctrl-C would, and wait until each is gone."""
    for run in runs:
        if run.process is not None and run.process.poll() is None:
            run.process.send_signal(signal.SIGINT)  # buildx cancels the build
    deadline = time.monotonic() + grace
    for run in runs:
        if run.process is None:
            continue
        try:
            run.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            run.process.kill()
            run.process.wait()


def failure_message(runs: list[BuildxRun]) -> str | None:
    """Return the message of the first failed run (a failed step first), or None."""
    failed = [run for run in runs if run.process is not None and run.process.returncode]
    if not failed:
        return None
    with_step = [run for run in failed if any(v.error for v in run.log.vertices.values())]
    chosen = (with_step or failed)[0]
    return chosen.log.failure(chosen.stage)


def run_together(
    runs: list[BuildxRun],
    context: BuildContext,
    env: Mapping[str, str],
    output: Output,
    grace: float,
) -> None:
    """Run every build at once; raise BuildError (after stopping the rest) if one fails."""
    try:
        for run in runs:
            start(run, context, env, output)
        while any(run.process is not None and run.process.poll() is None for run in runs):
            if failure_message(runs) is not None:
                break  # one failed: the others would only waste time
            time.sleep(0.1)
    except BaseException:
        cancel(runs, grace)  # KeyboardInterrupt: no build may outlive the task
        raise
    cancel(runs, grace)
    for run in runs:
        for thread in run.threads:
            thread.join(timeout=grace)
    message = failure_message(runs)
    if message is not None:
        raise BuildError(message)


def combined_tally(runs: list[BuildxRun], stage: str) -> StageTally:
    """Return ``stage``'s tally over every run's log (a step counts once)."""
    if not runs:
        return StageTally()
    merged = type(runs[0].log)(stage)
    for index, run in enumerate(runs):
        merged.vertices.update({f"{index}:{k}": v for k, v in run.log.vertices.items()})
    return merged.tally(stage)
