"""Fixtures for the fault tests: a runner daemon of their own and registries they stop.

Every fault is real: registries are CNCF registries on free loopback ports that a test
stops and starts (each keeps its port), the runner is a second dockerd (on a bridge of its
own, testing/network.py) that a test restarts, and the tasks run as
``python -m invoke ...`` in a copy of a project.
Missing components SKIP with a message, or FAIL when CI is set (testing.checks.require).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from testing.daemons import own_daemon
from testing.registries import LoopbackRegistry, RegistryPool
from testing.runners import QuickPullRunner


@pytest.fixture(scope="session")
def runner(engine: None) -> Iterator[QuickPullRunner]:
    """Yield the faults' own runner daemon, stopped and deleted at the end."""
    with own_daemon(QuickPullRunner, "faults runner") as daemon:
        yield daemon


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LoopbackRegistry]]:
    """Return a function that starts a registry on a free loopback port.

    The port is chosen when the registry is made: a test that stops and starts it finds it
    there again. Every registry it started is stopped at the end of the test module.
    """
    pool = RegistryPool(tmp_path_factory.mktemp("registry"))
    yield pool.start
    pool.stop_all()
