"""Loopback ports and Linux bridges, given out per run: two runs on one machine never collide.

Registries take a free loopback port (``checks.free_port``) when they are made, and keep
it across a stop and start. Each further dockerd gets a Linux bridge of its own (dockerd
creates none with ``--iptables=false``): ``claim_bridge`` names it after this process
(``stl<pid>-<n>``), gives it a /24 of BRIDGE_POOL that no interface or route of the
machine uses, and creates it under a lock file, so that concurrent runs pick different
ones; ``release_bridge`` deletes it (at exit too). A claim first deletes the bridges of
runs that died without deleting theirs. The main engine keeps ``docker0`` (172.17.0.0/16)
and the loopback registry of ``.ci/start-services`` port 5000.
"""

from __future__ import annotations

import atexit
import fcntl
import ipaddress
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

# Docker hands out 172.17-31.0.0/16 and 192.168.0.0/16 to its own networks (compose's
# included) by default, never 172.16.0.0/16: the test bridges take their /24s from it.
BRIDGE_POOL = ipaddress.IPv4Network("172.16.0.0/16")
BRIDGE_NAME = re.compile(r"stl(\d+)-(\d+)")
MAX_INTERFACE_NAME = 15  # Linux's IFNAMSIZ less the final NUL
LOCK_NAME = "stageline-bridges.lock"


class Bridge(NamedTuple):
    """A Linux bridge and the address (with prefix) its daemon's containers route through."""

    name: str
    cidr: str


def bridge_name(pid: int, used: Collection[str]) -> str:
    """Return the first ``stl<pid>-<n>`` that is not in ``used``."""
    index = 0
    while f"stl{pid}-{index}" in used:
        index += 1
    name = f"stl{pid}-{index}"
    if len(name) > MAX_INTERFACE_NAME:
        raise RuntimeError(f"process {pid} has {index} test bridges; release some first")
    return name


def free_subnet(
    used: Iterable[ipaddress.IPv4Network], pool: ipaddress.IPv4Network = BRIDGE_POOL
) -> ipaddress.IPv4Network:
    """Return the first /24 of ``pool`` that overlaps none of the networks ``used``."""
    taken = list(used)
    for subnet in pool.subnets(new_prefix=24):
        if not any(subnet.overlaps(network) for network in taken):
            return subnet
    raise RuntimeError(
        f"every /24 of {pool} overlaps an address or route of this machine (`ip addr`, "
        "`ip route`): delete the test bridges left there (`ip link delete stl...`)"
    )


def choose_bridge(
    pid: int,
    used_names: Collection[str],
    used_networks: Iterable[ipaddress.IPv4Network],
    pool: ipaddress.IPv4Network = BRIDGE_POOL,
) -> Bridge:
    """Return a bridge of process ``pid`` whose name and /24 nothing on the machine uses."""
    subnet = free_subnet(used_networks, pool)
    return Bridge(bridge_name(pid, used_names), f"{subnet.network_address + 1}/24")


def used_networks(
    addresses: Iterable[Mapping[str, Any]], routes: Iterable[Mapping[str, Any]]
) -> list[ipaddress.IPv4Network]:
    """Return the IPv4 networks of ``ip -j addr`` interfaces and ``ip -j route`` routes.

    A default route (``default``, or any /0) is left out: it overlaps every network.
    """
    addressed = [
        ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
        for link in addresses
        for info in link.get("addr_info", [])
        if info.get("family") == "inet"
    ]
    destinations = [str(route.get("dst", "default")) for route in routes]
    routed = [ipaddress.IPv4Network(d, strict=False) for d in destinations if d != "default"]
    return addressed + [network for network in routed if network.prefixlen > 0]


def stale_bridges(
    names: Iterable[str], live_pids: Collection[int], busy: Collection[str]
) -> list[str]:
    """Return the test bridges among ``names`` whose process is gone and no daemon uses.

    ``busy`` are bridges some running process was started with (``--bridge=NAME``): a
    dockerd that outlived a killed test run keeps its bridge until it is stopped.
    """
    stale = []
    for name in names:
        found = BRIDGE_NAME.fullmatch(name)
        if found and int(found.group(1)) not in live_pids and name not in busy:
            stale.append(name)
    return stale


def _ip_json(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True)
    return list(json.loads(result.stdout or "[]"))


def _command_lines() -> dict[int, str]:
    """Return every running process's command line, by pid."""
    lines = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue  # it ended meanwhile
    return lines


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def release_bridge(name: str) -> None:
    """Delete the bridge ``name`` if it exists (its daemon must have stopped)."""
    _ip("link", "delete", name, "type", "bridge")


def _create_bridge(bridge: Bridge) -> None:
    for args in (
        ("link", "add", "name", bridge.name, "type", "bridge"),
        ("addr", "add", bridge.cidr, "dev", bridge.name),
        ("link", "set", bridge.name, "up"),
    ):
        result = _ip(*args)
        if result.returncode:
            release_bridge(bridge.name)
            raise RuntimeError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


@contextmanager
def _bridges_locked() -> Iterator[None]:
    """Hold the machine-wide lock that makes choosing and creating a bridge one step."""
    folder = Path("/run/lock")
    lock = (folder if folder.is_dir() else Path(tempfile.gettempdir())) / LOCK_NAME
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def claim_bridge() -> Bridge:
    """Create a bridge of this process on a free /24, deleted at exit if not released before.

    Needs root. Bridges of test runs that died are deleted first.
    """
    with _bridges_locked():
        commands = _command_lines()
        busy = set(re.findall(r"--bridge=([^\0]+)", "\0".join(commands.values())))
        names = [link["ifname"] for link in _ip_json("link", "show")]
        for name in stale_bridges(names, commands.keys(), busy):
            release_bridge(name)
        networks = used_networks(
            _ip_json("-4", "addr"), _ip_json("-4", "route", "show", "table", "all")
        )
        bridge = choose_bridge(os.getpid(), names, networks)
        _create_bridge(bridge)
    atexit.register(release_bridge, bridge.name)
    return bridge
