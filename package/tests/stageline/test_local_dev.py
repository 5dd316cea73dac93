"""`invoke dev`: the compose command it runs, and what a user sees when Docker is missing.

The stack itself runs on a real engine in tests/e2e/test_local_dev.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from stageline.errors import StagelineError
from stageline.local_dev import compose_command, compose_environ, run_stack
from stageline.settings_loader import load_settings
from testing.checks import assert_one_error_line, run_python


def run_dev(tmp_path: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """Run `invoke dev ARGS` in this repository with only ``environ`` (and a scratch HOME)."""
    env = {"HOME": str(tmp_path), "PATH": str(tmp_path / "empty"), **environ}
    return run_python(env, "-m", "invoke", "dev", *args)


def test_up_builds_then_starts_and_down_removes(tmp_path: Path) -> None:
    compose_file = tmp_path / "docker-compose.local.yml"

    assert compose_command(compose_file) == [
        "docker",
        "compose",
        "-f",
        str(compose_file),
        "up",
        "--build",
    ]
    assert compose_command(compose_file, down=True)[-1] == "down"


def test_base_images_from_dotenv_reach_compose_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "PYTHON_IMAGE=mirror.example.com/python:3.13\nNODE_IMAGE=mirror.example.com/node:24\n"
        "DJANGO_SECRET_KEY=not-for-compose\n"
    )
    environ = {"PATH": "/usr/bin", "NODE_IMAGE": "other.example.com/node:20"}
    settings = load_settings(tmp_path, environ=environ)

    assert compose_environ(settings, environ) == {
        "PATH": "/usr/bin",
        "PYTHON_IMAGE": "mirror.example.com/python:3.13",
        "NODE_IMAGE": "other.example.com/node:20",
    }


def test_the_local_stack_builds_the_hosts_platform_only(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.stageline]\nplatforms = ["linux/amd64", "linux/arm64"]\n'
    )
    environ = {"PATH": "/usr/bin", "STAGELINE_PLATFORMS": "linux/arm64"}
    settings = load_settings(tmp_path, environ=environ)
    assert settings.platforms == ("linux/arm64",)
    made = compose_environ(settings, environ)
    assert "DOCKER_DEFAULT_PLATFORM" not in made
    assert not any("platform" in word for word in compose_command(Path("c.yml")))


def test_a_project_without_the_compose_file_is_told_so(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})

    with pytest.raises(StagelineError, match=r"docker-compose\.local\.yml is not in "):
        run_stack(settings, environ={"PATH": str(tmp_path)})


def test_without_docker_the_task_says_to_install_it(tmp_path: Path) -> None:
    result = run_dev(tmp_path)

    assert_one_error_line(result, "docker is not on PATH: install Docker Engine")


def test_without_the_compose_plugin_the_task_says_to_install_it(tmp_path: Path) -> None:
    # A docker CLI without plugins answers `docker compose` as the real one does then.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        "#!/bin/sh\necho \"docker: '$1' is not a docker command.\" >&2\nexit 1\n"
    )
    (bin_dir / "docker").chmod(0o755)

    result = run_dev(tmp_path, PATH=str(bin_dir))

    assert_one_error_line(result, "`docker compose` does not run (docker: 'compose' is not")
    assert "install the Compose v2 plugin" in result.stderr


def test_without_an_engine_the_task_says_to_start_one(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], check=False).returncode:
        pytest.skip("needs the docker CLI with its compose plugin (not an engine)")
    socket = tmp_path / "no-engine.sock"

    result = run_dev(tmp_path, PATH=str(Path(docker).parent), DOCKER_HOST=f"unix://{socket}")

    assert_one_error_line(result, "no Docker engine answers (")
    assert str(socket) in result.stderr
    assert "start Docker, or set DOCKER_HOST" in result.stderr
