"""BuildKit, driven through ``docker buildx build`` with the same plan and tags.

Per stage: ``--target``, ``--cache-from type=registry,ref=...`` for every cache source
the plan names, inline cache (``BUILDKIT_INLINE_CACHE=1``) so that each pushed stage
tag is itself a cache source, registry cache export (``--cache-to``) where the engine
can do it (see :mod:`stageline.cache`), and ``--load`` so tagging, pushing and
reporting are shared with the classic builder. The context is the same normalised tar,
sent on stdin. Cache hits are read from BuildKit's progress
(:mod:`stageline.builders.buildkit_progress`): ``rawjson`` where buildx has it, else
plain text.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from base64 import b64encode
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from stageline.builders import BuildConfig, Builder, StageTally
from stageline.builders.buildkit_progress import PlainProgress, ProgressLog, RawjsonProgress
from stageline.console import Output
from stageline.context import BuildContext
from stageline.errors import BuildError
from stageline.plan import Plan, StagePlan
from stageline.settings import Settings

INSTALL_HINT = (
    "install the buildx plugin (Debian/Ubuntu: apt-get install docker-buildx; "
    "Docker Desktop has it), or use --builder classic."
)
# The oldest buildx whose ``--progress rawjson`` Stageline reads (older: plain text).
RAWJSON_SINCE = (0, 13)
BUILDX_VERSION_RE = re.compile(r"\bv?(\d+)\.(\d+)\.\d+")
# How long an interrupted ``docker buildx build`` gets to cancel before it is killed.
CANCEL_GRACE_SECONDS = 10


def buildx_version(environ: Mapping[str, str]) -> tuple[tuple[int, int] | None, str | None]:
    """Return buildx's (major, minor) version, or None and why ``docker buildx`` is unusable."""
    docker_cli = shutil.which("docker", path=environ.get("PATH"))
    if docker_cli is None:
        return None, "the docker CLI is not on PATH"
    try:
        result = subprocess.run(
            [docker_cli, "buildx", "version"],
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(environ),
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"`docker buildx version` failed ({exc})"
    if result.returncode != 0:
        return None, "the docker CLI has no buildx plugin"
    match = BUILDX_VERSION_RE.search(result.stdout)
    return ((int(match.group(1)), int(match.group(2))) if match else (0, 0)), None


def buildkit_missing_reason(environ: Mapping[str, str]) -> str | None:
    """Return why ``docker buildx`` cannot be used, or None when it can."""
    return buildx_version(environ)[1]


def progress_mode(version: tuple[int, int] | None) -> str:
    """Return the ``--progress`` to read: ``rawjson`` where buildx has it, else ``plain``.

    ``version`` is what :func:`buildx_version` returned (the choice of builder asks).
    """
    return "rawjson" if version is not None and version >= RAWJSON_SINCE else "plain"


def cancel_build(process: subprocess.Popen[bytes]) -> None:
    """Cancel a running ``docker buildx build`` as Ctrl-C would, and wait until it is gone.

    When SIGINT reaches only this process (``kill -INT``, a job runner), buildx would
    otherwise finish the build in the background and tag the stage after the task said
    it was interrupted.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=CANCEL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def existing_config(directory: Path) -> dict[str, object]:
    """Return the CLI's own config (logins, credential helpers), or {} if unreadable."""
    try:
        loaded = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


@contextmanager
def docker_config(settings: Settings) -> Iterator[dict[str, str]]:
    """Yield environment additions that give the CLI the registry login, if any.

    docker-py's login lives in its process only; the CLI reads credentials from a
    config file. A private, temporary ``DOCKER_CONFIG`` holds them for the build, on
    top of the user's own config (other logins such as GitLab's dependency proxy, and
    credential helpers for other registries, keep working; a credential store, which
    would hide this login, is left out), and is deleted after; the password is never
    printed.
    """
    if settings.registry_user is None or settings.registry_password is None:
        yield {}
        return
    original = Path(settings.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    token = f"{settings.registry_user}:{settings.registry_password.reveal()}"
    config = existing_config(original)
    auths = config.get("auths")
    config["auths"] = {
        **(auths if isinstance(auths, dict) else {}),
        str(settings.registry): {"auth": b64encode(token.encode()).decode()},
    }
    config["cliPluginsExtraDirs"] = [str(original / "cli-plugins")]
    # A credential store would take precedence over the login above; helpers keep theirs.
    config.pop("credsStore", None)
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        helpers.pop(str(settings.registry), None)
    with tempfile.TemporaryDirectory(prefix="stageline-docker-config-") as directory:
        path = Path(directory) / "config.json"
        path.touch(mode=0o600)
        path.write_text(json.dumps(config), encoding="utf-8")
        yield {"DOCKER_CONFIG": directory}


def buildx_command(
    config: BuildConfig, plan: Plan, stage: StagePlan, dockerfile: str, solve_only: bool = False
) -> list[str]:
    """Return the ``docker buildx build`` command line for ``stage`` (without the context).

    ``dockerfile`` is the Dockerfile's name in the context. ``solve_only`` runs the steps
    into BuildKit's cache and exports nothing: no image, no tag, no registry cache (see
    :meth:`BuildkitBuilder.solve_together`).
    """
    command = [
        "docker", "buildx", "build",
        "--progress", config.progress,
        "--file", dockerfile,
        "--target", stage.name,
        *(["--output", "type=cacheonly"] if solve_only else ["--load"]),
        "--build-arg", "BUILDKIT_INLINE_CACHE=1",
    ]  # fmt: skip
    for name, value in plan.build_arg_values.items():
        command += ["--build-arg", f"{name}={value}"]
    for secret in plan.secrets:
        command += ["--secret", secret.buildx_option()]
    reads = (*stage.cache_reads, *stage.cache_from) if config.cache.registry else stage.cache_from
    for ref in reads:
        command += ["--cache-from", f"type=registry,ref={ref}"]
    if plan.no_cache:
        command += ["--no-cache", "--pull"]
    if config.settings.build_network:
        command += ["--network", config.settings.build_network]
    return command if solve_only else command + buildx_exports(config, stage)


def buildx_exports(config: BuildConfig, stage: StagePlan) -> list[str]:
    """Return the options for what a stage build writes: registry cache, labels, tags."""
    options = []
    if config.cache.registry:
        options += ["--cache-to", f"type=registry,ref={stage.cache_ref},mode=max"]
    for name, value in stage.labels:
        options += ["--label", f"{name}={value}"]
    for tag in stage.tags:
        options += ["--tag", tag]
    return options


class BuildkitBuilder(Builder):
    """Builds stages with ``docker buildx build`` and loads them into the engine."""

    name = "buildkit"
    solved: ProgressLog | None = None  # the joint solve's log, once it ran

    def new_log(self, target: str) -> ProgressLog:
        """Return a reader for the progress this builder asks buildx for."""
        rawjson = self.config.progress == "rawjson"
        return RawjsonProgress(target) if rawjson else PlainProgress(target)

    def solve_together(
        self, plan: Plan, stages: list[StagePlan], context: BuildContext, output: Output
    ) -> None:
        """Run the steps of every stage to build in one solve, before building each.

        Stage by stage, BuildKit would fetch and unpack one stage's cache after the other;
        in one solve of the last stage (its ``COPY --from`` and ``FROM`` reach the others)
        independent stages run side by side. The stage builds that follow take every step
        from BuildKit's cache and only export; their counts of cached steps come from here.
        Nothing is gained, and the solve is skipped, for one stage or with ``--no-cache``.
        """
        if len(stages) < 2 or plan.no_cache:
            return
        last = stages[-1]
        output.header(f"solve {', '.join(s.name for s in stages)} together (one BuildKit run)")
        log = self.new_log(last.name)
        command = buildx_command(self.config, plan, last, context.dockerfile, solve_only=True)
        self._buildx([*command, "-"], context, log, output)
        self.solved = log

    def _buildx(
        self, command: list[str], context: BuildContext, log: ProgressLog, output: Output
    ) -> None:
        """Run ``command`` with the context on stdin; raise BuildError when it fails."""
        # choose_builder() has already checked that buildx is there.
        settings = self.config.settings
        with docker_config(settings) as extra:
            env = {**settings.environ, **extra, "DOCKER_BUILDKIT": "1"}
            returncode = self._run(command, context, env, log, output)
        if returncode != 0:
            raise BuildError(log.failure(log.target))

    def tally(self, stage: str, log: ProgressLog) -> StageTally:
        """Return ``stage``'s tally: from the joint solve when that ran the stage."""
        if self.solved is not None and self.solved.tally(stage).steps:
            return self.solved.tally(stage)
        return log.tally(stage)

    def run_build(
        self, plan: Plan, stage: StagePlan, context: BuildContext, output: Output
    ) -> tuple[str, StageTally]:
        """Build ``stage`` with buildx, tagged and loaded; return its image ID and tally."""
        log = self.new_log(stage.name)
        with tempfile.TemporaryDirectory(prefix="stageline-buildkit-") as scratch:
            iidfile = Path(scratch) / "iid"
            command = buildx_command(self.config, plan, stage, context.dockerfile)
            command += ["--iidfile", str(iidfile), "-"]
            self._buildx(command, context, log, output)
            image_id = iidfile.read_text(encoding="utf-8").strip() if iidfile.exists() else ""
        if not image_id:
            raise BuildError(f"docker buildx finished stage {stage.name} without an image ID.")
        return image_id, self.tally(stage.name, log)

    @staticmethod
    def _run(
        command: list[str],
        context: BuildContext,
        env: Mapping[str, str],
        log: ProgressLog,
        output: Output,
    ) -> int:
        with subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            text=False,
        ) as process:
            assert process.stdin is not None
            assert process.stdout is not None
            stdin = process.stdin

            def send_context() -> None:
                try:
                    shutil.copyfileobj(context.open(), stdin)
                    stdin.close()
                except (BrokenPipeError, ValueError):
                    pass  # buildx stopped reading early; its output says why

            # Write the context while reading the output, so neither pipe can fill up.
            sender = threading.Thread(target=send_context, daemon=True)
            sender.start()
            try:
                for raw in process.stdout:
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    for shown in log.read(line):
                        output.line(shown)
            except BaseException:
                cancel_build(process)  # KeyboardInterrupt: no build may outlive the task
                raise
            sender.join()
            return process.wait()
