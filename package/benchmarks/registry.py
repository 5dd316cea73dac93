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
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from testing.access_log import JSON_BLOB_LIMIT, Traffic, is_json_object, read_traffic
from testing.registries import MANIFEST_TYPES, LoopbackRegistry

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


class BenchRegistry:
    """A loopback registry for the benchmark alone, with byte counting."""

    def __init__(self, root: Path, port: int) -> None:
        self.server = LoopbackRegistry(root, port)
        self.log_path = root.parent / f"registry-{port}.log"
        self._offset = 0
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
        """Copy ``source`` (``host:port/repo:tag``, plain HTTP) here; return the new ref."""
        host, _, rest = source.partition("/")
        src_repo, _, src_tag = rest.rpartition(":")
        base = f"http://{host}/v2/{src_repo}"
        request = urllib.request.Request(
            f"{base}/manifests/{src_tag}", headers={"Accept": MANIFEST_TYPES}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            manifest_bytes = response.read()
            media_type = response.headers.get("Content-Type", "")
        manifest = json.loads(manifest_bytes)
        if "layers" not in manifest:
            raise RuntimeError(f"{source} is not a single-platform image manifest")
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
        self._request(
            f"/v2/{repository}/manifests/{tag}",
            method="PUT",
            data=manifest_bytes,
            **{"Content-Type": media_type},
        )
        return f"{self.address}/{repository}:{tag}"
