"""The benchmark's own registry, and the bytes that cross it, read from its access log.

The registry is a :class:`~tests.pipeline.services.LoopbackRegistry` on a port of its
own, so nothing else talks to it. Its access log (combined log format, on by default
in distribution 2.8) records every request with the response's size in bytes:

* bytes pulled: the sum of the response sizes of ``GET /v2/<repo>/blobs/<digest>``
  answered 200 (layers and image configs; manifests are left out, they are a few kB).
  Layer bytes leave out the configs too (and any other JSON blob, such as an
  attestation): Stageline reads the config of each image it compares content keys with.
  This counts what a runner really downloaded, whoever asked: ``docker pull``, the
  classic builder pulling a base image, or BuildKit reading an inline cache.
* bytes pushed: the sizes of the blobs whose upload completed, i.e. ``PUT
  /v2/<repo>/blobs/uploads/<id>?digest=<digest>`` answered 201. A blob the registry
  already had is never uploaded (the engine asks first), so it does not count.

The base images are copied into this registry once, so that their download is counted
like any other layer (as on a CI runner whose cache is empty).

The same log says when the registry itself failed (a 5xx answer; see retry.py), and a
variant's repositories can be put back as they were before a run, so that a run can be
run again from the same start.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from testing.access_log import (
    ACCESS_RE,
    JSON_BLOB_LIMIT,
    Traffic,
    is_json_object,
    read_traffic,
)
from testing.registries import MANIFEST_TYPES, LoopbackRegistry

# A field of distribution's own log lines: key=value or key="quoted value".
LOG_FIELD_RE = re.compile(r'(?P<key>[\w.]+)=(?P<value>"(?:[^"\\]|\\.)*"|\S*)')
# Where a repository's tags and blob links live in the registry's storage.
REPOSITORIES = Path("docker/registry/v2/repositories")
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def unquote(value: str) -> str:
    """Return a log field's value without its Go quoting (``"a \\"b\\""`` is ``a "b"``)."""
    if value[:1] != '"':
        return value
    try:
        return str(json.loads(value))
    except ValueError:  # a Go escape JSON lacks (\x00): keep it as written
        return value[1:-1]


def log_fields(line: str) -> dict[str, str]:
    """Return the key=value fields of one of distribution's log lines, unquoted."""
    return {match["key"]: unquote(match["value"]) for match in LOG_FIELD_RE.finditer(line)}


def server_errors(lines: Iterable[str]) -> list[str]:
    """Return each request the registry answered with a 5xx: ``STATUS to METHOD URI: DETAIL``.

    The registry logs a failed request twice: a line of its own log with the error's
    detail, and an access-log line; the detail lines are used when there are any.
    """
    detailed, plain = [], []
    for line in lines:
        fields = log_fields(line)
        status = fields.get("http.response.status", "")
        if status[:1] == "5":
            detail = fields.get("err.detail") or fields.get("err.message") or ""
            method, uri = fields.get("http.request.method"), fields.get("http.request.uri")
            detailed.append(f"{status} to {method} {uri}: {detail}".rstrip(": "))
            continue
        access = ACCESS_RE.search(line)
        if access and access["status"][:1] == "5":
            plain.append(f"{access['status']} to {access['method']} {access['uri']}")
    return detailed or plain


class BenchRegistry:
    """A loopback registry for the benchmark alone, with byte counting."""

    def __init__(self, root: Path, port: int) -> None:
        self.server = LoopbackRegistry(root, port)
        self.log_path = root.parent / f"registry-{port}.log"
        self.snapshots = root.parent / "registry-snapshots"
        self._offset = 0
        self._marked = 0  # where the current run's stretch of the log starts
        self._layers: dict[str, bool] = {}  # digest -> is a layer

    @property
    def address(self) -> str:
        """Return host:port as used in image names."""
        return self.server.address

    def start(self) -> None:
        """Start the registry (fails if the port is taken)."""
        if self.server.answers():
            raise RuntimeError(
                f"port {self.server.port} already has a registry: choose another with --port."
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.server.start()

    def stop(self) -> None:
        """Stop the registry."""
        self.server.stop()

    def mark(self) -> None:
        """Start a new stretch of the access log: later reads see only what follows."""
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._marked = self._offset

    def _read_from(self, offset: int) -> bytes:
        if not self.log_path.exists():
            return b""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read()

    def traffic(self) -> Traffic:
        """Return the blob traffic since the last :meth:`mark` or read, and mark again."""
        data = self._read_from(self._offset)
        self._offset += len(data)
        return read_traffic(data.decode("utf-8", "replace").splitlines())

    def errors(self) -> list[str]:
        """Return the requests answered with a 5xx since the last :meth:`mark`."""
        return server_errors(self._read_from(self._marked).decode("utf-8", "replace").splitlines())

    def _storage(self, repository: str) -> Path:
        return self.server.root / "data" / REPOSITORIES / repository

    def snapshot(self, repository: str) -> None:
        """Keep a copy of what the registry holds for ``repository`` and those under it.

        That is its tags and blob links (a few kB); the blobs themselves are shared and
        content-addressed, and a blob not linked to the repository is not in it.
        """
        saved = self.snapshots / repository
        shutil.rmtree(saved, ignore_errors=True)
        if self._storage(repository).is_dir():
            shutil.copytree(self._storage(repository), saved, symlinks=True)

    def restore(self, repository: str) -> None:
        """Put ``repository`` back as the last :meth:`snapshot` of it found it."""
        shutil.rmtree(self._storage(repository), ignore_errors=True)
        if (self.snapshots / repository).is_dir():
            shutil.copytree(self.snapshots / repository, self._storage(repository), symlinks=True)

    def _request(
        self, path: str, method: str = "GET", data: bytes | None = None, **headers: str
    ) -> tuple[bytes, dict[str, str]]:
        request = urllib.request.Request(
            f"http://{self.address}{path}", data=data, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read(), dict(response.headers.items())

    def blob_size(self, repository: str, digest: str) -> int:
        """Return the size in bytes of a blob of ``repository``."""
        _, headers = self._request(f"/v2/{repository}/blobs/{digest}", method="HEAD")
        return int(headers.get("Content-Length", "0"))

    def is_layer(self, repository: str, digest: str, size: int) -> bool:
        """Return whether a blob is a layer: not a JSON document (an image config).

        Configs are a few kB; a blob up to JSON_BLOB_LIMIT is read (once per digest) and
        is a config if it parses as a JSON object. Call it after the run's traffic was
        read: reading a blob adds to the access log.
        """
        if size > JSON_BLOB_LIMIT:
            return True
        if digest not in self._layers:
            body, _ = self._request(f"/v2/{repository}/blobs/{digest}")
            self._layers[digest] = not is_json_object(body)
        return self._layers[digest]

    def manifest(self, repository: str, reference: str) -> tuple[dict[str, Any], str]:
        """Return the manifest (or index) of ``repository:reference`` and its media type."""
        body, headers = self._request(
            f"/v2/{repository}/manifests/{reference}", Accept=MANIFEST_TYPES
        )
        return json.loads(body), headers.get("Content-Type", "")

    def layer_bytes(self, repository: str, reference: str) -> int:
        """Return the compressed size of an image's layers, from its manifest.

        Of an index, the first manifest for a platform (an attestation has ``unknown``).
        """
        manifest, media_type = self.manifest(repository, reference)
        if media_type in INDEX_TYPES or "manifests" in manifest:
            image = next(
                entry
                for entry in manifest["manifests"]
                if entry.get("platform", {}).get("os", "linux") != "unknown"
            )
            manifest, _ = self.manifest(repository, image["digest"])
        return sum(int(layer["size"]) for layer in manifest["layers"])

    def copy_image(self, source: str, repository: str, tag: str) -> str:
        """Copy ``source`` (``host:port/repo:tag``, plain HTTP) here; return the new ref.

        An image index is copied whole: each of its manifests (and their blobs) by
        digest, then the index's own bytes under ``tag``, so every digest stays the same.
        """
        host, _, rest = source.partition("/")
        src_repo, _, src_tag = rest.rpartition(":")
        base = f"http://{host}/v2/{src_repo}"
        manifest_bytes, media_type = read_manifest(base, src_tag)
        manifest = json.loads(manifest_bytes)
        for entry in manifest.get("manifests", []):
            child_bytes, child_type = read_manifest(base, entry["digest"])
            self._copy_blobs(base, repository, json.loads(child_bytes))
            self._put_manifest(repository, entry["digest"], child_bytes, child_type)
        if "manifests" not in manifest:
            self._copy_blobs(base, repository, manifest)
        self._put_manifest(repository, tag, manifest_bytes, media_type)
        return f"{self.address}/{repository}:{tag}"

    def _put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> None:
        self._request(
            f"/v2/{repository}/manifests/{reference}",
            method="PUT",
            data=body,
            **{"Content-Type": media_type},
        )

    def _copy_blobs(self, base: str, repository: str, manifest: dict[str, Any]) -> None:
        """Upload an image manifest's config and layers, read from ``base``, to ``repository``."""
        if "layers" not in manifest:
            raise RuntimeError(f"{base}: {manifest.get('mediaType')} is not an image manifest")
        for blob in [manifest["config"], *manifest["layers"]]:
            digest = blob["digest"]
            with urllib.request.urlopen(f"{base}/blobs/{digest}", timeout=600) as response:
                content = response.read()
            _, headers = self._request(f"/v2/{repository}/blobs/uploads/", method="POST")
            location = headers["Location"]
            separator = "&" if "?" in location else "?"
            if not location.startswith("http"):
                location = f"http://{self.address}{location}"
            put = urllib.request.Request(
                f"{location}{separator}digest={digest}",
                data=content,
                method="PUT",
                headers={"Content-Type": "application/octet-stream"},
            )
            urllib.request.urlopen(put, timeout=600).close()


def read_manifest(base: str, reference: str) -> tuple[bytes, str]:
    """Return the bytes and media type of the manifest ``base/manifests/reference``."""
    request = urllib.request.Request(
        f"{base}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read(), response.headers.get("Content-Type", "")
