"""Bridges for the test daemons: a name and a /24 nothing on the machine uses, per process.

The choice is pure and tested from given interfaces and routes; the last tests claim real
bridges (root and ``ip`` needed, no Docker), from concurrent processes too.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testing.checks import require
from testing.network import (
    BRIDGE_POOL,
    Bridge,
    bridge_name,
    choose_bridge,
    claim_bridge,
    free_subnet,
    release_bridge,
    stale_bridges,
    used_networks,
)

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def net(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def test_the_first_bridge_of_a_process_takes_the_pools_first_24() -> None:
    assert choose_bridge(4242, [], []) == Bridge("stl4242-0", "172.16.0.1/24")


def test_a_bridge_skips_used_names_and_every_24_an_address_or_route_overlaps() -> None:
    used_names = ["lo", "docker0", "stl4242-0", "stl4242-1", "stl77-2"]
    used = [net("172.16.0.0/23"), net("172.16.2.128/25"), net("172.17.0.0/16")]
    assert choose_bridge(4242, used_names, used) == Bridge("stl4242-2", "172.16.3.1/24")


def test_a_wider_route_over_the_pool_leaves_nothing_and_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match=r"every /24 of 172\.16\.0\.0/16 overlaps.*ip link"):
        free_subnet([net("172.16.0.0/12")])


def test_a_subnet_comes_from_the_pool_given() -> None:
    assert free_subnet([net("10.9.0.0/24")], net("10.9.0.0/22")) == net("10.9.1.0/24")
    assert free_subnet([], BRIDGE_POOL).subnet_of(BRIDGE_POOL)


def test_a_name_fits_linux_interface_names_or_is_refused() -> None:
    assert bridge_name(4194304, {f"stl4194304-{n}" for n in range(1000)}) == "stl4194304-1000"
    with pytest.raises(RuntimeError, match="test bridges"):
        bridge_name(4194304, {f"stl4194304-{n}" for n in range(10000)})


def test_used_networks_reads_ipv4_addresses_and_routes_but_not_the_default_route() -> None:
    addresses = [
        {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
        {
            "ifname": "eth0",
            "addr_info": [
                {"family": "inet", "local": "192.0.2.2", "prefixlen": 24},
                {"family": "inet6", "local": "fd00::2", "prefixlen": 64},
            ],
        },
        {"ifname": "ifb0", "addr_info": []},
        {"ifname": "docker9"},
    ]
    routes = [
        {"dst": "default", "gateway": "192.0.2.1"},
        {"dst": "0.0.0.0/0", "dev": "wg0"},
        {"dst": "172.25.0.0/24", "dev": "docker9"},
        {"dst": "10.8.0.1", "dev": "tun0"},
    ]
    assert used_networks(addresses, routes) == [
        net("127.0.0.0/8"),
        net("192.0.2.0/24"),
        net("172.25.0.0/24"),
        net("10.8.0.1/32"),
    ]


def test_stale_bridges_are_test_bridges_of_gone_processes_that_no_daemon_uses() -> None:
    names = ["lo", "docker9", "stl10-0", "stl10-1", "stl20-0", "stl30-0", "stlx-0", "stl40"]
    assert stale_bridges(names, live_pids={20}, busy={"stl30-0"}) == ["stl10-0", "stl10-1"]


def ipv4_of(name: str) -> list[str]:
    """Return the IPv4 addresses (with prefix) of interface ``name``; [] when it is gone."""
    result = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", name], capture_output=True)
    if result.returncode:
        return []
    links = json.loads(result.stdout or b"[]")
    return [f"{a['local']}/{a['prefixlen']}" for link in links for a in link["addr_info"]]


@pytest.fixture
def may_add_bridges() -> None:
    if os.geteuid() != 0:
        require("claiming a bridge needs root", "run the tests as root")


@pytest.mark.usefixtures("may_add_bridges")
def test_a_claimed_bridge_exists_with_its_address_until_it_is_released() -> None:
    first, second = claim_bridge(), claim_bridge()
    try:
        assert first.name != second.name
        assert first.cidr != second.cidr
        assert ipv4_of(first.name) == [first.cidr]
        assert ipv4_of(second.name) == [second.cidr]
    finally:
        release_bridge(first.name)
        release_bridge(second.name)
    assert ipv4_of(first.name) == ipv4_of(second.name) == []


CLAIM_AND_HOLD = """\
import sys
from testing.network import claim_bridge
bridge = claim_bridge()
print(bridge.name, bridge.cidr, flush=True)
sys.stdin.read()
"""


@pytest.mark.usefixtures("may_add_bridges")
def test_concurrent_processes_claim_different_bridges_and_release_them_at_exit() -> None:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM_AND_HOLD],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    claimed = []
    for process in processes:
        assert process.stdout is not None
        claimed.append(Bridge(*process.stdout.readline().split()))
    try:
        assert len({bridge.name for bridge in claimed}) == 4, claimed
        assert len({bridge.cidr for bridge in claimed}) == 4, claimed
        for bridge in claimed:
            assert ipv4_of(bridge.name) == [bridge.cidr]
    finally:
        for process in processes:
            process.communicate("", timeout=30)
    assert [process.returncode for process in processes] == [0, 0, 0, 0]
    assert [ipv4_of(bridge.name) for bridge in claimed] == [[], [], [], []]
