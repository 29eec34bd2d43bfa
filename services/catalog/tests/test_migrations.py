"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from billingos_catalog.models import Base
from billingos_kit.migrations import schema_drift
from billingos_kit.testing.service import RunningService


async def test_migrated_schema_matches_the_models(catalog_service: RunningService) -> None:
    async with catalog_service.app.database.engine.connect() as connection:
        drift = await connection.run_sync(schema_drift, Base.metadata)
    assert drift == []
