"""Docker daemons of the tests' own, and the checks that an engine answers.

``Daemon`` is a dockerd with its own socket, bridge, config, data root and containerd
namespace; ``running`` starts one for a ``with`` block and deletes it after. Its bridge
is claimed when it first starts and deleted when it stops (network.py). The empty-cache
runner (runners.py) and the TLS daemon (tls_daemon.py) build on it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import docker
from docker.constants import MINIMUM_DOCKER_API_VERSION
from docker.errors import DockerException

from stageline.engine import negotiated_version
from testing.checks import require
from testing.network import Bridge, claim_bridge, release_bridge


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

    Without a ``bridge`` it claims one of its own on its first start (a free name and /24,
    network.claim_bridge), keeps it across ``halt`` and ``start``, and deletes it on
    ``stop``; a given bridge is created if missing and kept. Builds on it need the host's
    network (``STAGELINE_BUILD_NETWORK=host``): without iptables its bridge has no NAT.
    Subclasses change how it listens.
    """

    def __init__(
        self,
        root: Path,
        bridge: Bridge | None = None,
        *,
        snapshotter: bool = True,
    ) -> None:
        self.root = root
        self.bridge = bridge
        self.owns_bridge = bridge is None
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

    def _ensure_bridge(self) -> str:
        """Return the name of this daemon's bridge, up; claim or create it first if need be."""
        if self.bridge is None:
            self.bridge = claim_bridge()
        name = self.bridge.name
        if subprocess.run(["ip", "link", "show", name], capture_output=True).returncode:
            subprocess.run(["ip", "link", "add", "name", name, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", self.bridge.cidr, "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        return name

    def _config_file(self) -> Path:
        """Write this daemon's daemon.json (never the machine's /etc/docker/daemon.json)."""
        config = self.root / "daemon.json"
        features = {"containerd-snapshotter": self.snapshotter}
        config.write_text(json.dumps({"features": features}, indent=2) + "\n")
        return config

    def start(self) -> None:
        """Start the daemon and wait until it answers with the image store asked for."""
        self.root.mkdir(parents=True, exist_ok=True)
        bridge = self._ensure_bridge()
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
                f"--bridge={bridge}",
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
        """Stop the daemon and its containerd, and delete the bridge it claimed (not its data)."""
        self.halt()
        if self.owns_bridge and self.bridge is not None:
            release_bridge(self.bridge.name)
            self.bridge = None

    def halt(self) -> None:
        """Stop the daemon and its containerd; keep its bridge and data for the next start."""
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
    """Start ``daemon``, yield it, then stop it and delete its data (a failed start too)."""
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(daemon.root, ignore_errors=True)


@contextmanager
def own_daemon(
    make: Callable[[Path], D], user: str, tools: tuple[str, ...] = ("dockerd",)
) -> Iterator[D]:
    """Run the daemon ``make(root)`` of ``user`` (e.g. "faults runner"), on a bridge of its own.

    Its root is a fresh folder under /tmp, deleted afterwards with its bridge. Without root
    or ``tools`` the test skips, or fails when CI is set.
    """
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not is_root() or missing:
        require(f"the {user} needs root and {', '.join(tools)}", "run .ci/install-packages as root")
    root = Path("/tmp") / f"stageline-{user.replace(' ', '-')}-{uuid.uuid4().hex[:8]}"
    with running(make(root)) as daemon:
        yield daemon


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
