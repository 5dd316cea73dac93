"""Record the engine's classic build, push and pull streams as JSON lines (run once).

The recordings in this directory came from Docker 26.1 (containerd image store) and the
loopback registry on localhost:5000. Rerun only to refresh them, against an engine you may
build on: ``python tests/stageline/streams/record_engine_streams.py``. It builds a tiny
image FROM localhost:5000/mirror/python:3.13, pushes and pulls it under
``localhost:5000/coverage-fixtures/app``, and removes what it added to the engine.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from docker import APIClient
from docker.errors import APIError

from stageline.engine import connect
from tests.stageline.replay import CLASSIC_DOCKERFILE

HERE = Path(__file__).parent
REPOSITORY = "localhost:5000/coverage-fixtures/app"
UNREACHABLE = "localhost:5999/coverage-fixtures/app"  # nothing listens there


def record(name: str | None, call: Callable[[], Iterable[Any]]) -> list[dict[str, Any]]:
    """Drain the stream ``call`` returns; write it as JSON lines to ``name`` (None: don't)."""
    chunks: list[dict[str, Any]] = []
    try:
        chunks.extend(call())
    except APIError as exc:  # a refusal instead of a stream: kept as the error it is
        chunks.append({"raised": type(exc).__name__, "explanation": str(exc.explanation)})
    if name is not None:
        lines = "".join(json.dumps(chunk, sort_keys=True) + "\n" for chunk in chunks)
        (HERE / name).write_text(lines, encoding="utf-8")
    return chunks


def build(client: APIClient, project: Path, target: str, pull: bool = False) -> Any:
    return lambda: client.build(
        path=str(project), target=target, tag=f"{REPOSITORY}:{target}", pull=pull,
        rm=True, forcerm=True, decode=True,
    )  # fmt: skip


def built_ids(chunks: list[dict[str, Any]]) -> set[str]:
    """Return the image IDs a build stream names (each step's and the final one)."""
    ids = {str(c["aux"]["ID"]) for c in chunks if isinstance(c.get("aux"), dict)}
    for chunk in chunks:
        text = str(chunk.get("stream", "")).strip()
        if text.startswith("---> ") and " " not in text[5:]:
            ids.add(text[5:])
    return ids


def record_builds(client: APIClient, project: Path, ids: set[str]) -> None:
    (project / "Dockerfile").write_text(CLASSIC_DOCKERFILE, encoding="utf-8")
    (project / "f").write_text("one\n", encoding="utf-8")
    chunks = record(None, build(client, project, "app"))  # fills the cache of base
    (project / "f").write_text("two\n", encoding="utf-8")
    chunks += record("classic-cached-and-run.jsonl", build(client, project, "app", pull=True))
    ids.update(built_ids(chunks))
    ids.update(built_ids(record("classic-failing-step.jsonl", build(client, project, "broken"))))


def record_push_and_pull(client: APIClient) -> None:
    def push(repository: str) -> Callable[[], Any]:
        return lambda: client.push(repository, tag="app", stream=True, decode=True)

    def pull(tag: str) -> Callable[[], Any]:
        return lambda: client.pull(REPOSITORY, tag=tag, stream=True, decode=True)

    record("push-new-layers.jsonl", push(REPOSITORY))
    record("push-already-present.jsonl", push(REPOSITORY))
    client.tag(f"{REPOSITORY}:app", UNREACHABLE, "app")
    record("push-unreachable.jsonl", push(UNREACHABLE))
    client.remove_image(f"{UNREACHABLE}:app")
    client.remove_image(f"{REPOSITORY}:app")
    record("pull-new-layers.jsonl", pull("app"))
    record("pull-missing-tag.jsonl", pull("missing"))
    client.remove_image(f"{REPOSITORY}:app")


def main() -> None:
    client = connect(os.environ)
    before = {image["Id"] for image in client.images(all=True)}
    ids: set[str] = set()
    try:
        with tempfile.TemporaryDirectory() as directory:
            record_builds(client, Path(directory), ids)
        record_push_and_pull(client)
    finally:
        short_ids = {i.removeprefix("sha256:")[:12] for i in ids}
        for image in client.images(all=True):
            if image["Id"] not in before and image["Id"][7:19] in short_ids:
                print("remove", image["Id"], image.get("RepoTags"))
                client.remove_image(image["Id"], force=True)


if __name__ == "__main__":
    main()
