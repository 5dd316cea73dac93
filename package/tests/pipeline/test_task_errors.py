"""What a user sees when things go wrong: one or two lines, exit 1, no traceback.

These run the tasks on a tiny two-stage project against the main engine (its
cache is shared) and real registries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from stageline.cache import uses_containerd_store
from testing.checks import free_port
from testing.projects import TINY_DOCKERFILE, make_project
from testing.registries import LoopbackRegistry
from testing.task_runner import assert_clean_failure, ok, run_task

pytestmark = pytest.mark.docker

PASSWORD = f"pw-{uuid.uuid4().hex}"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_project(tmp_path / "tiny")


@pytest.fixture
def env(engine: None, base_images: dict[str, str]) -> dict[str, str]:
    return {"PYTHON_IMAGE": base_images["PYTHON_IMAGE"], "CI_COMMIT_SHORT_SHA": "cafe0001"}


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackRegistry]:
    registry = LoopbackRegistry(
        tmp_path_factory.mktemp("auth-registry"),
        port=free_port(),
        user="ci-bot",
        password=PASSWORD,
    )
    registry.start()
    yield registry
    registry.stop()


@pytest.mark.daemon_free
def test_no_daemon_names_docker_host_and_how_to_fix_it(tiny: Path) -> None:
    run = run_task(tiny, "build-stages", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert_clean_failure(run, "DOCKER_HOST", "unix:///nonexistent/docker.sock")


@pytest.mark.daemon_free
def test_an_unknown_stage_lists_the_dockerfiles_stages(tiny: Path) -> None:
    run = run_task(tiny, "build-stages", "--stage", "prod", env={})
    assert_clean_failure(run, "unknown stage 'prod'", "base, final")


@pytest.mark.daemon_free
def test_plan_works_without_docker_or_a_registry(tiny: Path) -> None:
    run = ok(run_task(tiny, "plan", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"}))
    assert "tiny-app:base" in run.stdout
    assert "tiny-app:final" in run.stdout


def test_without_a_registry_everything_works_locally(tiny: Path, env: dict[str, str]) -> None:
    build = ok(run_task(tiny, "build-stages", env=env))
    assert "cached/steps" in build.stdout
    image = docker.from_env().images.get("tiny-app:final")
    assert "tiny-app:cafe0001" in image.tags


def test_a_failing_step_names_the_stage_the_step_and_its_last_lines(
    tmp_path: Path, env: dict[str, str]
) -> None:
    broken = TINY_DOCKERFILE + "FROM final AS broken\nRUN echo marker-$((40+2)) && exit 3\n"
    project = make_project(tmp_path / "broken", broken)
    run = run_task(project, "build-stages", env=env)
    assert_clean_failure(run, "stage broken", "RUN echo marker", "marker-42", "code: 3")


def test_an_unreachable_registry_warns_on_pull_and_fails_push_naming_it(
    tiny: Path, env: dict[str, str]
) -> None:
    env = {
        **env,
        "CI_REGISTRY_IMAGE": "localhost:5999/nowhere/app",
        "STAGELINE_PUSH_RETRIES": "1",
        "STAGELINE_BUILDER": "classic",  # BuildKit pulls nothing ahead
    }
    pull = ok(run_task(tiny, "pull-stages", env=env))
    assert pull.stderr.count("warning: cannot pull") == 2
    ok(run_task(tiny, "build-stages", env=env))
    push = run_task(tiny, "push-stages", env=env)
    assert_clean_failure(push, "localhost:5999", "after 2 attempts")
    assert "retrying" in push.stderr


def test_wrong_credentials_name_the_registry_and_user_never_the_password(
    tiny: Path, env: dict[str, str], auth_registry: LoopbackRegistry
) -> None:
    image = f"{auth_registry.address}/team/app"
    creds = {
        "CI_REGISTRY": auth_registry.address,
        "CI_REGISTRY_USER": "ci-bot",
        "CI_REGISTRY_IMAGE": image,
    }
    wrong = {**env, **creds, "CI_REGISTRY_PASSWORD": "not-" + PASSWORD}
    for task in ("pull-stages", "push-stages"):
        run = run_task(tiny, task, env=wrong)
        assert_clean_failure(run, auth_registry.address, "'ci-bot'")
        assert PASSWORD not in run.output
    right = {**env, **creds, "CI_REGISTRY_PASSWORD": PASSWORD}
    ok(run_task(tiny, "build-stages", env=right))
    push = ok(run_task(tiny, "push-stages", env=right))
    assert PASSWORD not in push.output
    # The registry needs auth to read too: ask it, logged in, for what was pushed.
    client = docker.from_env()
    client.login("ci-bot", PASSWORD, registry=auth_registry.address)
    assert client.images.get_registry_data(f"{image}:final").id.startswith("sha256:")


def test_the_classic_builder_on_the_containerd_store_builds_without_cache_sources(
    tiny: Path, env: dict[str, str]
) -> None:
    env = {**env, "STAGELINE_BUILDER": "classic"}
    ok(run_task(tiny, "build-stages", env=env))
    again = ok(run_task(tiny, "build-stages", env=env))
    if uses_containerd_store(docker.from_env().info()):
        assert "warning: building without cache sources" in again.stderr
        assert "use --builder buildkit" in again.stderr
    else:
        assert "cache: images" in again.stdout
        assert "warning" not in again.stderr


@pytest.mark.daemon_free
def test_buildkit_without_buildx_says_how_to_install_it_or_use_classic(
    tiny: Path, tmp_path: Path
) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    docker_cli = fake_bin / "docker"
    docker_cli.write_text(
        "#!/bin/sh\necho \"docker: 'buildx' is not a docker command.\" >&2\nexit 1\n"
    )
    docker_cli.chmod(0o755)
    env = {"PATH": str(fake_bin)}
    run = run_task(tiny, "build-stages", "--builder", "buildkit", env=env)
    assert_clean_failure(
        run, "no buildx plugin", "apt-get install docker-buildx", "--builder classic"
    )
    plan = ok(run_task(tiny, "plan", env=env))
    assert "builder: classic (auto: the docker CLI has no buildx plugin)" in plan.stdout
