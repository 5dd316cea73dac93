"""The deploy's pure parts: names, pinned references, the rollback history, compose's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stageline import deploy_plan as plan
from stageline.errors import SettingsError, StagelineError

A = "registry.example.com:5000/group/app@sha256:" + "a" * 64
B = "registry.example.com:5000/group/app@sha256:" + "b" * 64
C = "registry.example.com:5000/group/app@sha256:" + "c" * 64


def running(image: str, *history: str) -> plan.Running:
    return plan.Running(container_id="id", image=image, history=history)


def test_the_project_is_the_compose_name_and_the_environment_slug() -> None:
    assert plan.project_name("acme", "staging") == "acme-staging"
    assert plan.project_name("acme", "review/Feature_X") == "acme-review-feature-x"
    with pytest.raises(SettingsError, match="--environment '//'"):
        plan.project_name("acme", "//")


@pytest.mark.parametrize(
    "ref",
    [
        "registry.example.com:5000/group/app:1a2b3c4d",
        "registry.example.com:5000/group/app@sha256:" + "0" * 64,
        "registry.example.com:5000/group/app",
    ],
)
def test_a_reference_is_pinned_by_digest_with_the_registry_port_kept(ref: str) -> None:
    digest = "sha256:" + "f" * 64
    assert plan.pinned_ref(ref, digest) == f"registry.example.com:5000/group/app@{digest}"


def test_the_commit_tag_needs_a_sha() -> None:
    assert plan.commit_image_ref("r.example.com/app", "1a2b3c4d") == "r.example.com/app:1a2b3c4d"
    with pytest.raises(SettingsError, match="--image"):
        plan.commit_image_ref("r.example.com/app", None)


def test_deploys_push_what_ran_onto_the_history_and_rollbacks_pop_it() -> None:
    assert plan.history_after_deploy(None, A) == ()
    assert plan.history_after_deploy(running(A), B) == (A,)
    assert plan.history_after_deploy(running(B, A), C) == (B, A)
    assert plan.history_after_deploy(running(B, A), B) == (A,)  # a redeploy changes nothing
    assert plan.rollback_target(running(C, B, A), "prod") == (B, (A,))
    long = tuple(f"app@sha256:{i:064x}" for i in range(plan.HISTORY_LENGTH))
    assert len(plan.history_after_deploy(running(A, *long), B)) == plan.HISTORY_LENGTH


def test_the_history_label_round_trips() -> None:
    label = json.loads(plan.override_document((B, A)))["services"]["django"]["labels"]
    assert plan.parse_history(label[plan.HISTORY_LABEL]) == (B, A)
    assert plan.parse_history("") == ()
    assert plan.parse_history(None) == ()


def test_rollback_with_nothing_before_names_the_environment() -> None:
    with pytest.raises(StagelineError, match="'prod' \\(nothing runs\\)"):
        plan.rollback_target(None, "prod")
    with pytest.raises(StagelineError, match=f"only {A} was deployed"):
        plan.rollback_target(running(A), "prod")


def test_compose_ps_json_is_read_in_both_formats() -> None:
    rows = [
        {"ID": "1", "Service": "postgres", "State": "running", "Health": "healthy"},
        {"ID": "2", "Service": "django", "State": "running", "Health": "unhealthy"},
    ]
    lines = "\n".join(json.dumps(row) for row in rows)
    assert plan.ps_rows(lines) == plan.ps_rows(json.dumps(rows)) == rows
    assert plan.service_container(rows, "django") == "2"
    assert plan.unhealthy_services(rows) == ["django"]
    assert plan.service_container([{**rows[1], "State": "exited"}], "django") is None


def test_the_commands_pin_the_project_and_never_build() -> None:
    target = plan.Target(Path("/p/docker-compose.yml"), "acme-staging", 90)
    up = plan.up_command(target, Path("/tmp/o.json"))
    assert up[:6] == ["docker", "compose", "-p", "acme-staging", "-f", "/p/docker-compose.yml"]
    assert "--no-build" in up
    assert up[-3:] == ["--wait", "--wait-timeout", "90"]
    assert plan.pull_command(target, Path("/tmp/o.json"))[-1] == plan.SERVICE


def test_the_wait_setting_is_checked() -> None:
    assert plan.wait_seconds({}) == plan.DEFAULT_WAIT_SECONDS
    assert plan.wait_seconds({"STAGELINE_DEPLOY_WAIT_SECONDS": "30"}) == 30
    with pytest.raises(SettingsError, match="STAGELINE_DEPLOY_WAIT_SECONDS='soon'"):
        plan.wait_seconds({"STAGELINE_DEPLOY_WAIT_SECONDS": "soon"})


def test_log_lines_lose_terminal_codes() -> None:
    assert plan.log_lines("\x1b[2Kdjango-1  | ready\n") == ["django-1  | ready"]
