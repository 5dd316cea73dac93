"""Where every test daemon and registry listens: one table, so no two collide.

Each further dockerd gets a Linux bridge and subnet of its own (dockerd creates neither
with ``--iptables=false``; ``Daemon`` adds the bridge). The main engine keeps ``docker0``
(172.17.0.0/16) and the loopback registry of ``.ci/start-services`` port 5000.
.ci/README.md shows the same table for people.
"""

from __future__ import annotations

from typing import NamedTuple


class Bridge(NamedTuple):
    """A Linux bridge and the address (with prefix) its daemon's containers route through."""

    name: str
    cidr: str


# Who uses which bridge; a new daemon takes the next free row.
BRIDGES = {
    "pipeline runner": Bridge("docker1", "172.29.0.1/24"),  # tests/pipeline
    "tls daemon": Bridge("docker2", "172.30.0.1/24"),  # tests/gitlab
    "gitlab runner": Bridge("docker3", "172.31.0.1/24"),  # tests/gitlab
    "faults runner": Bridge("docker4", "172.28.0.1/24"),  # tests/faults
    "benchmark runner": Bridge("docker5", "172.26.0.1/24"),  # benchmarks/
}

# Fixed loopback ports of registries. Everything else takes a free port (checks.free_port).
AUTH_REGISTRY_PORT = 5002  # tests/pipeline/test_task_errors.py: htpasswd auth
FAULT_REGISTRY_PORTS = range(5010, 5020)  # tests/faults: registries a test stops and starts
BENCHMARK_REGISTRY_PORT = 5055  # benchmarks/: the benchmark's own registry
