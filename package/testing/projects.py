"""Projects the tests run the tasks in: a copy of this checkout, or a tiny two-stage one.

A copy leaves out local state and heavy output a fresh checkout does not have
(LOCAL_STATE), so every suite builds, tests and benchmarks the same files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

# The template's working project, at the root of this repository: the Django app the
# pipeline tests and the benchmark build.
TEMPLATE_ROOT = Path(__file__).resolve().parents[2]
# Names left out wherever they occur in the tree.
LOCAL_STATE = (
    ".git",
    ".env",
    "db.sqlite3",
    "node_modules",
    ".nox",
    ".venv",
    "venv",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "htmlcov",
    "dist",
    "staticfiles",
    "reports",
    "results",
    # The package and the docs site are not part of the project the tests build.
    "package",
    "docs",
)
# Where the template's own nox sessions start: copier cuts noxfile.py from this line to
# the end (noxfile.py.jinja). They install ./package, which a copy leaves out.
TEMPLATE_ONLY_MARKER = "\n# >>> template-only"
# What a project's tasks.py needs: the collection of the installed package.
TASKS_PY = """\
from pathlib import Path

from stageline.tasks import collection

namespace = collection(Path(__file__).resolve().parent)
"""
TINY_DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.13-slim
FROM ${PYTHON_IMAGE} AS base
RUN echo base-ready > /base.txt
FROM base AS final
COPY hello.txt /hello.txt
"""


def copy_project(destination: Path) -> Path:
    """Copy the template's project (uncommitted changes included) without LOCAL_STATE."""
    ignore = shutil.ignore_patterns(*LOCAL_STATE)
    shutil.copytree(TEMPLATE_ROOT, destination, ignore=ignore, symlinks=True)
    return destination


def cut_template_only_sessions(root: Path) -> None:
    """Cut the template's own sessions from ``root``'s noxfile.py, as copier does."""
    noxfile = root / "noxfile.py"
    text = noxfile.read_text()
    if TEMPLATE_ONLY_MARKER in text:
        noxfile.write_text(text[: text.index(TEMPLATE_ONLY_MARKER)].rstrip("\n") + "\n")


def write_tasks(root: Path) -> None:
    """Write the tasks.py a project adopting Stageline writes: the installed collection."""
    (root / "tasks.py").write_text(TASKS_PY)


def make_project(root: Path, dockerfile: str = TINY_DOCKERFILE) -> Path:
    """Write a tiny project whose tasks.py uses the installed collection."""
    root.mkdir(parents=True)
    write_tasks(root)
    (root / "pyproject.toml").write_text('[tool.stageline]\nimage = "tiny-app"\n')
    (root / "Dockerfile").write_text(dockerfile)
    (root / "hello.txt").write_text(f"hello {uuid.uuid4().hex}\n")
    return root


def git_commit_all(project: Path) -> None:
    """Make ``project`` a git repository on branch main with one commit of everything."""
    identity = {
        "GIT_AUTHOR_NAME": "Stageline Tests",
        "GIT_AUTHOR_EMAIL": "tests@stageline.invalid",
        "GIT_COMMITTER_NAME": "Stageline Tests",
        "GIT_COMMITTER_EMAIL": "tests@stageline.invalid",
    }
    env = {**os.environ, **identity}
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(["git", *command], cwd=project, env=env, check=True, capture_output=True)
