"""Assembles the metering service from the kit's parts: its servicers (the
customer portal's usage among them), the event store (Postgres, or
ClickHouse when METERING_CLICKHOUSE_URL is set), the consumer of customers'
states, the balance worker and the keeper of the monthly event partitions."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from billingos.metering.v1 import (
    customer_meters_pb2,
    customer_meters_pb2_grpc,
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    meters_pb2,
    meters_pb2_grpc,
    usage_events_pb2,
    usage_events_pb2_grpc,
    usage_pb2,
    usage_pb2_grpc,
)
from billingos_kit.clock import Clock
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.db import Database
from billingos_kit.own_loop import on_own_loop
from billingos_kit.server import AddServicer, ServiceApp
from billingos_kit.settings import ServiceSettings
from billingos_metering import states
from billingos_metering.balances import BalanceWorker
from billingos_metering.consumers import customer_copy
from billingos_metering.ingest_rules import IngestLimits
from billingos_metering.models import kit_tables
from billingos_metering.partitions import PartitionKeeper
from billingos_metering.pg_store import PostgresEventStore
from billingos_metering.rollup_keeper import RollupKeeper
from billingos_metering.servicer import (
    Backends,
    BillableUsageAdminServicer,
    CustomerMeterAdminServicer,
    CustomerMeterServicer,
    CustomerPortalServicer,
    MeterServicer,
    UsageEventServicer,
)
from billingos_metering.settings import MeteringSettings
from billingos_metering.store import EventStore
from billingos_metering.watermarks import COUNTING_APPLICATION

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def event_store(settings: MeteringSettings) -> EventStore:
    if settings.clickhouse_url:
        from billingos_metering.clickhouse_store import ClickHouseEventStore

        return ClickHouseEventStore.from_url(settings.clickhouse_url)
    return PostgresEventStore()


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> ServiceApp:
    assert isinstance(settings, MeteringSettings)
    app = ServiceApp(settings, kit_tables, clock=clock)
    store = event_store(settings)
    directory = CustomerDirectory(
        settings.customers_address or settings.key_check_address,
        settings.service_token.get_secret_value(),
    )
    horizon = dt.timedelta(days=settings.ingest_horizon_days)
    # The balance worker and the rollup keeper run on their own loop, so they
    # have their own pool; they store no events, so their connections are
    # not the writers the safe point waits for (watermarks.py).
    counting_database = Database(
        settings.database_url, pool_size=2, application_name=COUNTING_APPLICATION
    )
    balances = BalanceWorker(
        counting_database,
        kit_tables,
        app.clock,
        store,
        poll_seconds=settings.balance_poll_seconds,
        rollups=RollupKeeper(counting_database, app.clock, store),
    )

    async def count_balances(stop: asyncio.Event) -> None:
        try:
            await balances.run(stop)
        finally:
            await counting_database.dispose()

    partitions = PartitionKeeper(app.database, app.clock, horizon)
    backends = Backends(
        store=store,
        directory=directory,
        limits=IngestLimits(
            max_events=settings.max_events_per_request,
            horizon=horizon,
            future_tolerance=dt.timedelta(seconds=settings.future_tolerance_seconds),
        ),
        wake_balances=balances.wake,
        partitions_ready=partitions.ready,
        max_meters=settings.max_meters_per_organization,
    )
    services: list[tuple[AddServicer, Any, ServiceDescriptor]] = [
        (
            usage_events_pb2_grpc.add_UsageEventServiceServicer_to_server,
            UsageEventServicer(backends),
            usage_events_pb2.DESCRIPTOR.services_by_name["UsageEventService"],
        ),
        (
            meters_pb2_grpc.add_MeterServiceServicer_to_server,
            MeterServicer(backends),
            meters_pb2.DESCRIPTOR.services_by_name["MeterService"],
        ),
        (
            customer_meters_pb2_grpc.add_CustomerMeterServiceServicer_to_server,
            CustomerMeterServicer(backends),
            customer_meters_pb2.DESCRIPTOR.services_by_name["CustomerMeterService"],
        ),
        (
            customer_meters_pb2_grpc.add_CustomerMeterAdminServiceServicer_to_server,
            CustomerMeterAdminServicer(backends),
            customer_meters_pb2.DESCRIPTOR.services_by_name["CustomerMeterAdminService"],
        ),
        (
            customer_portal_pb2_grpc.add_CustomerPortalServiceServicer_to_server,
            CustomerPortalServicer(),
            customer_portal_pb2.DESCRIPTOR.services_by_name["CustomerPortalService"],
        ),
        (
            usage_pb2_grpc.add_BillableUsageAdminServiceServicer_to_server,
            BillableUsageAdminServicer(backends),
            usage_pb2.DESCRIPTOR.services_by_name["BillableUsageAdminService"],
        ),
    ]
    for add_to_server, servicer, descriptor in services:
        app.add_service(add_to_server, servicer, descriptor)
    app.add_consumer(customer_copy(app.database, app.clock, store))
    app.add_worker("balances", on_own_loop("metering-balances", count_balances))
    app.add_worker("event-partitions", partitions.run)
    app.add_closer(directory.close)
    for source in states.state_sources():
        app.add_state_source(source)
    return app
