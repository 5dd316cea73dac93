"""BuildKit, driven through ``docker buildx build`` with the same plan and tags.

Per stage: ``--target``, ``--platform`` (every platform it is built for at once, in one
run that writes an image index; none for a stage of the engine's own platform only),
``--cache-from type=registry,ref=...`` for each stage tag the
plan names, inline cache (``BUILDKIT_INLINE_CACHE=1``) so that each pushed stage tag is
itself the cache of its steps, ``--build-context`` for each reused stage (its registry
image), and either ``--load`` (tagged in the engine, pushed later by the engine) or a
push straight from BuildKit. The stages to build run in waves: a stage starts once the
stages it builds on are built, and takes them as named contexts too; the stages of one
wave run at once (:mod:`stageline.builders.buildx_runs`); the context is the same
normalised tar, sent on each one's stdin. Cache hits are read from BuildKit's progress
(:mod:`stageline.builders.buildkit_progress`): ``rawjson`` where buildx has it, else
plain text.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from base64 import b64encode
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from stageline.builders import BuildConfig, Builder, StageBuild
from stageline.builders.buildkit_progress import PlainProgress, ProgressLog, RawjsonProgress
from stageline.builders.buildx_runs import BuildxRun, combined_tally, run_together
from stageline.console import Output
from stageline.context import BuildContext
from stageline.errors import BuildError
from stageline.plan import Plan, StagePlan
from stageline.report import StageResult
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


def build_waves(stages: list[StagePlan]) -> list[list[StagePlan]]:
    """Return ``stages`` in waves: each after every planned stage it builds on."""
    names = {stage.name for stage in stages}
    depth: dict[str, int] = {}
    for stage in stages:  # plan order: parents come first
        depth[stage.name] = 1 + max(
            (depth[parent] for parent in stage.parents if parent in names), default=-1
        )
    return [
        [stage for stage in stages if depth[stage.name] == level]
        for level in range(max(depth.values(), default=-1) + 1)
    ]


def buildx_command(
    config: BuildConfig,
    plan: Plan,
    stage: StagePlan,
    dockerfile: str,
    contexts: Mapping[str, str] | None = None,
    push: bool = False,
) -> list[str]:
    """Return the ``docker buildx build`` command line for ``stage`` (without the context).

    ``dockerfile`` is the Dockerfile's name in the context. ``contexts`` maps a reused
    stage to its image (``REPOSITORY@DIGEST``): BuildKit takes that image for the stage
    instead of building it. ``push`` pushes the stage's tags straight from BuildKit.
    """
    command = [
        "docker", "buildx", "build",
        "--progress", config.progress,
        "--file", dockerfile,
        "--target", stage.name,
        "--build-arg", "BUILDKIT_INLINE_CACHE=1",
    ]  # fmt: skip
    if stage.platforms != (plan.build_platform,):
        command += ["--platform", ",".join(stage.platforms)]
    for name, value in plan.build_arg_values.items():
        command += ["--build-arg", f"{name}={value}"]
    for secret in plan.secrets:
        command += ["--secret", secret.buildx_option()]
    for ref in stage.cache_from:
        command += ["--cache-from", f"type=registry,ref={ref}"]
    for name, image in (contexts or {}).items():
        command += ["--build-context", f"{name}=docker-image://{image}"]
    if plan.no_cache:
        command += ["--no-cache", "--pull"]
    if config.settings.build_network:
        command += ["--network", config.settings.build_network]
    return command + buildx_exports(config, stage, push)


def buildx_exports(config: BuildConfig, stage: StagePlan, push: bool = False) -> list[str]:
    """Return the options for what a stage build writes: labels, tags, the image.

    Pushed, the image is one manifest (no provenance attestation, whose index would get a
    new digest on every build) under every tag at once; else it is loaded into the engine.
    """
    options = []
    for name, value in stage.labels:
        options += ["--label", f"{name}={value}"]
    if push:
        names = ",".join(stage.tags)
        return [*options, "--provenance=false", "--output", f'type=image,"name={names}",push=true']
    for tag in stage.tags:
        options += ["--tag", tag]
    return [*options, "--load"]


class BuildkitBuilder(Builder):
    """Builds stages with ``docker buildx build``, all at once on the engine's BuildKit."""

    name = "buildkit"
    pushes = True

    def new_log(self, target: str) -> ProgressLog:
        """Return a reader for the progress this builder asks buildx for."""
        rawjson = self.config.progress == "rawjson"
        return RawjsonProgress(target) if rawjson else PlainProgress(target)

    def build_stages(
        self, plan: Plan, stages: list[StagePlan], context: BuildContext, build: StageBuild
    ) -> list[StageResult]:
        """Build ``stages`` in waves, one ``buildx build`` each; return their results.

        A stage builds once every stage it needs is there: reused, or built in an earlier
        wave, whose image it takes as a named context. So no two builds ever solve the
        same step, each build's cache comes from its own stage's tags, and the stages of
        one wave (independent of each other) run at once. With ``--no-cache`` they run one
        after the other.
        """
        groups = [[stage] for stage in stages] if plan.no_cache else build_waves(stages)
        contexts = dict(build.contexts)
        results: list[StageResult] = []
        with tempfile.TemporaryDirectory(prefix="stageline-buildkit-") as scratch:
            for group in groups:
                wave = replace(build, contexts=dict(contexts))
                runs = [self._run_of(plan, s, context, wave, Path(scratch)) for s in group]
                runs[-1].shown = True
                self._run_all(runs, context, build.output)
                for stage, run in zip(group, runs, strict=True):
                    results.append(self._result(stage, run, runs))
                    # Its first tag names the image just built: in the engine, and pushed.
                    contexts[stage.name] = stage.tags[0]
        return results

    def _run_of(
        self, plan: Plan, stage: StagePlan, context: BuildContext, build: StageBuild, scratch: Path
    ) -> BuildxRun:
        command = buildx_command(
            self.config, plan, stage, context.dockerfile, build.contexts, build.push
        )
        run = BuildxRun(stage.name, command, self.new_log(stage.name), scratch / stage.name)
        run.pushed_tag = stage.tags[0] if build.push else None
        return run

    def _run_all(self, runs: list[BuildxRun], context: BuildContext, output: Output) -> None:
        # choose_builder() has already checked that buildx is there.
        settings = self.config.settings
        with docker_config(settings) as extra:
            env = {**settings.environ, **extra, "DOCKER_BUILDKIT": "1"}
            run_together(runs, context, env, output, CANCEL_GRACE_SECONDS)

    def _result(self, stage: StagePlan, run: BuildxRun, runs: list[BuildxRun]) -> StageResult:
        image_id = run.image_id()
        if not image_id:
            raise BuildError(f"docker buildx finished stage {run.stage} without an image ID.")
        tally = combined_tally(runs, run.stage)
        # A pushed image is in the engine under its tags, by its manifest's digest.
        return self.stage_result(stage, run.pushed_tag or image_id, tally, run.seconds)
