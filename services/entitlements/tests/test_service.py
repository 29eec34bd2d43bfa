"""The service starts on its migrated
schema and answers health."""

from __future__ import annotations

from grpc_health.v1 import health_pb2, health_pb2_grpc

from billingos_entitlements.models import metadata
from billingos_kit.testing.db import drift
from billingos_kit.testing.service import RunningService


async def test_it_answers_health(entitlements_service: RunningService) -> None:
    health = health_pb2_grpc.HealthStub(entitlements_service.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_migrated_schema_matches_the_models(entitlements_service: RunningService) -> None:
    assert await drift(entitlements_service.app.database, metadata) == []
