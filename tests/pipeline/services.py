"""Real services for the pipeline tests: an empty-cache runner daemon and registries.

``EmptyRunner`` is a second Docker daemon with its own config, data root and containerd
(namespace), standing for a CI runner whose cache is empty. ``LoopbackRegistry`` is a
CNCF registry on a loopback port, optionally with htpasswd auth, that a test may stop and
start again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import docker
from docker.constants import MINIMUM_DOCKER_API_VERSION
from docker.errors import APIError, DockerException

from stageline.engine import negotiated_version

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def negotiated_api(**kwargs: Any) -> docker.APIClient:
    """Return an APIClient with the API version negotiated as the tasks negotiate it.

    docker-py's ``version="auto"`` asks the daemon before ``trust_env`` can be turned
    off, so REQUESTS_CA_BUNDLE would apply to that first request to a TLS daemon.
    """
    probe = docker.APIClient(version=MINIMUM_DOCKER_API_VERSION, **kwargs)
    probe.trust_env = False
    try:
        version = negotiated_version(probe.version(api_version=False))
    finally:
        probe.close()
    api = docker.APIClient(version=version, **kwargs)
    api.trust_env = False
    return api


def wait_for(check: object, seconds: float, what: str) -> None:
    """Call ``check`` until it returns true, or raise naming ``what``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # noqa: BLE001 - anything means "not yet"
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")


# Where a containerd the machine runs itself listens: dockerd uses it when it exists.
SYSTEM_CONTAINERD = Path("/run/containerd/containerd.sock")
SNAPSHOTTER_TYPE = "io.containerd.snapshotter.v1"


class Daemon:
    """A dockerd of a test's own: socket, bridge, config, data and exec roots; no iptables.

    With ``snapshotter`` (the default) it keeps images in the containerd image store, as
    Docker 29 does by default; without, in the classic overlay2 store. Started with a data
    and exec root and no ``--containerd``, dockerd 26 starts a containerd of its own under
    them (root ``data/containerd/daemon``, socket ``exec/containerd/containerd.sock``),
    unless a system containerd listens on ``/run/containerd/containerd.sock``: then it
    uses that one. The daemon's own containerd namespace keeps its images, snapshots and
    build cache apart from every other daemon's in either case.

    Builds on it need the host's network (``STAGELINE_BUILD_NETWORK=host``): without
    iptables its bridge has no NAT. Subclasses change how it listens.
    """

    def __init__(
        self,
        root: Path,
        bridge: str = "docker1",
        cidr: str = "172.29.0.1/24",
        *,
        snapshotter: bool = True,
    ) -> None:
        self.root = root
        self.bridge = bridge
        self.cidr = cidr
        self.snapshotter = snapshotter
        self.namespace = f"stageline-{root.name}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        """Return the DOCKER_HOST value that reaches this daemon."""
        return f"unix://{self.root / 'docker.sock'}"

    @property
    def containerd_address(self) -> Path:
        """Return the socket of the containerd this daemon uses."""
        managed = self.root / "exec" / "containerd" / "containerd.sock"
        return managed if managed.exists() or not SYSTEM_CONTAINERD.exists() else SYSTEM_CONTAINERD

    def listen_args(self) -> list[str]:
        """Return the dockerd arguments that say where and how it listens."""
        return ["-H", self.docker_host]

    def client_kwargs(self) -> dict[str, Any]:
        """Return the docker SDK client arguments that reach this daemon."""
        return {"base_url": self.docker_host}

    def api(self) -> docker.APIClient:
        """Return a low-level client of this daemon that ignores requests' environment."""
        return negotiated_api(timeout=300, **self.client_kwargs())

    def client(self) -> docker.DockerClient:
        """Return a client of this daemon that ignores requests' environment."""
        api = self.api()
        client = docker.DockerClient(version=api.api_version, timeout=300, **self.client_kwargs())
        client.api.trust_env = False
        api.close()
        return client

    def driver_type(self) -> str:
        """Return the image store's driver type: SNAPSHOTTER_TYPE or "" (classic store)."""
        status = dict(self.api().info().get("DriverStatus") or [])
        return str(status.get("driver-type", ""))

    def _ensure_bridge(self) -> None:
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode:
            subprocess.run(["ip", "link", "add", "name", self.bridge, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", self.cidr, "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)

    def _config_file(self) -> Path:
        """Write this daemon's daemon.json (never the machine's /etc/docker/daemon.json)."""
        config = self.root / "daemon.json"
        features = {"containerd-snapshotter": self.snapshotter}
        config.write_text(json.dumps({"features": features}, indent=2) + "\n")
        return config

    def start(self) -> None:
        """Start the daemon and wait until it answers with the image store asked for."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._ensure_bridge()
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            [
                "dockerd",
                *self.listen_args(),
                "--config-file", str(self._config_file()),
                "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"),
                "--pidfile", str(self.root / "docker.pid"),
                "--containerd-namespace", self.namespace,
                "--containerd-plugins-namespace", f"{self.namespace}-plugins",
                f"--bridge={self.bridge}",
                "--iptables=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: self.api().ping(), 60, f"the daemon at {self.docker_host}")
        want = SNAPSHOTTER_TYPE if self.snapshotter else ""
        found = self.driver_type()
        if found != want:
            self.stop()
            raise RuntimeError(
                f"the daemon at {self.docker_host} has driver-type {found or 'classic'!r}, not "
                f"{want or 'classic'!r}: see {self.root / 'dockerd.log'}"
            )

    def stop(self) -> None:
        """Stop the daemon and its containerd (its data is left for the next start)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        # dockerd stops the containerd it started; one a killed dockerd left goes too.
        self._stop_managed_containerd()
        # dockerd leaves its network namespace file mounted; unmount it so the root can go.
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for point in sorted((m for m in mounts if m.startswith(f"{self.root}/")), reverse=True):
            subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)

    def _stop_managed_containerd(self) -> None:
        try:
            pid = int((self.root / "exec" / "containerd" / "containerd.pid").read_text())
            if Path(f"/proc/{pid}/comm").read_text().strip() != "containerd":
                return
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.2)
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)


D = TypeVar("D", bound=Daemon)


@contextmanager
def running(daemon: D) -> Iterator[D]:
    """Start ``daemon``, yield it, then stop it and delete its data."""
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(daemon.root, ignore_errors=True)


class EmptyRunner(Daemon):
    """A CI runner whose Docker cache is empty: purge() removes every container and image."""

    def purge(self) -> None:
        """Empty every cache: containers, images, BuildKit's build cache and layer origins.

        Images are the classic builder's cache; BuildKit keeps its own beside them; and
        the engine remembers which repository each layer came from (a later push would
        mount instead of upload). With the containerd store all three live in the
        daemon's containerd namespace (layer origins as labels on content blobs): it
        must end with no image, blob, snapshot or lease. A fresh CI runner has none.
        """
        client = self.client()
        self._remove_all(client)
        client.api.prune_builds(all=True)
        if self.snapshotter:
            self._empty_containerd()
            return
        distribution = self.root / "data" / "image" / "overlay2" / "distribution"
        for kind in ("diffid-by-digest", "v2metadata-by-diffid"):
            shutil.rmtree(distribution / kind, ignore_errors=True)

    def ctr(self, namespace: str, *args: str) -> list[str]:
        """Return the output lines of ``ctr ARGS`` in ``namespace`` of this daemon's containerd."""
        command = ["ctr", "--address", str(self.containerd_address), "--namespace", namespace]
        result = subprocess.run([*command, *args], capture_output=True, text=True, check=True)
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    def containerd_leftovers(self) -> dict[str, list[str]]:
        """Return what this daemon's containerd namespaces still hold, by kind."""
        left: dict[str, list[str]] = {}
        for namespace in self.ctr("default", "namespaces", "list", "--quiet"):
            if namespace != self.namespace and not namespace.startswith(f"{self.namespace}_"):
                continue  # another daemon's, on a shared system containerd
            for kind in ("leases", "images", "content"):
                left.update({f"{namespace} {kind}": self.ctr(namespace, kind, "ls", "--quiet")})
            rows = self.ctr(namespace, "snapshots", "ls")[1:]  # KEY PARENT KIND, a header first
            left[f"{namespace} snapshots"] = [row.split()[0] for row in rows]
        return {kind: items for kind, items in left.items() if items}

    def _empty_containerd(self) -> None:
        """Delete what removing every image and pruning left in containerd, then check."""
        for where, items in self.containerd_leftovers().items():
            namespace, kind = where.split()
            if kind == "snapshots":
                continue  # they go with the leases and images that hold them
            verb = "delete" if kind == "leases" else "rm"
            self.ctr(namespace, kind, verb, *items)
        for _ in range(20):  # containerd collects garbage asynchronously
            left = self.containerd_leftovers()
            if not left:
                return
            time.sleep(0.25)
        raise AssertionError(f"purge left containerd content behind: {left}")

    @staticmethod
    def _remove_all(client: docker.DockerClient) -> None:
        for container in client.containers.list(all=True):
            container.remove(force=True)
        # Children before parents: repeat until nothing is left (or nothing moves).
        for _ in range(20):
            images = client.images.list(all=True)
            if not images:
                return
            for image in images:
                try:
                    client.images.remove(image.id, force=True)
                except APIError as exc:
                    if exc.status_code not in (404, 409):
                        raise
        remaining = client.images.list(all=True)
        assert remaining == [], f"purge left images behind: {remaining}"

    def image_ids(self) -> set[str]:
        """Return the IDs of every image on this daemon."""
        return {image.id for image in self.client().images.list(all=True)}


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
    ):
        self.root = root
        self.port = port
        self.user = user
        self.password = password
        self.auth_lines = auth_lines  # an ``auth:`` section, e.g. a token issuer's
        self.log_level = log_level  # "info" logs each request (an access log)
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
            "  delete: {enabled: true}",
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

    def start(self) -> None:
        """Start the registry and wait until it answers."""
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [binary, "serve", str(self._config())],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.answers, 30, f"the registry on port {self.port}")

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


def engine_available(docker_host: str | None = None) -> str | None:
    """Return None if a daemon answers, else the reason it does not."""
    try:
        kwargs = {"base_url": docker_host} if docker_host else {}
        negotiated_api(timeout=10, **kwargs).ping()
    except (DockerException, OSError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def is_root() -> bool:
    """Return whether this process may start daemons and bridges."""
    return os.geteuid() == 0
