"""A project started from the template builds for linux/amd64 and linux/arm64 at once.

With ``STAGELINE_PLATFORMS=linux/amd64,linux/arm64``, ``stageline build --push`` on the
main engine (BuildKit, arm64 under QEMU) must leave under ``IMAGE:<sha>`` an image index of
both platforms' images. The arm64 image runs under emulation (``uname -m`` prints aarch64)
and serves ``/healthz`` against PostgreSQL. Its ``build-node`` stage runs on the build
machine's platform, once for both: the build's output shows one run of ``npm run build``,
and both images ship the bundle of that one run (a stamp the test's webpack.config.js
writes, with a value unique to the run).

Marked ``docker``, ``template`` and ``arm64``: ``nox -s image`` runs it (``-m docker``) on
the main engine; ``nox -s template`` leaves it out. It needs the arm64_emulation fixture's
setup (.ci/start-services, .ci/build-base-images), and fails in one line without it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from testing.checks import free_port
from testing.emulation import index_platforms
from testing.production_image import container_output, production_environment, wait_for_http
from testing.registries import manifest

from tests.template.conftest import ACME, git, start_project, throwaway_image
from tests.template.test_generated_build import build_env, run_stageline

pytestmark = [
    pytest.mark.docker,
    pytest.mark.template,
    pytest.mark.arm64,
    pytest.mark.usefixtures("arm64_emulation"),
]

PLATFORMS = ("linux/amd64", "linux/arm64")
MACHINES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
# Where the production image has the bundle, and the stamp the test's build script adds.
STAMP = "/app/assets/dist/build-stamp.json"
# A step of the build's output, as BuildKit names it: "#12 [linux/amd64 build-node 6/6] RUN
# npm run build", then how it ended: "#12 DONE 9.1s" (or CACHED, or ERROR: ...).
STEP_LINE = re.compile(r"^#(\d+) (.*)$", re.MULTILINE)
WEBPACK_STEP = re.compile(r"^\[[^\]]*build-node[^\]]*\] RUN npm run build$")
ENDINGS = ("DONE", "CACHED", "ERROR")
# Emulated Django and gunicorn start slowly: migrate alone takes tens of seconds.
EMULATED_START_SECONDS = 300


@pytest.fixture
def image(registry_address: str) -> Iterator[str]:
    """Yield an image name no other run uses; remove what the engine holds of it after."""
    with throwaway_image(registry_address, "template-platforms") as name:
        yield name


def stamp_webpack_runs(project: Path, environ: dict[str, str]) -> str:
    """Make each webpack run of the project write a stamp into the bundle; commit that.

    The stamp holds the machine webpack ran on (os.machine()), a random value drawn by the
    run, and a token unique to this test, which keeps the step out of the engine's cache.
    Only webpack.config.js changes: `npm ci` before it stays cached. Returns the token.
    """
    token = uuid.uuid4().hex
    stamp = (
        "\n// Test only: stamp this webpack run into the bundle.\n"
        'require("node:fs").mkdirSync(distDir, { recursive: true });\n'
        'require("node:fs").writeFileSync(path.join(distDir, "build-stamp.json"), '
        'JSON.stringify({ machine: require("node:os").machine(), '
        f'run: require("node:crypto").randomUUID(), token: "{token}" }}));\n'
    )
    config = project / "webpack.config.js"
    config.write_text(config.read_text() + stamp)
    git(project, "commit", "--quiet", "--all", "--message", "Stamp each webpack run", env=environ)
    return token


def webpack_runs(output: str) -> dict[str, str]:
    """Return each webpack step of the build's output by its number, with how it ended."""
    lines = STEP_LINE.findall(output)
    steps = {number for number, text in lines if WEBPACK_STEP.match(text)}
    endings = {number: text for number, text in lines if text.startswith(ENDINGS)}
    return {number: endings.get(number, "no end shown") for number in steps}


def config_of(registry: str, repository: str, digest: str) -> dict[str, Any]:
    """Return the image config of the manifest ``digest``, read from the registry."""
    config_digest = manifest(registry, repository, digest)["config"]["digest"]
    url = f"http://{registry}/v2/{repository}/blobs/{config_digest}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return dict(json.load(response))


def run_in(api: docker.APIClient, ref: str, where: str, command: list[str]) -> str:
    """Return what ``command`` prints in a container of ``ref`` run as platform ``where``."""
    api.pull(ref, platform=where)
    container = api.create_container(
        ref, entrypoint=command[:1], command=command[1:], platform=where
    )
    try:
        api.start(container["Id"])
        status = api.wait(container["Id"], timeout=EMULATED_START_SECONDS)
        output = container_output(api, container["Id"])
        assert status["StatusCode"] == 0, f"{command} in {ref} ({where}) failed:\n{output}"
        return output.strip()
    finally:
        api.remove_container(container["Id"], force=True)


def serve_healthz(api: docker.APIClient, ref: str, where: str, database_url: str) -> None:
    """Start ``ref`` as ``where`` as production runs it; wait until /healthz answers 200."""
    port = free_port()
    environment = production_environment(database_url, port, workers=1, wait_seconds=60)
    container = api.create_container(
        ref,
        environment=environment,
        platform=where,
        host_config=api.create_host_config(network_mode="host"),
    )
    try:
        api.start(container["Id"])
        url = f"http://127.0.0.1:{port}/healthz"
        wait_for_http(api, container["Id"], url, timeout=EMULATED_START_SECONDS)
    finally:
        api.remove_container(container["Id"], force=True, v=True)


def test_a_two_platform_build_pushes_an_index_whose_arm64_image_serves_and_webpack_ran_once(
    template_repo: Path,
    environ: dict[str, str],
    tmp_path: Path,
    image: str,
    fresh_database_url: str,
) -> None:
    env = {
        **build_env(environ),
        "STAGELINE_PLATFORMS": ",".join(PLATFORMS),
        "STAGELINE_TARGET": "production",  # the image that ships, not development too
    }
    project = start_project(template_repo, tmp_path / "shop", {**ACME, "image": image}, environ)
    token = stamp_webpack_runs(project, environ)
    build = run_stageline(project, "build", "--push", env=env)
    assert build.returncode == 0, build.output[-4000:]

    # The registry holds one index under :<sha>, with one image per platform.
    sha = git(project, "rev-parse", "--short=8", "HEAD", env=environ).strip()
    registry, repository = image.split("/", 1)
    index = manifest(registry, repository, sha)
    held = {name: d for name, d in index_platforms(index).items() if name != "unknown/unknown"}
    assert "manifests" in index, f"{image}:{sha} is one image, not an index of {PLATFORMS}"
    assert set(held) == set(PLATFORMS), f"{image}:{sha} holds {sorted(held)}, not {PLATFORMS}"
    for name, digest in held.items():
        config = config_of(registry, repository, digest)
        assert f"{config['os']}/{config['architecture']}" == name, (name, digest)

    # The arm64 image runs under emulation, and serves the app against PostgreSQL.
    api = docker.APIClient(base_url=os.environ.get("DOCKER_HOST") or None)
    refs = {name: f"{image}@{digest}" for name, digest in held.items()}
    for name, ref in refs.items():
        assert run_in(api, ref, name, ["uname", "-m"]) == MACHINES[name]
    serve_healthz(api, refs["linux/arm64"], "linux/arm64", fresh_database_url)

    # webpack ran once, on the build machine, for both platforms.
    runs = webpack_runs(build.stdout)
    assert len(runs) == 1, f"the build's output shows {len(runs)} webpack steps, not 1: {runs}"
    assert next(iter(runs.values())).startswith("DONE"), runs
    stamps = {
        name: json.loads(run_in(api, ref, name, ["cat", STAMP])) for name, ref in refs.items()
    }
    assert stamps["linux/amd64"] == stamps["linux/arm64"], stamps
    assert stamps["linux/arm64"]["token"] == token
    assert stamps["linux/arm64"]["machine"] == platform.machine()
