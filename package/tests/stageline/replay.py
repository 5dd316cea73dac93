"""Recorded engine and registry answers (streams/), replayed to the library without Docker.

``FakeEngine`` stands in for docker-py's ``APIClient`` where a library function takes
one: each ``build``, ``push``, ``pull`` or ``login`` gets the next scripted answer, a
recorded stream or an exception to raise. ``FakeRegistry`` stands in for a
``RegistryAPI`` holding the recorded manifests and configs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stageline.registry_api import MANIFEST_TYPES, Manifest, content_digest

STREAMS = Path(__file__).parent / "streams"
INDEX_TYPE, IMAGE_TYPE = MANIFEST_TYPES[0], MANIFEST_TYPES[2]
Answer = list[dict[str, Any]] | Exception
# What the classic-*.jsonl streams built (streams/record_engine_streams.py).
CLASSIC_DOCKERFILE = """\
FROM localhost:5000/mirror/python:3.13 AS base
RUN echo base-step > /base-step
FROM base AS app
COPY f /f
RUN head -c 200000 /dev/urandom > /big && cat /f && echo to-stderr >&2
FROM base AS broken
RUN echo marker-$((40+2)) && echo to-stderr >&2 && exit 3
"""


def recorded(name: str) -> list[dict[str, Any]]:
    """Return the messages of a recorded stream, one per line."""
    lines = (STREAMS / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def recorded_manifest(name: str, media_type: str) -> Manifest:
    """Return a recorded manifest, with its exact bytes."""
    content = (STREAMS / name).read_bytes()
    return Manifest(content, media_type, content_digest(content))


class FakeEngine:
    """Answers the engine calls the library makes, as the engine did when recorded."""

    def __init__(self, *answers: Answer, size: int = 1_234_567) -> None:
        self.answers = list(answers)
        self.size = size
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.tags: list[tuple[str, str, str]] = []

    def _answer(self, call: str, name: str, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        self.calls.append((call, name, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return iter(answer)

    def build(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self._answer("build", str(kwargs.get("target")), kwargs)

    def push(self, repository: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self._answer("push", repository, kwargs)

    def pull(self, repository: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self._answer("pull", repository, kwargs)

    def login(self, **kwargs: Any) -> None:
        list(self._answer("login", kwargs["registry"], kwargs))

    def tag(self, image: str, repository: str, tag: str, force: bool) -> None:
        self.tags.append((image, repository, tag))

    def inspect_image(self, image: str) -> dict[str, Any]:
        return {"Id": image, "Size": self.size}


@dataclass
class FakeRegistry:
    """A registry's manifests (by repository and tag or digest) and configs (by digest)."""

    manifests: dict[tuple[str, str], Manifest] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    written: list[tuple[str, str, Manifest]] = field(default_factory=list)

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        return self.manifests.get((repository, reference))

    def head_manifest(self, repository: str, reference: str) -> str | None:
        manifest = self.manifests.get((repository, reference))
        return manifest.digest if manifest else None

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        self.written.append((repository, tag, manifest))
        self.manifests[repository, tag] = manifest
        return manifest.digest

    def get_json_blob(self, repository: str, digest: str) -> dict[str, Any]:
        return self.configs[digest]


def build_node_registry(repository: str, tag: str) -> FakeRegistry:
    """Return a registry holding the recorded build-node stage under ``repository:tag``."""
    index = recorded_manifest("registry-build-node-index.json", INDEX_TYPE)
    image = recorded_manifest("registry-build-node-manifest.json", IMAGE_TYPE)
    config = json.loads((STREAMS / "registry-build-node-config.json").read_bytes())
    return FakeRegistry(
        manifests={(repository, tag): index, (repository, image.digest): image},
        configs={image.document["config"]["digest"]: config},
    )


def fake_docker(
    directory: Path, buildx: str | None, replay: str = "", exit_code: int = 0
) -> dict[str, str]:
    """Put a ``docker`` on an empty PATH whose ``buildx version`` prints ``buildx``.

    ``buildx`` None: the CLI has no buildx plugin (it fails as docker does). ``buildx
    build`` keeps its arguments (``builds``), the context it reads on stdin
    (``context.tar``) and the CLI config it is given (``cli-config.json``) in
    ``directory``, prints the recorded progress ``replay`` (streams/), writes an image ID
    to ``--iidfile`` and exits ``exit_code``. Returns the environment whose PATH holds
    only that ``docker``.
    """
    answer = f"echo '{buildx}'; exit 0" if buildx is not None else "exit 1"
    script = f"""#!/bin/sh
PATH=/usr/bin:/bin  # its own tools; the PATH it was given holds only this script
if [ "$1 $2" = "buildx version" ]; then {answer}; fi
if [ "$1 $2" = "buildx build" ]; then
  printf '%s\\n' "$@" --- >> "{directory}/builds"
  cat > "{directory}/context.tar"
  [ -n "$DOCKER_CONFIG" ] && cp "$DOCKER_CONFIG/config.json" "{directory}/cli-config.json"
  while [ $# -gt 0 ]; do [ "$1" = --iidfile ] && echo sha256:fake > "$2"; shift; done
  cat "{STREAMS / replay}" >&2
  exit {exit_code}
fi
echo "docker: unknown command: $*" >&2; exit 1
"""
    (directory / "docker").write_text(script, encoding="utf-8")
    (directory / "docker").chmod(0o755)
    return {"PATH": str(directory)}


def fake_builds(directory: Path) -> list[list[str]]:
    """Return the arguments of each ``docker buildx build`` the fake docker ran."""
    text = (directory / "builds").read_text(encoding="utf-8")
    return [build.strip("\n").splitlines() for build in text.split("---\n") if build.strip()]
