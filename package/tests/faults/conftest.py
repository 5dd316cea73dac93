"""Fixtures for the fault tests: a runner daemon of their own and registries they stop.

Every fault is real: registries are CNCF registries on loopback ports 5010-5019 that a
test stops and starts, the runner is a second dockerd (its own bridge, testing/network.py)
that a test restarts, and the tasks run as ``python -m invoke ...`` in a copy of a project.
Missing components SKIP with a message, or FAIL when CI is set (testing.checks.require).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from testing.daemons import own_daemon
from testing.network import FAULT_REGISTRY_PORTS
from testing.registries import LoopbackRegistry, RegistryPool
from testing.runners import QuickPullRunner


@pytest.fixture(scope="session")
def runner(engine: None) -> Iterator[QuickPullRunner]:
    """Yield the faults' own runner daemon, stopped and deleted at the end."""
    with own_daemon(QuickPullRunner, "faults runner") as daemon:
        yield daemon


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LoopbackRegistry]]:
    """Return a function that starts a registry on a free port of 5010-5019.

    Every registry it started is stopped at the end of the test module.
    """
    pool = RegistryPool(tmp_path_factory.mktemp("registry"), FAULT_REGISTRY_PORTS)
    yield pool.start
    pool.stop_all()
