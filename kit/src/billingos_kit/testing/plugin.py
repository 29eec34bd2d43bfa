"""The pytest plugin (registered in the repository's conftest.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from billingos_kit.clock import FrozenClock
from billingos_kit.testing.servers import SessionServers, test_servers

TEST_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionServers]:
    """Real Postgres and NATS JetStream, started once per test session."""
    scratch: Path = tmp_path_factory.mktemp("servers")
    with test_servers(scratch) as found:
        yield found


@pytest.fixture(scope="session")
def session_clock() -> FrozenClock:
    """The frozen clock in-process services of this session run on."""
    return FrozenClock(TEST_EPOCH)
