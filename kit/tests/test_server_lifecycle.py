"""A service process stops gracefully: on stop (SIGTERM), new calls are
refused, in-flight calls finish within the grace period, and the outbox relay
and other background work end cleanly."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billingos.customers.v1 import customers_pb2, customers_pb2_grpc
from billingos_customers.app import MIGRATIONS_DIR
from billingos_customers.models import kit_tables as customers_tables
from billingos_kit.clock import FrozenClock
from billingos_kit.logging import JsonFormatter, request_id_var
from billingos_kit.migrations import upgrade_to_head_async
from billingos_kit.server import ServiceApp
from billingos_kit.settings import ServiceSettings
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import TEST_GATEWAY_TOKEN, TEST_SERVICE_TOKEN, call_metadata


class LifecycleSettings(ServiceSettings):
    service_name: ClassVar[str] = "lifecycle"


class SlowCustomers(customers_pb2_grpc.CustomerServiceServicer):
    """Answers GetCustomer after `delay` seconds, so a call is in flight."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started = asyncio.Event()

    async def GetCustomer(
        self, request: customers_pb2.GetCustomerRequest, context: Any
    ) -> customers_pb2.Customer:
        self.started.set()
        await asyncio.sleep(self.delay)
        return customers_pb2.Customer(id=request.id, email="slow@example.com")


@pytest.fixture
async def slow_app(
    servers: SessionServers, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[ServiceApp, SlowCustomers]]:
    await upgrade_to_head_async(MIGRATIONS_DIR, servers.database_url)
    settings = LifecycleSettings(
        database_url=servers.database_url,
        nats_url=servers.nats_url,
        grpc_listen="127.0.0.1:0",
        service_token=TEST_SERVICE_TOKEN,
        gateway_token=TEST_GATEWAY_TOKEN,
    )
    app = ServiceApp(
        settings, customers_tables, clock=FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    )
    servicer = SlowCustomers(delay=float(request.param))
    app.add_service(
        customers_pb2_grpc.add_CustomerServiceServicer_to_server,
        servicer,
        customers_pb2.DESCRIPTOR.services_by_name["CustomerService"],
    )
    await app.start()
    try:
        yield app, servicer
    finally:
        await app.stop(grace=0)  # a no-op when the test already stopped it


async def health_while_stopping(health: Any) -> int:
    """NOT_SERVING while draining, or UNKNOWN if the server no longer answers."""
    try:
        answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.aio.AioRpcError:
        return health_pb2.HealthCheckResponse.UNKNOWN
    return int(answer.status)


def get_request() -> customers_pb2.GetCustomerRequest:
    return customers_pb2.GetCustomerRequest(id="019b0000-0000-7000-8000-000000000000")


@pytest.mark.parametrize("slow_app", [1.0], indirect=True)
async def test_in_flight_calls_finish_and_background_work_stops(slow_app) -> None:
    app, servicer = slow_app
    organization = "019b0000-0000-7000-8000-0000000000aa"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        stub = customers_pb2_grpc.CustomerServiceStub(channel)
        in_flight = asyncio.ensure_future(
            stub.GetCustomer(get_request(), metadata=call_metadata(organization))
        )
        await servicer.started.wait()
        stopping = asyncio.ensure_future(app.stop(grace=5))
        await asyncio.sleep(0.2)
        health = health_pb2_grpc.HealthStub(channel)
        assert await health_while_stopping(health) != health_pb2.HealthCheckResponse.SERVING
        customer = await in_flight
        await stopping
    assert customer.email == "slow@example.com"
    tasks = app._tasks  # the background work the app started
    assert tasks
    assert all(task.done() and not task.cancelled() for task in tasks)
    assert all(task.exception() is None for task in tasks)


@pytest.mark.parametrize("slow_app", [30.0], indirect=True)
async def test_calls_beyond_the_grace_period_are_cut(slow_app) -> None:
    app, servicer = slow_app
    organization = "019b0000-0000-7000-8000-0000000000bb"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        stub = customers_pb2_grpc.CustomerServiceStub(channel)
        in_flight = asyncio.ensure_future(
            stub.GetCustomer(get_request(), metadata=call_metadata(organization))
        )
        await servicer.started.wait()
        await app.stop(grace=0.5)
        with pytest.raises(grpc.aio.AioRpcError) as cut:
            await in_flight
    assert cut.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


def test_json_logs_carry_the_request_id_and_extras() -> None:
    formatter = JsonFormatter("customers")
    record = logging.LogRecord("billingos", logging.INFO, __file__, 1, "call %s", ("done",), None)
    record.method = "/billingos.customers.v1.CustomerService/GetCustomer"
    token = request_id_var.set("req-123")
    try:
        line = json.loads(formatter.format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "call done"
    assert line["request_id"] == "req-123"
    assert line["service"] == "customers"
    assert line["level"] == "info"
    assert line["method"].endswith("GetCustomer")
    assert line["time"].endswith("Z")


async def test_health_waits_for_what_the_service_must_load_first(servers: SessionServers) -> None:
    await upgrade_to_head_async(MIGRATIONS_DIR, servers.database_url)
    settings = LifecycleSettings(
        database_url=servers.database_url,
        nats_url=servers.nats_url,
        grpc_listen="127.0.0.1:0",
        service_token=TEST_SERVICE_TOKEN,
        gateway_token=TEST_GATEWAY_TOKEN,
    )
    app = ServiceApp(settings, customers_tables)
    app.add_service(
        customers_pb2_grpc.add_CustomerServiceServicer_to_server,
        SlowCustomers(delay=0),
        customers_pb2.DESCRIPTOR.services_by_name["CustomerService"],
    )
    loaded = asyncio.Event()

    async def until_loaded() -> None:
        await loaded.wait()

    app.add_readiness(until_loaded)
    hooked: list[str] = []
    app.add_before_serving(lambda: hooked.append("loaded" if loaded.is_set() else "early"))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)
            before = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            assert before.status != health_pb2.HealthCheckResponse.SERVING
            loaded.set()
            for _ in range(100):
                after = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if after.status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.02)
            assert after.status == health_pb2.HealthCheckResponse.SERVING
            # Once, after the readiness wait and before the first SERVING.
            assert hooked == ["loaded"]
    finally:
        await app.stop(grace=0)
