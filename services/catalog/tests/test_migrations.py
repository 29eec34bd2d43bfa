"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from billingos_catalog.models import metadata
from billingos_kit.testing.db import drift
from billingos_kit.testing.service import RunningService


async def test_migrated_schema_matches_the_models(catalog_service: RunningService) -> None:
    assert await drift(catalog_service.app.database, metadata) == []
