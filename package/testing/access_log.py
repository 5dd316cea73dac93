"""The CNCF registry's access log: which blobs crossed it, read from the registry itself.

Distribution 2.8 writes one combined-log-format line per request (on by default), with
the response's size in bytes. A blob download is ``GET /v2/<repo>/blobs/<digest>``
answered 200; a completed upload is ``PUT /v2/<repo>/blobs/uploads/<id>?digest=<digest>``
answered 201 (a blob the registry already has is never uploaded). The pipeline tests and
the benchmark read what moved here, never from Stageline's own report.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from testing.checks import require

# 127.0.0.1 - - [date] "GET /v2/x/blobs/sha256:... HTTP/1.1" 200 1234 "" "docker/20.10"
ACCESS_RE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) (?P<size>\d+|-)'
)
BLOB_GET_RE = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
UPLOAD_PUT_RE = re.compile(r"^/v2/(?P<repo>.+)/blobs/uploads/[^/?]+$")
# Image configs are a few kB; a blob larger than this is taken for a layer unread.
JSON_BLOB_LIMIT = 1_000_000


@dataclass
class Traffic:
    """Blobs that crossed the registry in one stretch of its access log."""

    pulled_bytes: int = 0
    pulled_blobs: int = 0
    # (repository, digest, bytes) of every blob download, in order.
    downloads: list[tuple[str, str, int]] = field(default_factory=list)
    # (repository, digest) of every completed upload, in order.
    uploads: list[tuple[str, str]] = field(default_factory=list)


def read_traffic(lines: list[str]) -> Traffic:
    """Return the blob downloads and completed uploads in ``lines`` of the access log."""
    traffic = Traffic()
    for line in lines:
        match = ACCESS_RE.search(line)
        if not match:
            continue
        url = urllib.parse.urlsplit(match["uri"])
        status = int(match["status"])
        blob = BLOB_GET_RE.match(url.path)
        if match["method"] == "GET" and status == 200 and blob:
            size = int(match["size"]) if match["size"] != "-" else 0
            traffic.pulled_bytes += size
            traffic.pulled_blobs += 1
            traffic.downloads.append((blob["repo"], blob["digest"], size))
        elif match["method"] == "PUT" and status == 201:
            upload = UPLOAD_PUT_RE.match(url.path)
            digest = urllib.parse.parse_qs(url.query).get("digest", [""])[0]
            if upload and digest:
                traffic.uploads.append((upload["repo"], digest))
    return traffic


def is_json_object(content: bytes) -> bool:
    """Return whether ``content`` is a JSON object (a config), not a compressed layer."""
    if content.lstrip()[:1] != b"{":
        return False
    try:
        return isinstance(json.loads(content), dict)
    except ValueError:
        return False


class AccessLogMark:
    """The loopback registry's access log (STAGELINE_TEST_REGISTRY_LOG), read from a mark on."""

    def __init__(self) -> None:
        path = os.environ.get("STAGELINE_TEST_REGISTRY_LOG")
        if not path or not Path(path).is_file():
            require("STAGELINE_TEST_REGISTRY_LOG names no file", "source .ci/env")
        self.path = Path(path)
        self.offset = self.path.stat().st_size

    def lines(self, repository: str) -> list[str]:
        """Return the access-log lines of ``repository`` (and those under it) since the mark."""
        with self.path.open("rb") as log:
            log.seek(self.offset)
            lines = log.read().decode("utf-8", "replace").splitlines()
        return [line for line in lines if f"/v2/{repository}/" in line]
