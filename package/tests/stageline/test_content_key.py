"""A stage's content key changes exactly when what the stage builds from changes."""

from __future__ import annotations

from pathlib import Path

from stageline.content_key import KeyInputs, context_files, stage_keys
from stageline.context import make_context
from stageline.dockerfile import parse_dockerfile, stage_graph

DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.13
FROM ${PYTHON_IMAGE} AS deps
ARG PIP_EXTRA
COPY requirements/ /tmp/requirements/
RUN pip install -r /tmp/requirements/base.txt $PIP_EXTRA

FROM node:20 AS front
COPY assets/ ./assets/
RUN --mount=type=bind,source=tools,target=/tools npm run build

FROM deps AS app
COPY --from=front /assets/dist /app/dist
COPY . /app
"""
BASES = {"python:3.13": "sha256:" + "1" * 64, "node:20": "sha256:" + "2" * 64}


def project(root: Path) -> Path:
    """Write a small project with a Dockerfile of three stages and a .dockerignore."""
    for path, text in {
        "Dockerfile": DOCKERFILE,
        ".dockerignore": "notes/\n*.log\n",
        "requirements/base.txt": "django==5.2\n",
        "requirements/nested/extra.txt": "six==1.17.0\n",
        "assets/main.js": "console.log(1)\n",
        "tools/build.sh": "echo build\n",
        "app.py": "print('app')\n",
        "notes/todo.md": "later\n",
        "debug.log": "noise\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def keys(
    root: Path, build_args: dict[str, str] | None = None, bases: dict[str, str] | None = None
) -> dict[str, str | None]:
    """Return the key of every stage of the project at ``root``."""
    text = (root / "Dockerfile").read_text()
    dockerfile = parse_dockerfile(text)
    graph = stage_graph(dockerfile, build_args or {})
    context = make_context(root, Path("Dockerfile"))
    with context.read_tar() as tar:
        files = context_files(tar)
    context.close()
    digests = {(name, "linux/amd64"): digest for name, digest in (bases or BASES).items()}
    inputs = KeyInputs(files, build_args or {}, digests)
    return stage_keys(graph, graph.names, inputs)


def changed(before: dict[str, str | None], after: dict[str, str | None]) -> set[str]:
    """Return the stages whose key differs."""
    return {name for name in before if before[name] != after[name]}


def test_the_same_inputs_give_the_same_keys_in_another_checkout(tmp_path: Path) -> None:
    first = keys(project(tmp_path / "a"))
    assert all(first.values())
    assert keys(project(tmp_path / "b")) == first


def test_a_file_read_only_through_a_directory_copy_changes_its_stage(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = keys(root)
    (root / "requirements/nested/extra.txt").write_text("six==1.16.0\n")
    # deps reads it; app builds on deps and copies the whole context.
    assert changed(before, keys(root)) == {"deps", "app"}


def test_a_js_change_leaves_the_python_stage_alone(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = keys(root)
    (root / "assets/main.js").write_text("console.log(2)\n")
    assert changed(before, keys(root)) == {"front", "app"}


def test_a_file_a_run_mount_reads_changes_its_stage(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = keys(root)
    (root / "tools/build.sh").write_text("echo other\n")
    assert changed(before, keys(root)) == {"front", "app"}


def test_a_dockerignored_file_changes_no_key(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = keys(root)
    (root / "notes/todo.md").write_text("now\n")
    (root / "debug.log").write_text("more noise\n")
    (root / "notes/new.md").write_text("new\n")
    assert changed(before, keys(root)) == set()


def test_a_build_arg_the_stage_uses_changes_it_and_its_children(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = keys(root)
    after = keys(root, build_args={"PIP_EXTRA": "--pre"})
    assert changed(before, after) == {"deps", "app"}


def test_a_base_tag_that_points_at_another_digest_changes_the_key(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = keys(root)
    moved = {**BASES, "node:20": "sha256:" + "3" * 64}
    assert changed(before, keys(root, bases=moved)) == {"front", "app"}


def test_a_mode_change_counts_as_the_engine_sees_it(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = keys(root)
    (root / "app.py").chmod(0o755)  # normalised to 0755: the executable bit is kept
    assert changed(before, keys(root)) == {"app"}
    (root / "app.py").chmod(0o700)  # still executable after normalising: no change
    assert changed(before, keys(root)) == {"app"}


def test_an_unresolved_base_or_a_remote_add_gets_no_key(tmp_path: Path) -> None:
    root = project(tmp_path)
    unresolved = keys(root, bases={"python:3.13": BASES["python:3.13"]})
    assert unresolved["front"] is None
    assert unresolved["app"] is None  # it copies from front
    assert unresolved["deps"] is not None
    (root / "Dockerfile").write_text(
        "FROM python:3.13 AS a\nADD https://example.com/x.tgz /x.tgz\n"
    )
    assert keys(root) == {"a": None}
