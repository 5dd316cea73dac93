"""A Dockerfile as users bring them: unnamed stages, index references, an unrelated stage.

For each builder, on the main engine (its cache is shared: these tests ask what is
built and pushed, not what is cached) and a fresh repository of the loopback
registry. The ``lint`` stage fails if it is ever built, so a build that ran it fails.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from testing.projects import write_tasks
from testing.registries import registry_tags
from testing.task_runner import TaskRun, ok, run_task

pytestmark = pytest.mark.docker

SHA = "2222bbbb"
DOCKERFILE = """\
ARG BASE
FROM ${BASE} AS Deps
RUN echo deps > /deps
# Unnamed: BuildKit calls it stage-1; the final stage copies from it by index.
FROM ${BASE}
RUN echo one > /one
# Not an ancestor of the target: must be neither built nor pushed.
FROM deps AS lint
RUN echo "lint ran" && false
# The target: the last stage, unnamed (stage-3).
FROM ${BASE}
COPY --from=DEPS /deps /deps
COPY --from=1 /one /one
CMD ["cat", "/deps", "/one"]
"""


def make_project(root: Path, image: str) -> Path:
    """Return a project with the tasks, the library and DOCKERFILE, and no target set."""
    root.mkdir(parents=True)
    write_tasks(root)
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "pyproject.toml").write_text(
        f'[tool.stageline]\nimage = "{image}"\nbuild-args = ["BASE"]\n'
    )
    return root


@pytest.fixture(scope="module", params=["classic", "buildkit"])
def pushed(
    request: pytest.FixtureRequest,
    engine: None,
    image_name: str,
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, str, dict[str, TaskRun]]:
    """Plan, pull, build and push the project with one builder; return image and runs."""
    builder: str = request.param
    image = f"{image_name}-graph-{builder}"
    project = make_project(tmp_path_factory.mktemp("graph") / "project", image)
    env = {
        "CI_COMMIT_REF_SLUG": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_SHORT_SHA": SHA,
        "STAGELINE_BUILDER": builder,
        "BASE": base_images["PYTHON_IMAGE"],
    }
    runs = {
        task: ok(run_task(project, *task.split(), env=env))
        for task in ("plan --json", "pull-stages", "build-stages", "push-stages")
    }
    return builder, image, runs


def test_the_registry_holds_the_targets_ancestors_and_the_commit_tag_only(
    pushed: tuple[str, str, dict[str, TaskRun]],
) -> None:
    _, image, runs = pushed
    registry, repository = image.split("/", 1)
    assert registry_tags(registry, repository) == {"deps", "stage-1", "stage-3", SHA}
    assert "lint ran" not in runs["build-stages"].output


def test_the_plan_names_unnamed_stages_and_gives_the_target_the_commit_tag(
    pushed: tuple[str, str, dict[str, TaskRun]],
) -> None:
    _, image, runs = pushed
    plan = json.loads(runs["plan --json"].stdout)
    assert plan["target"] == "stage-3"
    stages = {stage["name"]: stage for stage in plan["stages"]}
    assert list(stages) == ["deps", "stage-1", "stage-3"]
    assert stages["stage-3"]["parents"] == ["deps", "stage-1"]
    assert stages["stage-3"]["tags"] == [f"{image}:stage-3", f"{image}:{SHA}"]
    assert not any("lint" in ref for ref in plan["pulls"])
    assert plan["build_args"][0]["name"] == "BASE"


def test_the_released_image_is_the_target_with_what_it_copied(
    pushed: tuple[str, str, dict[str, TaskRun]],
) -> None:
    _, image, _ = pushed
    result = subprocess.run(
        ["docker", "run", "--rm", f"{image}:{SHA}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == ["deps", "one"]
