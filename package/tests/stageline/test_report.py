"""The JSON report gathers what pull, build and push did to each stage, in one file."""

from __future__ import annotations

import io
import json
from pathlib import Path

from stageline.console import Output, print_summary
from stageline.registry import LayerStream
from stageline.report import (
    BuildReport,
    StageResult,
    record_step_seconds,
    update_json_report,
    write_json_report,
)

IMAGE, REF = "registry.example.com/group/app", "main"


def stage(name: str, outcome: str = "built", steps: int = 3, cached: int = 1) -> StageResult:
    return StageResult(name, [f"{IMAGE}:{name}"], [], steps, cached, 1.0, "sha256:x", 10, outcome)


def test_pull_build_and_push_fill_one_report(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "stages.json"
    update_json_report(path, IMAGE, REF, {"build-node": {"pulled_bytes": 1234}})
    report = BuildReport(
        IMAGE, REF, "classic", 2.0, [stage("build-python", "reused"), stage("build-node")]
    )
    write_json_report(path, report)
    update_json_report(path, IMAGE, REF, {"build-node": {"pushed_bytes": 99, "tags_copied": []}})
    stages = {s["name"]: s for s in json.loads(path.read_text())["stages"]}
    assert stages["build-node"]["pulled_bytes"] == 1234
    assert stages["build-node"]["pushed_bytes"] == 99
    assert stages["build-python"]["outcome"] == "reused"
    assert stages["build-python"]["pulled_bytes"] == 0


def test_each_task_notes_its_seconds_and_the_build_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "stages.json"
    record_step_seconds(path, IMAGE, REF, "pull", 1.234)
    write_json_report(path, BuildReport(IMAGE, REF, "buildkit", 2.0, [stage("build-node")]))
    record_step_seconds(path, IMAGE, REF, "build", 2.5)
    record_step_seconds(path, IMAGE, REF, "push", 0.75)
    data = json.loads(path.read_text())
    assert data["step_seconds"] == {"pull": 1.23, "build": 2.5, "push": 0.75}
    assert [s["name"] for s in data["stages"]] == ["build-node"]


def test_a_report_of_another_image_or_ref_is_replaced_not_mixed(tmp_path: Path) -> None:
    path = tmp_path / "stages.json"
    update_json_report(path, IMAGE, "feature", {"build-node": {"pulled_bytes": 5}})
    write_json_report(path, BuildReport(IMAGE, REF, "buildkit", 1.0, [stage("build-node")]))
    (only,) = json.loads(path.read_text())["stages"]
    assert only["pulled_bytes"] == 0


def test_the_summary_names_each_outcome() -> None:
    stream = io.StringIO()
    report = BuildReport(IMAGE, REF, "buildkit", 3.0, [stage("a", "reused", 0, 0), stage("b")])
    report.stages[1].settle()
    print_summary(Output(stream, force_plain=True), report)
    lines = stream.getvalue().splitlines()
    assert "outcome" in lines[1]
    assert lines[2].split()[:3] == ["a", "reused", "-"]
    assert lines[3].split()[:3] == ["b", "built", "1/3"]


def test_pushed_bytes_come_from_the_layers_the_engine_uploaded() -> None:
    layers = LayerStream(Output(io.StringIO(), force_plain=True))
    recorded = [
        {"status": "Preparing", "id": "aaa"},
        {"status": "Preparing", "id": "bbb"},
        {"status": "Pushing", "id": "aaa", "progressDetail": {"current": 512, "total": 2048}},
        {"status": "Pushing", "id": "aaa", "progressDetail": {"current": 4096, "total": 2048}},
        {"status": "Layer already exists", "id": "bbb"},
        {"status": "Pushed", "id": "aaa"},
        {"aux": {"Tag": "x", "Digest": "sha256:abc", "Size": 900}},
    ]
    for chunk in recorded:
        layers.read(chunk)
    assert layers.bytes("pushed") == 2048
    assert layers.count("already present") == 1
    assert layers.digest == "sha256:abc"
