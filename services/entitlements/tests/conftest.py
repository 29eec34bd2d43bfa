from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from billingos_entitlements.app import MIGRATIONS_DIR, build_app
from billingos_entitlements.settings import EntitlementsSettings
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, running_service


@pytest.fixture(scope="session")
async def entitlements_service(
    servers: SessionServers, session_clock: FrozenClock
) -> AsyncIterator[RunningService]:
    async with running_service(
        EntitlementsSettings, build_app, MIGRATIONS_DIR, servers, session_clock
    ) as service:
        yield service
