"""The benchmark's measures: bytes from the registry's log, cached steps, target verdicts.

Pure functions on recorded text, so a wrong count or a wrong verdict shows up here
rather than as a plausible number in benchmarks/results/.
"""

from __future__ import annotations

from benchmarks.pipeline import RunResult, StageSteps, cached_steps_of_buildkit_output
from benchmarks.registry import read_traffic
from benchmarks.results import evaluate_targets, summarise, table_markdown

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


def test_bytes_pulled_count_blob_downloads_and_pushes_count_completed_uploads() -> None:
    traffic = read_traffic(ACCESS_LOG)
    assert traffic.pulled_bytes == 1234  # manifests, HEADs and mounts move no layer bytes
    assert traffic.pulled_blobs == 2
    assert traffic.uploads == [("g/app", "sha256:" + "c" * 64)]


def test_baseline_steps_count_every_step_after_from_and_its_cache_hits() -> None:
    assert cached_steps_of_buildkit_output(BUILDKIT_OUTPUT) == StageSteps("image", 4, 2)


def run(variant: str, scenario: str, seconds: float, **changes: object) -> RunResult:
    stages = changes.pop("stages", [StageSteps("build-python", 3, 3)])
    values: dict[str, object] = {
        "pull_seconds": 0.0,
        "build_seconds": seconds,
        "push_seconds": 0.0,
        "pulled_bytes": 0,
        "pushed_bytes": 0,
        "pushed_blobs": 0,
        "layers_pushed": 0,
        "image_bytes": 200,
        **changes,
    }
    return RunResult(variant, scenario, 1, seconds, stages=stages, **values)  # type: ignore[arg-type]


def verdicts(runs: list[RunResult]) -> dict[tuple[str, str], bool | None]:
    return {(t.builder, t.text): t.met for t in evaluate_targets(summarise(runs))}


def test_targets_are_computed_from_the_runs() -> None:
    runs = [
        run("classic", "cold", 100.0),
        run("classic", "no-change", 14.0),
        run("classic", "js", 40.0, stages=[StageSteps("build-python", 3, 2)]),
        run("baseline", "cold", 200.0, image_bytes=500),
    ]
    result = verdicts(runs)
    assert result[("classic", "no change: at most 0.15 of the cold time")] is True
    assert result[("classic", "no change: no layer uploaded on push")] is True
    assert result[("classic", "one JS file changed: at most 0.35 of the cold time")] is False
    assert result[("classic", "one JS file changed: build-python fully cached")] is False
    assert result[("classic", "final image at most half the baseline's size")] is True
    assert result[("classic", "one requirement added: build-node fully cached")] is None
    assert result[("buildkit", "no change: at most 0.15 of the cold time")] is None


def test_a_layer_uploaded_without_a_change_misses_its_target_and_the_table_shows_it() -> None:
    runs = [
        run("classic", "cold", 100.0),
        run("classic", "no-change", 10.0, layers_pushed=1, pushed_bytes=2_000_000),
    ]
    assert verdicts(runs)[("classic", "no change: no layer uploaded on push")] is False
    assert "| no change | classic | 10.0 (10-10) | 0.10 |" in table_markdown(summarise(runs))
