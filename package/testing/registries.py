"""CNCF registries on loopback ports, and reads of what a registry holds.

``LoopbackRegistry`` is a real registry (distribution) with its own storage, optionally
behind htpasswd auth or a token issuer (token_service.py), that a test may stop and start
again. ``RegistryPool`` starts them for a test module and stops them all at its end. The
read helpers ask the registry's HTTP API itself, never Stageline's report.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from testing.checks import free_port, require
from testing.daemons import wait_for

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


class LoopbackRegistry:
    """A CNCF registry on 127.0.0.1:PORT with its own storage; auth is optional."""

    def __init__(
        self,
        root: Path,
        port: int,
        user: str | None = None,
        password: str | None = None,
        auth_lines: list[str] | None = None,
        log_level: str = "warn",
        delete_enabled: bool = True,
    ):
        self.root = root
        self.port = port
        self.user = user
        self.password = password
        self.auth_lines = auth_lines  # an ``auth:`` section, e.g. a token issuer's
        self.log_level = log_level  # "info" logs each request (an access log)
        self.delete_enabled = delete_enabled  # False: DELETE answers 405 UNSUPPORTED
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """Return host:port as used in image names."""
        return f"localhost:{self.port}"

    def _config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        lines = [
            "version: 0.1",
            f"log: {{level: {self.log_level}}}",
            "storage:",
            f"  filesystem: {{rootdirectory: {self.root / 'data'}}}",
            f"  delete: {{enabled: {str(self.delete_enabled).lower()}}}",
            f"http: {{addr: '127.0.0.1:{self.port}'}}",
        ]
        if self.user and self.password:
            htpasswd = self.root / "htpasswd"
            result = subprocess.run(
                ["htpasswd", "-Bbn", self.user, self.password],
                capture_output=True,
                text=True,
                check=True,
            )
            htpasswd.write_text(result.stdout)
            lines += ["auth:", "  htpasswd:", "    realm: stageline", f"    path: {htpasswd}"]
        elif self.auth_lines:
            lines += self.auth_lines
        config = self.root / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        return config

    @property
    def log_path(self) -> Path:
        """Return the file the registry logs to."""
        return self.root.parent / f"registry-{self.port}.log"

    def answers(self) -> bool:
        """Return whether the registry's API answers (401 counts: it is up)."""
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=2)
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except OSError:
            return False
        return True

    def serving(self) -> bool:
        """Return whether this registry's own process runs and its API answers."""
        return self.process is not None and self.process.poll() is None and self.answers()

    def start(self) -> None:
        """Start the registry and wait until it answers."""
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        if port_in_use(self.port):
            raise RuntimeError(f"127.0.0.1:{self.port} is taken: the registry cannot start there")
        config = self._config()  # creates the root, beside which the log goes
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.serving, 30, f"the registry on port {self.port} (log: {self.log_path})")

    def stop(self) -> None:
        """Stop the registry (its storage is kept)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None


def manifest_digest(registry: str, repository: str, tag: str) -> str | None:
    """Return the digest the registry holds for ``repository:tag``, or None."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": MANIFEST_TYPES},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            digest: str | None = response.headers.get("Docker-Content-Digest")
            return digest
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def registry_tags(registry: str, repository: str) -> set[str]:
    """Return every tag of ``repository`` in the registry."""
    try:
        with urllib.request.urlopen(
            f"http://{registry}/v2/{repository}/tags/list", timeout=10
        ) as response:
            return set(json.load(response).get("tags") or [])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return set()
        raise


def port_in_use(port: int) -> bool:
    """Return whether something listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RegistryPool:
    """Registries started under ``folder`` for one test module; ``stop_all`` at its end.

    Each takes a free loopback port when it is made, and keeps it when a test stops and
    starts it. A missing docker-registry (or htpasswd, for auth) skips the test, or fails
    it with CI set.
    """

    def __init__(self, folder: Path) -> None:
        if shutil.which("docker-registry") is None and shutil.which("registry") is None:
            require("docker-registry is not installed", "apt-get install docker-registry")
        self.folder = folder
        self.started: list[LoopbackRegistry] = []

    def start(self, **options: Any) -> LoopbackRegistry:
        """Start a registry (``options`` as LoopbackRegistry takes them) and return it."""
        if options.get("user") and shutil.which("htpasswd") is None:
            require("htpasswd is not installed", "apt-get install apache2-utils")
        port = free_port()
        root = self.folder / str(len(self.started)) / "registry"  # log: beside root
        registry = LoopbackRegistry(root, port, **options)
        registry.start()
        self.started.append(registry)
        return registry

    def stop_all(self) -> None:
        """Stop every registry this pool started."""
        for registry in self.started:
            registry.stop()


def manifest(registry: str, repository: str, tag: str) -> dict[str, Any]:
    """Return the manifest the registry serves for ``repository:tag``, with its digest."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        document = dict(json.load(response))
        document["_digest"] = response.headers.get("Docker-Content-Digest")
        return document


def image_manifests(registry: str, repository: str, tag: str) -> list[dict[str, Any]]:
    """Return the image manifests of a tag: itself, or every one an image index lists.

    With the containerd image store a push writes an index (image plus attestations).
    """
    document = manifest(registry, repository, tag)
    children = [child["digest"] for child in document.get("manifests", [])]
    return [manifest(registry, repository, child) for child in children] or [document]


def blob_present(registry: str, repository: str, digest: str) -> bool:
    """Return whether the registry has the whole blob ``digest`` of ``repository``."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/blobs/{digest}", method="HEAD"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
    except urllib.error.HTTPError:
        return False
    return status == 200


def whole_tags(registry: str, repository: str) -> set[str]:
    """Return the repository's tags, asserting each one's manifest and blobs all resolve."""
    tags = registry_tags(registry, repository)
    for tag in tags:
        for document in image_manifests(registry, repository, tag):
            digests = [document["config"]["digest"], *(lay["digest"] for lay in document["layers"])]
            missing = [d for d in digests if not blob_present(registry, repository, d)]
            assert missing == [], f"{repository}:{tag} names blobs the registry lacks: {missing}"
    return tags


def image_ids(registry: str, repository: str, tag: str) -> set[str]:
    """Return the digests an engine may use as the ID of the image ``repository:tag`` holds.

    The classic image store's image ID is the config digest; the containerd store's is
    the digest of the manifest (or index) itself.
    """
    ids = {str(manifest(registry, repository, tag)["_digest"])}
    return ids | {
        str(doc["config"]["digest"]) for doc in image_manifests(registry, repository, tag)
    }
