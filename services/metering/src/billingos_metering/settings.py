"""Settings of the metering service (environment: BILLINGOS_METERING_*, and
METERING_CLICKHOUSE_URL for the ClickHouse store)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from billingos_kit.settings import ServiceSettings


class MeteringSettings(ServiceSettings):
    service_name: ClassVar[str] = "metering"
    bare_names: ClassVar[dict[str, str]] = {"clickhouse_url": "METERING_CLICKHOUSE_URL"}

    grpc_listen: str = "127.0.0.1:50064"
    # How old an event may be when it arrives (late events count in their own
    # period). Raising it later is safe: older months are made then.
    ingest_horizon_days: int = Field(default=35, ge=1, le=3660)
    # How far ahead of the server's clock an event's timestamp may be.
    future_tolerance_seconds: int = Field(default=300, ge=0, le=3600)
    # Meters an organization may have that are not archived (each one is
    # matched against every event the organization sends).
    max_meters_per_organization: int = Field(default=100, ge=1, le=10000)
    # Events per IngestEvents request.
    # (The kit refuses any list past 1,000 entries before a service sees it.)
    max_events_per_request: int = Field(default=1000, ge=1, le=1000)
    # The balance worker's pass interval when nothing wakes it sooner.
    balance_poll_seconds: float = Field(default=0.2, gt=0)
    # Where events are stored: empty, Postgres (the metering schema);
    # "clickhouse://user:password@host:8123/database", a ClickHouse server;
    # "chdb:///path", an in-process ClickHouse (chdb) kept in that folder.
    clickhouse_url: str = ""
    # The customers service, asked for a customer metering has not heard of
    # yet; unset: the key check's address (the customers service too).
    customers_address: str = ""
