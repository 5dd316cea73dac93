"""An existing project adopts Stageline with the installed wheel only: its own Dockerfile
(two named stages and an unnamed final one), a [tool.stageline] table, and the
`stageline` command against the real engine and registry."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from testing.projects import git_commit_all
from testing.registries import manifest_digest, registry_tags
from testing.task_runner import base_environ
from tests.packaging.conftest import Installed

pytestmark = [pytest.mark.packaging, pytest.mark.docker]

DOCKERFILE = """\
ARG BASE=python:3.13-slim
FROM ${BASE} AS deps
RUN echo "dependencies" > /deps.txt
FROM deps AS app
COPY app.txt /app.txt
FROM ${BASE}
COPY --from=app /app.txt /deps.txt /srv/
CMD ["cat", "/srv/app.txt"]
"""


@pytest.fixture(scope="module")
def foreign_project(
    tmp_path_factory: pytest.TempPathFactory, registry_address: str, base_images: dict[str, str]
) -> tuple[Path, str]:
    """Write a project that never saw the template: a Dockerfile and a pyproject.toml."""
    root = tmp_path_factory.mktemp("adopter") / "shop"
    root.mkdir()
    image = f"{registry_address}/adopter-{uuid.uuid4().hex[:8]}/shop"
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "app.txt").write_text(f"hello {uuid.uuid4().hex}\n")
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "shop"\nversion = "1"\n\n'
        f'[tool.stageline]\nimage = "{image}"\nbuild-args = ["BASE"]\n'
    )
    git_commit_all(root)
    return root, image


def stageline(installed: Installed, project: Path, env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    """Run the installed `stageline` in ``project`` with a scrubbed environment."""
    return subprocess.run(
        [installed.command("stageline"), *args],
        cwd=project,
        env={**base_environ(), **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_plan_build_and_push_with_the_installed_command(
    installed: Installed,
    foreign_project: tuple[Path, str],
    base_images: dict[str, str],
    engine: None,
) -> None:
    project, image = foreign_project
    env = {"BASE": base_images["PYTHON_IMAGE"], "DOCKER_HOST": os.environ.get("DOCKER_HOST", "")}
    env = {name: value for name, value in env.items() if value}
    planned = stageline(installed, project, env, "plan", "--json")
    assert planned.returncode == 0, planned.stderr
    document = json.loads(planned.stdout)
    assert [stage["name"] for stage in document["stages"]] == ["deps", "app", "stage-2"]
    for step in (["build"], ["push"]):
        run = stageline(installed, project, env, *step)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    registry, repository = image.split("/", 1)
    sha = subprocess.run(
        ["git", "rev-parse", "--short=8", "HEAD"], cwd=project, capture_output=True, text=True
    ).stdout.strip()
    tags = registry_tags(registry, repository)
    assert {"deps", "app", "stage-2", sha} <= tags, tags
    # The release tag is the unnamed final stage's image, and it runs the project's file.
    assert manifest_digest(registry, repository, sha) == manifest_digest(
        registry, repository, "stage-2"
    )
    shown = subprocess.run(
        ["docker", "run", "--rm", f"{image}:{sha}"], capture_output=True, text=True, check=True
    )
    assert shown.stdout == (project / "app.txt").read_text()


def test_an_unknown_target_is_one_line_and_exit_1(installed: Installed, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "pyproject.toml").write_text('[tool.stageline]\nimage = "shop"\n')
    run = stageline(installed, tmp_path, {}, "plan", "--target", "nope")
    assert run.returncode == 1, run
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    assert "nope" in lines[0], lines
