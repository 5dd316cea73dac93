"""Content keys: one digest per stage of everything that decides what the stage builds.

A stage's key covers

* its instructions as written, with the values of the build args it declares (so the
  text after ARG expansion is determined) and the Dockerfile's parser directives;
* the build-context files its ``COPY``/``ADD`` and ``RUN --mount=type=bind`` read, as the
  engine receives them (after ``.dockerignore``, owner, mode and mtime normalised);
* the platforms it is built for (:mod:`stageline.stage_platforms`): the target
  platforms, or the one build platform a ``FROM --platform=$BUILDPLATFORM`` stage is
  built on once for all of them (so that stage's key does not depend on the targets);
* its base image's digest for each platform it builds on, read from the base image's
  index in the registry (never the tag's name), or the key of the stage it builds on;
* the keys of the stages it copies or mounts from.

Equal keys mean the same build; a stage image in the registry that carries the key (the
``KEY_LABEL`` label) can be reused without pulling or building it. A stage whose result
the key cannot pin down (``ADD`` of a URL, ``COPY --from`` an image, an unresolved base
image) gets no key and is always built. Secrets are never part of a key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stageline.dockerfile import StageGraph, StageNode
from stageline.dockerfile.stages import flag_values
from stageline.dockerfile.syntax import Instruction
from stageline.stage_platforms import StagePlatforms

KEY_LABEL = "io.stageline.content-key"
KEY_VERSION = 2  # 2: platforms, and the base image's digest per platform
REMOTE_PREFIXES = ("http://", "https://", "git@", "git://")


@dataclass(frozen=True)
class KeyInputs:
    """What keys are computed from, besides the stage graph."""

    files: Mapping[str, str]  # context path -> digest of its entry
    build_args: Mapping[str, str]
    # (base image as resolved in FROM, platform) -> that platform's image digest
    base_digests: Mapping[tuple[str, str], str | None]
    # stage -> its platforms; a stage not named: the graph's target platform
    platforms: Mapping[str, StagePlatforms] = field(default_factory=dict)

    def on(self, node: StageNode, graph: StageGraph) -> StagePlatforms:
        """Return the platforms ``node`` is built for."""
        default = StagePlatforms((str(graph.platforms.target_platform),))
        return self.platforms.get(node.name, default)


def context_files(tar: tarfile.TarFile) -> dict[str, str]:
    """Return each entry of a context tar with the digest of its header and content."""
    files = {}
    for member in tar:
        digest = hashlib.sha256(f"{member.type!r}{member.mode:o}{member.linkname}".encode())
        if member.isreg():
            handle = tar.extractfile(member)
            assert handle is not None
            while block := handle.read(1024 * 1024):
                digest.update(block)
        files[member.name.rstrip("/")] = digest.hexdigest()
    return files


def normalised_source(source: str) -> str:
    """Return a context source path without ``./``, leading or trailing slashes."""
    path = source.strip()
    while path.startswith("./"):
        path = path[2:]
    return path.strip("/") if path not in ("", "/") else "."


def matches(path: str, source: str) -> bool:
    """Return whether context ``path`` is ``source``, under it, or under what it globs."""
    if source == ".":
        return True
    if any(ch in source for ch in "*?["):
        parts = path.split("/")
        return any(
            fnmatch.fnmatchcase("/".join(parts[:n]), source) for n in range(1, len(parts) + 1)
        )
    return path == source or path.startswith(source + "/")


def mount_context_sources(instruction: Instruction) -> list[str]:
    """Return the context paths a ``RUN``'s bind mounts read (``from=`` mounts read stages)."""
    sources: list[str] = []
    for mount in flag_values(instruction, "mount"):
        fields = dict(field.partition("=")[::2] for field in mount.split(","))
        fields = {key.strip().lower(): value for key, value in fields.items()}
        if fields.get("type", "bind") != "bind" or "from" in fields:
            continue
        sources.append(fields.get("source") or fields.get("src") or ".")
    return sources


def context_sources(instruction: Instruction) -> list[str] | None:
    """Return the context paths an instruction reads; None when no key can cover it."""
    if instruction.cmd == "RUN":
        return mount_context_sources(instruction)
    if instruction.cmd not in ("COPY", "ADD") or flag_values(instruction, "from"):
        return []
    sources = [word for word in instruction.value[:-1] if not word.startswith("<<")]
    if instruction.cmd == "ADD" and any(s.startswith(REMOTE_PREFIXES) for s in sources):
        return None  # a URL's content is not known before the build
    # A variable in a source is expanded by the builder: cover the whole context.
    return ["." if "$" in source else source for source in sources]


def files_digest(node: StageNode, files: Mapping[str, str]) -> str | None:
    """Return the digest of the context entries ``node``'s instructions read."""
    sources: list[str] = []
    for instruction in node.stage.instructions:
        found = context_sources(instruction)
        if found is None:
            return None
        sources += [normalised_source(source) for source in found]
    read = sorted(path for path in files if any(matches(path, s) for s in sources))
    digest = hashlib.sha256()
    for path in read:
        digest.update(f"{path}\0{files[path]}\n".encode())
    return digest.hexdigest()


def stage_args(node: StageNode, graph: StageGraph, build_args: Mapping[str, str]) -> dict[str, str]:
    """Return the values of the ARGs ``node`` declares, as this build sets them."""
    global_values = dict(graph.global_values)
    values = {}
    for arg in node.stage.args:
        value = build_args.get(arg.name, global_values.get(arg.name))
        if value is not None:
            values[arg.name] = value
    return values


def copies_images(node: StageNode) -> bool:
    """Return whether ``node`` copies or mounts from an image rather than a stage."""
    return any(
        not reference.by_index and reference.target.lower() not in node.parents
        for reference in node.stage.references
    )


def base_of(
    node: StageNode, on: StagePlatforms, inputs: KeyInputs, parents: Mapping[str, str | None]
) -> object | None:
    """Return what ``node`` builds on: its parent stage's key, or its base image's digest
    for each platform it builds on; None where one is not known.
    """
    if node.base_image is None:
        return parents.get(node.parents[0])
    digests = [
        [platform, inputs.base_digests.get((node.base_image, platform))]
        for platform in on.base_platforms
    ]
    return None if any(digest is None for _, digest in digests) else digests


def stage_key(
    node: StageNode, graph: StageGraph, inputs: KeyInputs, parents: Mapping[str, str | None]
) -> str | None:
    """Return the key of ``node``, or None when its result cannot be pinned down."""
    on = inputs.on(node, graph)
    base = base_of(node, on, inputs, parents)
    files = files_digest(node, inputs.files)
    parent_keys = {name: parents.get(name) for name in node.parents}
    if base is None or files is None or None in parent_keys.values() or copies_images(node):
        return None
    document = {
        "version": KEY_VERSION,
        "directives": sorted(graph.dockerfile.parsed.directives.items()),
        "instructions": [instruction.original for instruction in node.stage.instructions],
        "args": sorted(stage_args(node, graph, inputs.build_args).items()),
        "platforms": list(on.platforms),
        "base": base,
        "parents": sorted(parent_keys.items()),
        "files": files,
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


def stage_keys(graph: StageGraph, names: Iterable[str], inputs: KeyInputs) -> dict[str, str | None]:
    """Return the key of each stage in ``names`` (Dockerfile order, ancestors included)."""
    keys: dict[str, str | None] = {}
    for name in names:
        keys[name] = stage_key(graph.node(name), graph, inputs, keys)
    return keys
