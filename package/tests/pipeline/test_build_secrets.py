"""A build that installs from a private index with a token: the token is nowhere after.

The index is a real pypiserver on loopback behind basic auth, the token reaches the
build only as a BuildKit secret, and the test then searches for it in everything a
user or an attacker could read: the tasks' output, the report, the image's layers,
config and history, and every blob the registry holds for the image.
"""

from __future__ import annotations

import gzip
import io
import json
import secrets
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.private_index import PrivateIndex, write_wheel
from testing.projects import write_tasks
from testing.registries import MANIFEST_TYPES
from testing.task_runner import TaskRun, assert_clean_failure, ok, run_task

pytestmark = pytest.mark.docker

TOKEN = f"glpat-{secrets.token_hex(12)}"
SHA = "3333cccc"
DOCKERFILE = """\
ARG BASE
FROM ${BASE} AS app
RUN python3 -m venv /opt/venv
# The index URL, token and all, exists only during this step, as /run/secrets/PIP_INDEX_URL.
RUN --mount=type=secret,id=PIP_INDEX_URL \\
    PIP_INDEX_URL="$(cat /run/secrets/PIP_INDEX_URL)" \\
    /opt/venv/bin/pip install --no-cache-dir private-greeting==1.0
CMD ["/opt/venv/bin/python", "-c", "import private_greeting; print(private_greeting.TEXT)"]
"""


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateIndex]:
    """Serve the private wheel behind basic auth; the password is the token."""
    root = tmp_path_factory.mktemp("private-index")
    packages = root / "packages"
    packages.mkdir()
    write_wheel(packages, "private_greeting", "1.0", 'TEXT = "hello from the private index"\n')
    server = PrivateIndex(root, "gitlab-ci-token", TOKEN)
    server.start(packages)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def build(
    engine: None,
    index: PrivateIndex,
    image_name: str,
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Path, dict[str, str], list[TaskRun]]:
    """Plan, build and push the project with the index URL as a secret."""
    image = image_name
    project = tmp_path_factory.mktemp("secrets") / "project"
    project.mkdir()
    write_tasks(project)
    (project / "Dockerfile").write_text(DOCKERFILE)
    (project / "pyproject.toml").write_text(
        f'[tool.stageline]\nimage = "{image}"\nbuild-args = ["BASE"]\nsecrets = ["PIP_INDEX_URL"]\n'
    )
    env = {
        "CI_COMMIT_REF_SLUG": "main",
        "CI_COMMIT_SHORT_SHA": SHA,
        "BASE": base_images["PYTHON_IMAGE"],
        "PIP_INDEX_URL": index.url,
        "STAGELINE_BUILD_NETWORK": "host",
    }
    runs = [
        ok(run_task(project, "plan", env=env)),
        ok(run_task(project, "build-stages", "--report", "report.json", env=env)),
        ok(run_task(project, "push-stages", env=env)),
    ]
    return image, project, env, runs


def unpacked(data: bytes) -> bytes:
    """Return ``data``, gunzipped when it is gzip."""
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def saved_image(ref: str) -> bytes:
    """Return every file of ``docker save REF``, layers unpacked, as one byte string."""
    tar_bytes = subprocess.run(["docker", "save", ref], capture_output=True, check=True).stdout
    chunks = []
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member)
            if handle is not None:
                chunks.append(unpacked(handle.read()))
    return b"".join(chunks)


def registry_blobs(image: str, reference: str) -> bytes:
    """Return every manifest, config and layer (unpacked) the registry holds for a tag.

    With the containerd image store a push writes an image index; every manifest it
    lists (attestations too) is read.
    """
    registry, repository = image.split("/", 1)
    base = f"http://{registry}/v2/{repository}"
    request = urllib.request.Request(
        f"{base}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        manifest = response.read()
    document = json.loads(manifest)
    chunks = [manifest]
    for child in document.get("manifests", []):
        chunks.append(registry_blobs(image, child["digest"]))
    for blob in [document["config"], *document["layers"]] if "config" in document else []:
        with urllib.request.urlopen(f"{base}/blobs/{blob['digest']}", timeout=60) as response:
            chunks.append(unpacked(response.read()))
    return b"".join(chunks)


def test_the_secret_reached_the_build(
    build: tuple[str, Path, dict[str, str], list[TaskRun]],
) -> None:
    image, _, _, runs = build
    assert "builder: buildkit (auto:" in runs[0].stdout
    assert "secret:      PIP_INDEX_URL (from environment variable PIP_INDEX_URL)" in runs[0].stdout
    result = subprocess.run(
        ["docker", "run", "--rm", f"{image}:{SHA}"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "hello from the private index"


def test_the_token_is_in_no_output_report_layer_history_or_registry_blob(
    build: tuple[str, Path, dict[str, str], list[TaskRun]],
) -> None:
    image, project, _, runs = build
    token = TOKEN.encode()
    for run in runs:
        assert TOKEN not in run.output
    assert token not in (project / "report.json").read_bytes()
    inspected = subprocess.run(
        ["docker", "image", "inspect", f"{image}:{SHA}"], capture_output=True, check=True
    ).stdout
    history = subprocess.run(
        ["docker", "history", "--no-trunc", f"{image}:{SHA}"], capture_output=True, check=True
    ).stdout
    saved, pushed = saved_image(f"{image}:{SHA}"), registry_blobs(image, SHA)
    # The search reads what it should: the step is in the history, the module in the layers.
    assert b"/run/secrets/PIP_INDEX_URL" in history
    assert b"hello from the private index" in saved
    assert b"hello from the private index" in pushed
    for where, data in {
        "inspect": inspected,
        "history": history,
        "saved image": saved,
        "registry": pushed,
    }.items():
        assert token not in data, f"the token is in the {where}"


def test_the_classic_builder_refuses_the_secret_in_one_line(
    build: tuple[str, Path, dict[str, str], list[TaskRun]],
) -> None:
    _, project, env, _ = build
    run = run_task(project, "build-stages", "--builder", "classic", env=env)
    assert_clean_failure(run, "--builder classic", "build secrets (PIP_INDEX_URL)", "BuildKit")
    assert TOKEN not in run.output
