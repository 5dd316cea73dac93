"""The benchmark's measures: bytes from the registry's log, cached steps per stage.

Pure functions on recorded text, so a wrong count shows up here rather than as a
plausible number in benchmarks/results/.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.pipeline import (
    RunResult,
    StageSteps,
    build_sections,
    cached_steps_of_buildkit_output,
    step_seconds,
    steps_of_build_output,
)
from benchmarks.registry import BenchRegistry, is_json_object
from benchmarks.results import runs_from_json, summarise
from testing.access_log import read_traffic

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
UA = '"" "docker/20.10.24"'
ACCESS_LOG = [
    f'127.0.0.1 - - [28/Nov/2026:03:37:46 +0000] "GET /v2/g/app/blobs/{DIGEST_A} HTTP/1.1" '
    f"200 1000 {UA}",
    f'127.0.0.1 - - [28/Nov/2026:03:37:46 +0000] "GET /v2/g/app/blobs/{DIGEST_B} HTTP/1.1" '
    f"200 234 {UA}",
    f'127.0.0.1 - - [28/Nov/2026:03:37:46 +0000] "HEAD /v2/g/app/blobs/{DIGEST_A} HTTP/1.1" '
    f"200 0 {UA}",
    f'127.0.0.1 - - [28/Nov/2026:03:37:46 +0000] "GET /v2/g/app/manifests/latest HTTP/1.1" '
    f"200 5000 {UA}",
    f'127.0.0.1 - - [28/Nov/2026:03:37:47 +0000] "PUT /v2/g/app/blobs/uploads/1f2e?'
    f'_state=xyz&digest=sha256%3A{"c" * 64} HTTP/1.1" 201 0 {UA}',
    f'127.0.0.1 - - [28/Nov/2026:03:37:47 +0000] "POST /v2/g/app/blobs/uploads/?from=mirror'
    f'&mount={DIGEST_A} HTTP/1.1" 201 0 {UA}',
    'time="2026-11-28T03:37:47Z" level=warning msg="something else"',
]

# A single-stage build's plain progress: BuildKit names no stage, and prints FROM too.
BUILDKIT_OUTPUT = """#5 [1/5] FROM localhost:5000/mirror/python:3.13@sha256:1234
#5 DONE 0.1s
#6 [2/5] RUN pip install x
#6 CACHED
#7 [3/5] COPY requirements.txt /tmp/
#7 CACHED
#8 [4/5] COPY . /app
#8 DONE 0.2s
#9 [5/5] RUN npm run build
#9 0.512 building
#9 DONE 3.1s
"""

# per-stage.sh: three builds, each numbering its steps anew; the build of production
# shows build-node's steps again (cached), which must not count twice.
PER_STAGE_OUTPUT = """==> build build-python
#5 [build-python 1/3] FROM localhost:5055/mirror/python:bench@sha256:1234
#6 [build-python 2/3] RUN python3 -m venv /opt/venv
#6 CACHED
#7 [build-python 3/3] RUN pip install -r production.txt
#7 CACHED
==> build build-node
#5 [build-node 1/4] FROM localhost:5055/mirror/node:bench@sha256:5678
#6 [build-node 2/4] RUN npm ci
#6 CACHED
#7 [build-node 3/4] COPY assets/ ./assets/
#7 DONE 0.1s
#8 [build-node 4/4] RUN npm run build
#8 DONE 4.0s
==> build production
#5 [build-node 3/4] COPY assets/ ./assets/
#5 CACHED
#6 [production 2/3] COPY --from=build-node /app/assets/dist /app/assets/dist
#6 DONE 0.1s
#7 [production 3/3] COPY . /app
#7 DONE 0.1s
#8 [build-python 2/3] RUN python3 -m venv /opt/venv
#8 CACHED
"""

# multistage-latest: one build of production; BuildKit shows build-node's steps first.
MULTISTAGE_OUTPUT = """==> build image
#5 [build-node 2/2] RUN npm run build
#5 DONE 4.0s
#6 [build-python 2/2] RUN pip install -r production.txt
#6 DONE 9.0s
#7 [production 2/2] COPY . /app
#7 CACHED
"""


def test_bytes_pulled_count_blob_downloads_and_pushes_count_completed_uploads() -> None:
    traffic = read_traffic(ACCESS_LOG)
    assert traffic.pulled_bytes == 1234  # manifests, HEADs and mounts move no layer bytes
    assert traffic.pulled_blobs == 2
    assert traffic.downloads == [("g/app", DIGEST_A, 1000), ("g/app", DIGEST_B, 234)]
    assert traffic.uploads == [("g/app", "sha256:" + "c" * 64)]


def test_a_config_is_a_json_object_and_a_layer_is_not() -> None:
    config = json.dumps({"architecture": "amd64", "rootfs": {"type": "layers"}}).encode()
    assert is_json_object(config)
    assert not is_json_object(gzip.compress(b"a tar stream"))
    assert not is_json_object(b"[1, 2]")
    assert not is_json_object(b"{not json")


def test_baseline_steps_count_every_step_after_from_and_its_cache_hits() -> None:
    assert cached_steps_of_buildkit_output(BUILDKIT_OUTPUT) == StageSteps("image", 4, 2)
    assert build_sections(BUILDKIT_OUTPUT)[0][0] == "image"


def test_each_stage_counts_once_in_the_build_that_first_shows_it() -> None:
    assert steps_of_build_output(PER_STAGE_OUTPUT) == [
        StageSteps("build-python", 2, 2),
        StageSteps("build-node", 3, 1),
        StageSteps("production", 2, 0),
    ]


def test_one_multi_stage_build_reports_each_stage_in_dockerfile_order() -> None:
    assert steps_of_build_output(MULTISTAGE_OUTPUT) == [
        StageSteps("build-python", 1, 0),
        StageSteps("build-node", 1, 0),
        StageSteps("production", 1, 1),
    ]


def stageline_run(outcomes: list[str], repetition: int = 1) -> RunResult:
    stages = [
        StageSteps(name, 0 if outcome == "reused" else 3, 0 if outcome == "reused" else 3, outcome)
        for name, outcome in zip(
            ["build-python", "build-node", "production"], outcomes, strict=True
        )
    ]
    return RunResult("buildkit", "no-change", repetition, 2.0, 0.0, 1.0, 1.0, stages, 0, 0, 0, 0, 9)


def test_reused_stages_show_as_reused_and_a_stage_reused_in_some_runs_says_so() -> None:
    runs = [
        stageline_run(["reused", "reused", "reused"], 1),
        stageline_run(["reused", "cached", "reused"], 2),
    ]
    text = summarise(runs)[("buildkit", "no-change")].steps_text()
    assert text == "build-python reused, build-node 3/3 (reused in 1 of 2 runs), production reused"


def test_runs_written_before_reuse_and_layer_bytes_still_load() -> None:
    old = {
        "variant": "classic",
        "scenario": "cold",
        "repetition": 1,
        "seconds": 81.89,
        "pull_seconds": 0.72,
        "build_seconds": 72.48,
        "push_seconds": 8.68,
        "stages": [{"name": "build-python", "steps": 4, "cached": 0}],
        "pulled_bytes": 195583394,
        "pushed_bytes": 51878169,
        "pushed_blobs": 21,
        "layers_pushed": 18,
        "image_bytes": 221428293,
        "extra": {"task_build_seconds": 71.88},
    }
    (run,) = runs_from_json({"runs": [old]})
    assert run.stages == [StageSteps("build-python", 4, 0, None)]
    assert run.pulled_layer_bytes is None
    assert runs_from_json({"runs": [run.as_dict()]}) == [run]


def test_a_chained_runs_wall_time_splits_into_the_steps_the_tasks_noted() -> None:
    seconds = step_seconds({"pull": 0.2, "build": 3.0, "push": 1.0}, 5.0)
    assert seconds == pytest.approx({"pull": 1.0, "build": 3.0, "push": 1.0})  # startup: pull
    assert step_seconds({}, 2.0) == {"pull": 2.0, "build": 0.0, "push": 0.0}


def test_a_pushed_images_size_is_its_layers_in_the_manifest_not_its_attestations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = {
        "manifests": [
            {"digest": "sha256:image", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:attestation", "platform": {"os": "unknown"}},
        ]
    }
    manifests: dict[str, tuple[dict[str, Any], str]] = {
        "r1s0": (index, "application/vnd.oci.image.index.v1+json"),
        "sha256:image": ({"layers": [{"size": 30}, {"size": 12}]}, ""),
        "sha256:attestation": ({"layers": [{"size": 999}]}, ""),
        "plain": ({"layers": [{"size": 7}]}, "application/vnd.oci.image.manifest.v1+json"),
    }
    registry = BenchRegistry(tmp_path, 1)
    monkeypatch.setattr(registry, "manifest", lambda repository, reference: manifests[reference])
    assert registry.layer_bytes("bench/x", "r1s0") == 42
    assert registry.layer_bytes("bench/x", "plain") == 7
