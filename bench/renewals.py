"""Renewals: N subscriptions all due at once, renewed by the engine's own
scheduler (`billingos_subscriptions.scheduler.Scheduler.run_once`, in this
process or in K scheduler processes at once), against a raw insert of N order
rows measured in the same run. Checks that every subscription got exactly one
cycle order with exactly one charge request (payment attempt 1, 'requested')
and advanced exactly one period.

    .venv/bin/python bench/renewals.py          # N=100,000, batch 200, 1 scheduler
    .venv/bin/python bench/renewals.py --batch-size 200 1000 --schedulers 1 2 --rounds 3
    .venv/bin/python bench/renewals.py --trace 2000 --py-spy /tmp/pyspy/bin/py-spy

It needs a Postgres server to make scratch databases on (`--database-url`,
default the local one): the seeded database is a template, cloned for every
measured run, and everything is dropped at the end. No other service runs:
the scheduler finds every product in its catalog copy, and a call to the
catalog or customers service (their addresses are empty) is counted and
reported. See bench/README.md ("Renewals").
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import logging
import os
import re
import signal
import statistics
import sys
import time
import traceback
import urllib.parse
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from benchkit import machine, plain_postgres_url
from google.protobuf import timestamp_pb2
from sqlalchemy import MetaData, bindparam, insert

from billingos.catalog.v1 import products_pb2
from billingos_kit.clock import SystemClock
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.db import Database
from billingos_kit.ids import new_ids
from billingos_kit.migrations import upgrade_to_head_async
from billingos_kit.sql import Query
from billingos_subscriptions.app import MIGRATIONS_DIR
from billingos_subscriptions.clients import CatalogClient
from billingos_subscriptions.models import (
    customer_balances,
    customers,
    kit_tables,
    orders,
    prices,
    products,
    subscription_items,
    subscriptions,
)
from billingos_subscriptions.periods import BillingInterval, IntervalUnit, boundary
from billingos_subscriptions.scheduler import Scheduler
from billingos_subscriptions.vocabulary import BillingReason

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCRIPT = str(Path(__file__).resolve())
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SCHEMA = "subscriptions"
APPLICATION_NAME = "bench-renewals-scheduler"
CYCLE = BillingReason.SUBSCRIPTION_CYCLE.value
MONTHLY = BillingInterval(IntervalUnit.MONTH, 1)
UTC_ZONE = zoneinfo.ZoneInfo("UTC")  # the engine's zone for a subscription's ""

# The target: 100,000 renewals in at most 60 s on this machine.
TARGET_SECONDS_PER_100K = 60.0
TARGET_RENEWALS_PER_SECOND = 100_000 / TARGET_SECONDS_PER_100K

# A run gives up after this many failed scheduler rounds.
MAX_ROUND_FAILURES = 120

# What the organizations sell: one fixed monthly price per product.
AMOUNTS_MINOR = (1500, 2900, 9900, 4900, 19900)

log = logging.getLogger("bench.renewals")


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def database_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _engine_digest() -> str:
    import hashlib

    import billingos_subscriptions

    root = Path(billingos_subscriptions.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# The engine's source as this process imported it (others edit it while
# benches run: every run records the digest of each scheduler process).
ENGINE_DIGEST = _engine_digest()


def engine_source() -> dict[str, Any]:
    """Which engine was measured: the commit, the engine's files changed
    since, and the digest of its source as imported."""
    import subprocess

    found: dict[str, Any] = {"source_sha256": ENGINE_DIGEST}
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        repo = Path(__file__).resolve().parent.parent
        found["commit"] = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        found["changed_since"] = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "services/subscriptions/src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")[:-1]
    return found


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it installs, as the service runs (billingos_kit.runner)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


# ---------------------------------------------------------------------------
# CPU, from /proc
# ---------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks of all its threads), None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rpartition(")")[2].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _machine_ticks() -> tuple[int, int]:
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in first[:8])
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


class CpuMeter:
    """CPU seconds, while a block runs, of the scheduler process(es), of the
    Postgres backends of the measured database (each names its database in
    its process title), of the rest of Postgres (walwriter, checkpointer,
    everybody else's sessions on a shared server) and of the whole machine.

    Sampled every `every` seconds from /proc: the pool replaces a connection
    after 50,000 queries (asyncpg's default max_queries, which the kit's
    Database keeps), about every 2,000 renewals, so backends come and go
    during a run; a backend is counted up to its last sample."""

    def __init__(self, schedulers: list[int], backend: int, database: str) -> None:
        self.schedulers = set(schedulers)
        self.database = database
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        found = _stat(backend)
        self.postmaster = found[0] if found else 0
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.kind: dict[int, str] = {}
        self.machine: list[tuple[int, int]] = []

    def sample(self) -> None:
        starting = not self.machine
        for pid in self.schedulers | set(_children(self.postmaster) if self.postmaster else []):
            found = _stat(pid)
            if found is None:
                continue
            if pid not in self.kind:
                if pid in self.schedulers:
                    self.kind[pid] = "scheduler"
                else:
                    title = _cmdline(pid)
                    self.kind[pid] = (
                        "postgres_backends" if f" {self.database} " in title else "postgres_other"
                    )
                self.first[pid] = found[1] if starting else 0
            self.last[pid] = found[1]
        with contextlib.suppress(OSError):
            self.machine.append(_machine_ticks())

    @contextlib.asynccontextmanager
    async def measuring(self, every: float = 0.2) -> AsyncIterator[None]:
        self.sample()

        async def keep_sampling() -> None:
            while True:
                await asyncio.sleep(every)
                self.sample()

        sampler = asyncio.create_task(keep_sampling())
        try:
            yield
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            self.sample()

    def spent(self) -> dict[str, float]:
        if len(self.machine) < 2:
            return {}
        parts = dict.fromkeys(("scheduler", "postgres_backends", "postgres_other"), 0.0)
        for pid, kind in self.kind.items():
            parts[kind] += (self.last[pid] - self.first[pid]) / self.tick
        busy = (self.machine[-1][0] - self.machine[0][0]) / self.tick
        total = (self.machine[-1][1] - self.machine[0][1]) / self.tick
        parts["other"] = max(busy - sum(parts.values()), 0.0)
        parts["machine_busy_share"] = busy / total if total > 0 else float("nan")
        return parts


# ---------------------------------------------------------------------------
# The seed: organizations, their products (catalog copies), N due
# subscriptions with one fixed-price item each, their customers and balances
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    organization_id: uuid.UUID
    product_id: uuid.UUID
    price_id: uuid.UUID
    amount_minor: int
    price: bytes  # the serialized catalog Price (the item's snapshot)
    product: bytes  # the serialized catalog Product (its copy's payload)


@dataclass(frozen=True)
class Seeded:
    subscription_id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    period_start: dt.datetime  # of the period the renewal opens
    period_end: dt.datetime
    amount_minor: int


def make_plans(organizations: int, per_organization: int, now: dt.datetime) -> list[Plan]:
    clock = SystemClock()
    plans = []
    created = now - dt.timedelta(days=400)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(created)
    for org_index, organization_id in enumerate(new_ids(clock, organizations)):
        for index in range(per_organization):
            product_id, price_id = new_ids(clock, 2)
            amount = AMOUNTS_MINOR[(org_index + index) % len(AMOUNTS_MINOR)]
            monthly = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH, count=1)
            price = products_pb2.Price(
                id=str(price_id),
                organization_id=str(organization_id),
                product_id=str(product_id),
                currency="USD",
                recurring=monthly,
                fixed=products_pb2.FixedAmount(amount_minor=amount),
                create_time=stamp,
            )
            product = products_pb2.Product(
                id=str(product_id),
                organization_id=str(organization_id),
                name=f"Bench Plan {org_index}-{index}",
                recurring=monthly,
                prices=[price],
                create_time=stamp,
                update_time=stamp,
            )
            plans.append(
                Plan(
                    organization_id,
                    product_id,
                    price_id,
                    amount,
                    price.SerializeToString(),
                    product.SerializeToString(),
                )
            )
    return plans


def records(table: Any, rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The rows as tuples in the table's column order. The engine's schema
    moves while it is built: a nullable column the bench does not know is
    NULL (a customer copy without an address, say), and one it cannot fill
    stops the bench, naming it."""
    columns = [column.name for column in table.c]
    unknown = [c for c in table.c if rows and c.name not in rows[0]]
    for column in unknown:
        if not column.nullable:
            raise RuntimeError(
                f"{table.name}.{column.name} is a new NOT NULL column the bench does not fill"
            )
    defaults = {column.name: None for column in unknown}
    return columns, [tuple({**defaults, **row}[name] for name in columns) for row in rows]


async def seed(
    url: str, count: int, organizations: int, per_organization: int
) -> tuple[list[Seeded], dict[str, Any]]:
    """Seeds the migrated database at `url`; what each renewal should give."""
    now = dt.datetime.now(dt.UTC)
    clock = SystemClock()
    plans = make_plans(organizations, per_organization, now)
    # Anchors 37 to 40 days ago: the first period ended 6 to 12 days ago (due
    # now), the second ends 18 to 24 days from now (due once, not twice).
    first_anchor = now - dt.timedelta(days=40)
    spread = dt.timedelta(days=3) / max(count, 1)
    sub_ids = new_ids(clock, count)
    customer_ids = new_ids(clock, count)
    item_ids = new_ids(clock, count)
    seeded: list[Seeded] = []
    sub_rows: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    customer_rows: list[dict[str, Any]] = []
    balance_rows: list[dict[str, Any]] = []
    for index in range(count):
        plan = plans[
            (index % organizations) * per_organization + (index // organizations) % per_organization
        ]
        anchor = first_anchor + spread * index
        first_end = boundary(anchor, MONTHLY, 1, UTC_ZONE)
        second_end = boundary(anchor, MONTHLY, 2, UTC_ZONE)
        sub_id, customer_id = sub_ids[index], customer_ids[index]
        seeded.append(
            Seeded(
                sub_id, plan.organization_id, customer_id, first_end, second_end, plan.amount_minor
            )
        )
        sub_rows.append(
            {
                "id": sub_id,
                "organization_id": plan.organization_id,
                "customer_id": customer_id,
                "product_id": plan.product_id,
                "price_id": plan.price_id,
                "currency": "USD",
                "status": "active",
                "interval_unit": IntervalUnit.MONTH.value,
                "interval_count": 1,
                "time_zone": "",
                "seats": 1,
                "payment_method_id": uuid.uuid4(),
                "discount_id": None,
                "promotion_code_id": None,
                "discount_snapshot": None,
                "discount_end_at": None,
                "discount_remaining_orders": None,
                "billing_anchor_at": anchor,
                "period_number": 0,
                "current_period_start": anchor,
                "current_period_end": first_end,
                "trial_start": None,
                "trial_end": None,
                "trial_will_end_sent": False,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "ended_at": None,
                "cancellation_reason": None,
                "cancellation_comment": None,
                "test_clock_id": None,
                "scheduled_price_id": None,
                "scheduled_seats": None,
                "next_action_at": first_end,
                "next_retry_at": None,
                "latest_order_id": None,
                "metadata": "{}",
                "created_at": anchor,
                "updated_at": anchor,
            }
        )
        item_rows.append(
            {
                "id": item_ids[index],
                "organization_id": plan.organization_id,
                "subscription_id": sub_id,
                "price_id": plan.price_id,
                "product_id": plan.product_id,
                "position": 0,
                "price_snapshot": plan.price,
                "meter_id": None,
                "usage_start_at": anchor,
                "usage_billed_to": anchor,
                "usage_watermark": 0,
                "ended_at": None,
                "final_billed": False,
                "created_at": anchor,
            }
        )
        customer_rows.append(
            {
                "id": customer_id,
                "organization_id": plan.organization_id,
                "test_clock_id": None,
                "deleted_at": None,
                "source_updated_at": anchor,
            }
        )
        # Every customer has had its first order, so it has a balance row.
        balance_rows.append(
            {
                "organization_id": plan.organization_id,
                "customer_id": customer_id,
                "currency": "USD",
                "credit_minor": 0,
                "updated_at": anchor,
            }
        )
    product_rows = [
        {
            "id": plan.product_id,
            "organization_id": plan.organization_id,
            "archived": False,
            "payload": plan.product,
            "source_updated_at": now,
        }
        for plan in plans
    ]
    price_rows = [
        {
            "id": plan.price_id,
            "organization_id": plan.organization_id,
            "product_id": plan.product_id,
            "archived": False,
            "payload": plan.price,
            "source_updated_at": now,
        }
        for plan in plans
    ]
    connection = await asyncpg.connect(url)
    try:
        for table, rows in (
            (products, product_rows),
            (prices, price_rows),
            (customers, customer_rows),
            (customer_balances, balance_rows),
            (subscriptions, sub_rows),
            (subscription_items, item_rows),
        ):
            columns, values = records(table, rows)
            await connection.copy_records_to_table(
                table.name, records=values, columns=columns, schema_name=SCHEMA
            )
        # What each renewal should give, for the check (outside the engine's schema).
        await connection.execute(
            "CREATE SCHEMA bench; CREATE TABLE bench.expected (subscription_id uuid PRIMARY KEY,"
            " period_start timestamptz NOT NULL, period_end timestamptz NOT NULL,"
            " amount_minor bigint NOT NULL)"
        )
        await connection.copy_records_to_table(
            "expected",
            records=[
                (s.subscription_id, s.period_start, s.period_end, s.amount_minor) for s in seeded
            ],
            schema_name="bench",
        )
        await connection.execute(
            "CREATE VIEW bench.cycle_orders AS SELECT subscription_id, count(*) AS n,"
            " min(id::text) AS first_id, min(period_start) AS period_start,"
            " max(period_end) AS period_end FROM subscriptions.orders"
            " WHERE billing_reason = 'subscription_cycle' GROUP BY subscription_id"
        )
        await connection.execute("VACUUM ANALYZE")
        postgres_version = str(await connection.fetchval("SHOW server_version"))
        settings = {
            name: str(await connection.fetchval(f"SHOW {name}"))
            for name in (
                "shared_buffers",
                "work_mem",
                "fsync",
                "synchronous_commit",
                "wal_level",
                "max_wal_size",
                "checkpoint_timeout",
            )
        }
        size = str(
            await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        )
    finally:
        await connection.close()
    info = {
        "organizations": organizations,
        "products": len(plans),
        "subscriptions": count,
        "database_size": size,
        "postgres_version": postgres_version,
        "postgres_settings": settings,
    }
    return seeded, info


def baseline_rows(seeded: list[Seeded]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """N order rows as the scheduler writes them (pending, amounts filled)."""
    clock = SystemClock()
    now = dt.datetime.now(dt.UTC)
    rows = []
    for row_id, s in zip(new_ids(clock, len(seeded)), seeded, strict=True):
        rows.append(
            {
                "id": row_id,
                "organization_id": s.organization_id,
                "customer_id": s.customer_id,
                "subscription_id": s.subscription_id,
                "billing_key": f"{s.subscription_id}:{s.period_start.isoformat()}:{CYCLE}",
                "billing_reason": CYCLE,
                "status": "pending",
                "currency": "USD",
                "period_start": s.period_start,
                "period_end": s.period_end,
                "usage_from": None,
                "usage_to": None,
                "subtotal_minor": s.amount_minor,
                "discount_minor": 0,
                "tax_minor": 0,
                "inclusive_tax_minor": 0,
                "total_minor": s.amount_minor,
                "credit_applied_minor": 0,
                "credit_carried_minor": 0,
                "amount_due_minor": s.amount_minor,
                "amount_paid_minor": 0,
                "amount_refunded_minor": 0,
                "tax_rate_percent": None,
                "test_clock_id": None,
                "attempt_count": 0,
                "first_failed_at": None,
                "next_charge_at": None,
                "created_at": now,
                "finalized_at": now,
                "paid_at": None,
                "updated_at": now,
            }
        )
    return records(orders, rows)


async def raw_insert(
    url: str, columns: list[str], rows: list[tuple[Any, ...]], batch: int
) -> float:
    """The baseline: the same N order rows into a fresh table with the
    orders table's columns, indexes and constraints, by asyncpg executemany,
    one transaction per batch of `batch` (the scheduler's batch)."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "CREATE TABLE bench.raw_orders (LIKE subscriptions.orders INCLUDING ALL)"
        )
        raw = orders.to_metadata(MetaData(), schema="bench", name="raw_orders")
        statement = Query.of(insert(raw).values({name: bindparam(name) for name in columns})).sql
        began = time.perf_counter()
        for part in chunks(rows, batch):
            async with connection.transaction():
                await connection.executemany(statement, part)
        seconds = time.perf_counter() - began
        stored = await connection.fetchval("SELECT count(*) FROM bench.raw_orders")
        if stored != len(rows):
            raise RuntimeError(f"the baseline stored {stored} of {len(rows)} rows")
        await connection.execute("DROP TABLE bench.raw_orders")
        return seconds
    finally:
        await connection.close()


# ---------------------------------------------------------------------------
# The scheduler, as the service runs it, with counting doors to the catalog
# and customers (no address: a call would fail and is a finding)
# ---------------------------------------------------------------------------


class CountingCatalog(CatalogClient):
    def __init__(self) -> None:
        super().__init__("", "bench-token")
        self.calls: collections.Counter[str] = collections.Counter()

    def _stub(self, name: str, make: Callable[[Any], Any]) -> Any:
        self.calls[name] += 1
        return super()._stub(name, make)


class CountingDirectory(CustomerDirectory):
    def __init__(self) -> None:
        super().__init__("", "bench-token")
        self.calls = 0

    async def find(self, organization_id: uuid.UUID, customer_id: uuid.UUID) -> Any:
        self.calls += 1
        return await super().find(organization_id, customer_id)


class ErrorLog(logging.Handler):
    """What the scheduler logged as failed (it postpones such a row and
    goes on): counted, and the first few tracebacks kept."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.samples) < 3:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            self.samples.append(text)


@dataclass
class WorkerFigures:
    handled: int = 0
    batches: int = 0
    seconds: float = 0.0
    batch_seconds: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    catalog_calls: dict[str, int] = field(default_factory=dict)
    directory_calls: int = 0
    engine_sha256: str = ENGINE_DIGEST
    # run_once raised (the whole round, not one subscription): retried.
    round_failures: int = 0
    round_failure_samples: list[str] = field(default_factory=list)


class Renewer:
    """One scheduler on its own pool, looping `run_once` until it finds no work."""

    def __init__(self, url: str, batch: int, pool_size: int, at_once: int = 1) -> None:
        self.database = Database(url, pool_size=pool_size, application_name=APPLICATION_NAME)
        self.catalog = CountingCatalog()
        self.directory = CountingDirectory()
        self.errors = ErrorLog()
        self.scheduler = Scheduler(
            self.database,
            kit_tables,
            SystemClock(),
            self.catalog,
            self.directory,
            batch_size=batch,
            poll_seconds=1.0,
            rounds_at_once=at_once,
        )

    async def warm(self) -> int:
        """The pool made and one connection open; its backend's pid."""
        pool = await self.database.pool()
        return int(await pool.fetchval("SELECT pg_backend_pid()"))

    async def run(self, limit_batches: int | None = None) -> WorkerFigures:
        logging.getLogger("billingos_subscriptions").addHandler(self.errors)
        figures = WorkerFigures()
        began = time.perf_counter()
        try:
            while limit_batches is None or figures.batches < limit_batches:
                started = time.perf_counter()
                try:
                    done = await self.scheduler.run_once()
                except Exception as problem:
                    # As Scheduler.run does: the round is logged and tried
                    # again after a pause (on a shared server: too many
                    # clients when the pool replaces a connection, say).
                    figures.round_failures += 1
                    if len(figures.round_failure_samples) < 3:
                        figures.round_failure_samples.append(
                            "".join(traceback.format_exception(problem))[-3000:]
                        )
                    log.warning("a scheduler round failed (%r); again in 1 s", problem)
                    if figures.round_failures > MAX_ROUND_FAILURES:
                        raise
                    await asyncio.sleep(1.0)
                    continue
                if done == 0:
                    break
                figures.batch_seconds.append(time.perf_counter() - started)
                figures.batches += 1
                figures.handled += done
        finally:
            figures.seconds = time.perf_counter() - began
            logging.getLogger("billingos_subscriptions").removeHandler(self.errors)
        figures.errors = self.errors.count
        figures.error_samples = self.errors.samples
        figures.catalog_calls = dict(self.catalog.calls)
        figures.directory_calls = self.directory.calls
        return figures

    async def close(self) -> None:
        await self.catalog.close()
        await self.database.dispose()


async def worker_main(url: str, batch: int, pool_size: int, at_once: int) -> None:
    """`renewals.py worker`: one scheduler process. Says ready (with its
    backend's pid) on stdout, waits for "go" on stdin, renews until no work
    is left, prints its figures as one JSON line, and stays (its CPU time
    still readable) until told "exit"."""
    renewer = Renewer(url, batch, pool_size, at_once)
    try:
        backend = await renewer.warm()
        print(json.dumps({"ready": True, "pid": os.getpid(), "backend": backend}), flush=True)
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() != "go":
            return
        figures = await renewer.run()
        print(json.dumps({"figures": asdict(figures)}), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
    finally:
        await renewer.close()


# ---------------------------------------------------------------------------
# Where the time goes: every statement the scheduler sends (a diagnostic
# run, --trace), and py-spy's samples of the scheduler process (--py-spy)
# ---------------------------------------------------------------------------

_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+([\w.\"]+)", re.IGNORECASE)


def statement_label(sql: str) -> str:
    text = " ".join(sql.replace(";", " ").split())
    verb = text.split(" ", 1)[0].upper()
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"):
        return verb + (" TO SAVEPOINT" if verb == "ROLLBACK" and "SAVEPOINT" in text else "")
    found = _TABLE.search(text)
    table = found.group(1).replace('"', "").removeprefix("subscriptions.") if found else "?"
    extra = []
    if "ON CONFLICT" in text.upper():
        extra.append("ON CONFLICT")
    if "FOR UPDATE" in text.upper():
        extra.append("FOR UPDATE" + (" SKIP LOCKED" if "SKIP LOCKED" in text.upper() else ""))
    if verb == "UPDATE":
        columns = re.findall(r"SET (.*?) WHERE", text)
        if columns:
            extra.append("SET " + ",".join(c.split("=")[0].strip() for c in columns[0].split(", ")))
    return " ".join([verb, table, *extra])


@contextlib.contextmanager
def traced_statements() -> Iterator[dict[str, list[float]]]:
    """Every statement asyncpg sends in this process, by label: how long
    each waited for its answer (the awaits, so Python's own work is the
    rest of the wall time)."""
    seen: dict[str, list[float]] = collections.defaultdict(list)
    connection_class = asyncpg.connection.Connection
    originals = {
        name: getattr(connection_class, name)
        for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval")
    }

    def wrap(name: str, original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def traced(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await original(self, query, *args, **kwargs)
            finally:
                seen[statement_label(query) + (" (many)" if name == "executemany" else "")].append(
                    time.perf_counter() - began
                )

        return traced

    for name, original in originals.items():
        setattr(connection_class, name, wrap(name, original))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(connection_class, name, original)


def trace_summary(seen: dict[str, list[float]], renewals: int, wall: float) -> dict[str, Any]:
    waits = sum(sum(times) for times in seen.values())
    count = sum(len(times) for times in seen.values())
    rows = sorted(seen.items(), key=lambda item: -sum(item[1]))
    return {
        "renewals": renewals,
        "wall_seconds": wall,
        "statements": count,
        "statements_per_renewal": count / renewals if renewals else None,
        "awaiting_postgres_seconds": waits,
        "awaiting_postgres_share": waits / wall if wall else None,
        "ms_per_renewal": wall * 1000 / renewals if renewals else None,
        "by_statement": [
            {
                "statement": label,
                "per_renewal": len(times) / renewals if renewals else None,
                "mean_ms": statistics.fmean(times) * 1000,
                "total_share_of_wall": sum(times) / wall if wall else None,
            }
            for label, times in rows
        ],
    }


def _frame_module(frame: str) -> str:
    """py-spy's `function (path:line)` -> a package-ish name."""
    path = frame.rpartition("(")[2].rstrip(")").rpartition(":")[0]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for package in ("billingos_kit", "billingos_subscriptions", "billingos_pricing", "billingos"):
        if f"/{package}/" in path or path.startswith(f"{package}/"):
            return package
    if "/python3" in path:
        rest = path.split("/python3", 1)[1].split("/", 1)[-1]
        return "stdlib:" + rest.split("/", 1)[0].removesuffix(".py")
    return path.rsplit("/", 1)[-1] or "?"


def _frame_name(frame: str) -> str:
    name, _, where = frame.partition(" (")
    path = where.rstrip(")")
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path.rsplit(':', 1)[0]})"


def pyspy_summary(path: Path, rate: int) -> dict[str, Any]:
    """Top functions (inclusive and own time) and own time by package, from
    py-spy's raw (collapsed) output of CPU samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if " (" in f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        for name in {_frame_name(frame) for frame in frames}:
            inclusive[name] += count
        own[_frame_name(frames[-1])] += count
        packages[_frame_module(frames[-1])] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "cpu_seconds_sampled": total / rate,
        "own_by_package": {name: n / total for name, n in packages.most_common(15)},
        "top_own": {name: n / total for name, n in own.most_common(20)},
        "top_inclusive": {name: n / total for name, n in inclusive.most_common(40)},
    }


@contextlib.asynccontextmanager
async def profiled(
    py_spy: str | None, pids: list[int], out_stem: Path, rate: int
) -> AsyncIterator[list[Path]]:
    """py-spy record on each pid for as long as the block runs."""
    if not py_spy:
        yield []
        return
    runs = []
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    for pid in pids:
        out = out_stem.with_name(f"{out_stem.name}-{pid}.txt")
        process = await asyncio.create_subprocess_exec(
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        runs.append((process, out))
    await asyncio.sleep(1.0)  # py-spy attaches
    try:
        yield [out for _, out in runs]
    finally:
        for process, _ in runs:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
        for process, out in runs:
            with contextlib.suppress(TimeoutError):
                _, problem = await asyncio.wait_for(process.communicate(), timeout=60)
                if not out.exists():
                    log.warning("py-spy wrote nothing: %s", problem.decode(errors="replace")[-500:])


# ---------------------------------------------------------------------------
# One measured run: a clone of the seeded database, the baseline, the
# schedulers, the check
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    batch_size: int
    schedulers: int
    at_once: int = 1

    @property
    def name(self) -> str:
        return (
            f"batch {self.batch_size}"
            + (f" ×{self.at_once} at once" if self.at_once > 1 else "")
            + f", {self.schedulers} scheduler"
            + ("s" if self.schedulers > 1 else "")
        )


@dataclass
class RunFigures:
    round: int
    batch_size: int
    schedulers: int
    at_once: int
    subscriptions: int
    seconds: float
    renewals_per_second: float
    baseline_seconds: float
    baseline_rows_per_second: float
    # scheduler renewals/s over baseline rows/s (below 1: slower).
    ratio_to_baseline: float
    handled: int
    handled_by_scheduler: list[int]
    batches: int
    batch_seconds_p50: float
    batch_seconds_p95: float
    batch_seconds_max: float
    errors: int
    error_samples: list[str]
    round_failures: int
    round_failure_samples: list[str]
    catalog_calls: dict[str, int]
    directory_calls: int
    cpu_seconds: dict[str, float]
    cpu_ms_per_renewal: dict[str, float]
    check: dict[str, Any]
    engine_sha256: list[str] = field(default_factory=list)
    load_average_1m_before: float | None = None
    profile: dict[str, Any] | None = None


# Set-based (hash joins over per-key counts, bench.cycle_orders is a view
# made with the seed): correlated subqueries on 100,000 rows would be
# quadratic where no index leads with the key.
CHECKS = {
    # Every count but the first four must be 0.
    "subscriptions": "SELECT count(*) FROM subscriptions.subscriptions",
    "orders": "SELECT count(*) FROM subscriptions.orders",
    "cycle_orders": "SELECT count(*) FROM subscriptions.orders"
    " WHERE billing_reason = 'subscription_cycle'",
    "payment_attempts": "SELECT count(*) FROM subscriptions.payment_attempts",
    "duplicate_billing_keys": """
        SELECT count(*) FROM (SELECT 1 FROM subscriptions.orders
        GROUP BY organization_id, billing_key HAVING count(*) > 1) AS d""",
    "subscriptions_without_exactly_one_cycle_order": """
        SELECT count(*) FROM subscriptions.subscriptions AS s
        LEFT JOIN bench.cycle_orders AS c ON c.subscription_id = s.id
        WHERE coalesce(c.n, 0) <> 1""",
    "subscriptions_without_one_order_for_the_period": """
        SELECT count(*) FROM bench.expected AS e
        LEFT JOIN bench.cycle_orders AS c ON c.subscription_id = e.subscription_id
        WHERE coalesce(c.n, 0) <> 1 OR c.period_start <> e.period_start
           OR c.period_end <> e.period_end""",
    "orders_without_exactly_one_attempt": """
        SELECT count(*) FROM subscriptions.orders AS o
        LEFT JOIN (SELECT order_id, count(*) AS n FROM subscriptions.payment_attempts
                   GROUP BY order_id) AS a ON a.order_id = o.id
        WHERE coalesce(a.n, 0) <> 1""",
    "attempts_not_requested_attempt_1_for_the_amount_due": """
        SELECT count(*) FROM subscriptions.payment_attempts AS a
        LEFT JOIN subscriptions.orders AS o ON o.id = a.order_id
        WHERE o.id IS NULL OR a.attempt_number <> 1 OR a.status <> 'requested'
           OR a.amount_minor <> o.amount_due_minor OR a.send_at IS NULL""",
    "orders_not_pending_for_the_price": """
        SELECT count(*) FROM subscriptions.orders AS o
        LEFT JOIN bench.expected AS e ON e.subscription_id = o.subscription_id
        LEFT JOIN (SELECT order_id, count(*) AS n FROM subscriptions.order_lines
                   GROUP BY order_id) AS l ON l.order_id = o.id
        WHERE e.subscription_id IS NULL OR o.status <> 'pending'
           OR o.total_minor <> e.amount_minor OR o.amount_due_minor <> e.amount_minor
           OR coalesce(l.n, 0) <> 1""",
    "subscriptions_not_advanced_exactly_one_period": """
        SELECT count(*) FROM subscriptions.subscriptions AS s
        LEFT JOIN bench.expected AS e ON e.subscription_id = s.id
        LEFT JOIN bench.cycle_orders AS c ON c.subscription_id = s.id
        WHERE e.subscription_id IS NULL OR s.period_number <> 1
           OR s.current_period_start <> e.period_start OR s.current_period_end <> e.period_end
           OR s.next_action_at <> e.period_end OR s.status <> 'active'
           OR s.latest_order_id IS NULL OR s.latest_order_id::text <> c.first_id""",
    "subscriptions_still_due": """
        SELECT count(*) FROM subscriptions.subscriptions WHERE next_action_at <= now()""",
}
MUST_BE_ZERO = [
    name
    for name in CHECKS
    if name not in ("subscriptions", "orders", "cycle_orders", "payment_attempts")
]


async def check(url: str, expected: int) -> dict[str, Any]:
    connection = await asyncpg.connect(url)
    try:
        found: dict[str, Any] = {
            name: int(await connection.fetchval(sql)) for name, sql in CHECKS.items()
        }
        events = await connection.fetch(
            "SELECT event_type, count(*) AS n FROM subscriptions.outbox_events"
            " GROUP BY event_type ORDER BY event_type"
        )
        found["outbox_events"] = {row["event_type"]: int(row["n"]) for row in events}
        # Row writes by table (the schedulers' backends have exited, so
        # their statistics are flushed): HOT updates change no index.
        await asyncio.sleep(1.5)
        writes = await connection.fetch(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE schemaname = 'subscriptions' AND (n_tup_ins + n_tup_upd) > 0"
            " ORDER BY relname"
        )
        found["row_writes"] = {
            row["relname"]: {
                "inserted": int(row["n_tup_ins"]),
                "updated": int(row["n_tup_upd"]),
                "hot_updated": int(row["n_tup_hot_upd"]),
            }
            for row in writes
        }
    finally:
        await connection.close()
    found["passed"] = (
        found["orders"] == expected
        and found["cycle_orders"] == expected
        and found["payment_attempts"] == expected
        and all(found[name] == 0 for name in MUST_BE_ZERO)
    )
    return found


@dataclass
class Options:
    server_url: str
    template: str
    subscriptions: int
    pool_size: int
    py_spy: str | None
    py_spy_rate: int
    stamp: str


async def run_schedulers(
    url: str, config: Config, options: Options, profile_stem: Path
) -> tuple[float, list[WorkerFigures], dict[str, float], list[Path]]:
    """Wall time from the start until every scheduler found no more work."""
    if config.schedulers == 1:
        renewer = Renewer(url, config.batch_size, options.pool_size, config.at_once)
        try:
            backend = await renewer.warm()
            meter = CpuMeter([os.getpid()], backend, database_of(url))
            async with (
                profiled(options.py_spy, [os.getpid()], profile_stem, options.py_spy_rate) as files,
                meter.measuring(),
            ):
                began = time.perf_counter()
                figures = await renewer.run()
                wall = time.perf_counter() - began
        finally:
            await renewer.close()
        return wall, [figures], meter.spent(), files
    processes = []
    try:
        for _ in range(config.schedulers):
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    SCRIPT,
                    "worker",
                    "--database-url",
                    url,
                    "--batch-size",
                    str(config.batch_size),
                    "--rounds-at-once",
                    str(config.at_once),
                    "--pool-size",
                    str(options.pool_size),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        pids, backends = [], []
        for process in processes:
            assert process.stdout is not None
            ready = json.loads(await process.stdout.readline())
            pids.append(int(ready["pid"]))
            backends.append(int(ready["backend"]))
        meter = CpuMeter(pids, backends[0], database_of(url))
        async with (
            profiled(options.py_spy, pids, profile_stem, options.py_spy_rate) as files,
            meter.measuring(),
        ):
            began = time.perf_counter()
            for process in processes:
                assert process.stdin is not None
                process.stdin.write(b"go\n")
                await process.stdin.drain()

            async def finished(process: asyncio.subprocess.Process) -> WorkerFigures:
                assert process.stdout is not None
                line = await process.stdout.readline()
                if not line:
                    raise RuntimeError(f"scheduler process {process.pid} ended without figures")
                return WorkerFigures(**json.loads(line)["figures"])

            results = list(await asyncio.gather(*(finished(p) for p in processes)))
            wall = time.perf_counter() - began
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"exit\n")
            await process.stdin.drain()
        for process in processes:
            await asyncio.wait_for(process.wait(), timeout=60)
        return wall, results, meter.spent(), files
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def measured_run(
    number: int,
    config: Config,
    options: Options,
    baseline: tuple[list[str], list[tuple[Any, ...]]],
) -> RunFigures:
    clone = f"{options.template}_run"
    url = with_database(options.server_url, clone)
    began = time.perf_counter()
    await admin(options.server_url, f'CREATE DATABASE "{clone}" TEMPLATE "{options.template}"')
    try:
        log.info("round %d, %s: cloned in %.1f s", number, config.name, time.perf_counter() - began)
        baseline_seconds = await raw_insert(url, *baseline, config.batch_size)
        # Every run starts from the same place: no dirty buffers of the clone
        # or of the baseline left for the scheduler's time.
        await admin(url, "CHECKPOINT")
        log.info("  baseline %.2f s; renewing", baseline_seconds)
        stem = RESULTS_DIR / (
            f"renewals-pyspy-{options.stamp}-r{number}-b{config.batch_size}-k{config.at_once}-s{config.schedulers}"
        )
        load = os.getloadavg()[0]
        wall, workers, cpu, files = await run_schedulers(url, config, options, stem)
        found = await check(url, options.subscriptions)
    finally:
        await admin(options.server_url, f'DROP DATABASE IF EXISTS "{clone}" WITH (FORCE)')
    handled = sum(w.handled for w in workers)
    renewals = found["cycle_orders"]
    batch_seconds = [s for w in workers for s in w.batch_seconds]
    catalog_calls: collections.Counter[str] = collections.Counter()
    for w in workers:
        catalog_calls.update(w.catalog_calls)
    profile = None
    if files:
        profile = {
            str(path.name): pyspy_summary(path, options.py_spy_rate)
            for path in files
            if path.exists()
        }
    figures = RunFigures(
        round=number,
        batch_size=config.batch_size,
        schedulers=config.schedulers,
        at_once=config.at_once,
        subscriptions=options.subscriptions,
        seconds=wall,
        renewals_per_second=renewals / wall,
        baseline_seconds=baseline_seconds,
        baseline_rows_per_second=options.subscriptions / baseline_seconds,
        ratio_to_baseline=(renewals / wall) / (options.subscriptions / baseline_seconds),
        handled=handled,
        handled_by_scheduler=[w.handled for w in workers],
        batches=sum(w.batches for w in workers),
        batch_seconds_p50=quantile(batch_seconds, 0.5),
        batch_seconds_p95=quantile(batch_seconds, 0.95),
        batch_seconds_max=max(batch_seconds, default=float("nan")),
        errors=sum(w.errors for w in workers),
        error_samples=[s for w in workers for s in w.error_samples][:3],
        round_failures=sum(w.round_failures for w in workers),
        round_failure_samples=[s for w in workers for s in w.round_failure_samples][:3],
        catalog_calls=dict(catalog_calls),
        directory_calls=sum(w.directory_calls for w in workers),
        cpu_seconds=cpu,
        cpu_ms_per_renewal={
            name: value * 1000 / renewals
            for name, value in cpu.items()
            if name != "machine_busy_share" and renewals
        },
        check=found,
        engine_sha256=sorted({w.engine_sha256 for w in workers}),
        load_average_1m_before=load,
        profile=profile,
    )
    log.info(
        "  %d renewals in %.1f s (%.0f/s; baseline %.0f rows/s, ratio %.4f); check %s",
        renewals,
        wall,
        figures.renewals_per_second,
        figures.baseline_rows_per_second,
        figures.ratio_to_baseline,
        "passed" if found["passed"] else "FAILED",
    )
    if figures.errors:
        log.warning(
            "  the scheduler logged %d failures; first:\n%s",
            figures.errors,
            figures.error_samples[0],
        )
    return figures


async def traced_run(options: Options, renewals: int, batch: int) -> dict[str, Any]:
    """A diagnostic run on its own clone: the first `renewals` (whole
    batches), one scheduler in this process, every statement timed."""
    clone = f"{options.template}_trace"
    url = with_database(options.server_url, clone)
    await admin(options.server_url, f'CREATE DATABASE "{clone}" TEMPLATE "{options.template}"')
    try:
        await admin(url, "CHECKPOINT")
        renewer = Renewer(url, batch, options.pool_size)
        try:
            await renewer.warm()
            with traced_statements() as seen:
                began = time.perf_counter()
                figures = await renewer.run(limit_batches=max(1, -(-renewals // batch)))
                wall = time.perf_counter() - began
        finally:
            await renewer.close()
    finally:
        await admin(options.server_url, f'DROP DATABASE IF EXISTS "{clone}" WITH (FORCE)')
    summary = trace_summary(seen, figures.handled, wall)
    summary["batch_size"] = batch
    summary["errors"] = figures.errors
    return summary


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def summarize(runs: list[RunFigures], configs: list[Config]) -> list[dict[str, Any]]:
    found = []
    for config in configs:
        mine = [
            r
            for r in runs
            if r.batch_size == config.batch_size
            and r.schedulers == config.schedulers
            and r.at_once == config.at_once
        ]
        if not mine:
            continue
        ratios = [r.ratio_to_baseline for r in mine]
        found.append(
            {
                "config": config.name,
                "batch_size": config.batch_size,
                "schedulers": config.schedulers,
                "at_once": config.at_once,
                "runs": len(mine),
                "seconds": statistics.median(r.seconds for r in mine),
                "seconds_range": [min(r.seconds for r in mine), max(r.seconds for r in mine)],
                "renewals_per_second": statistics.median(r.renewals_per_second for r in mine),
                "baseline_rows_per_second": statistics.median(
                    r.baseline_rows_per_second for r in mine
                ),
                "ratio_to_baseline": statistics.median(ratios),
                "ratio_range": [min(ratios), max(ratios)],
                "cpu_ms_per_renewal": {
                    name: statistics.median(r.cpu_ms_per_renewal.get(name, 0.0) for r in mine)
                    for name in mine[0].cpu_ms_per_renewal
                },
                "machine_busy_share": median_or_none(
                    [r.cpu_seconds.get("machine_busy_share", float("nan")) for r in mine]
                ),
                "duplicates": sum(
                    r.check["duplicate_billing_keys"]
                    + r.check["subscriptions_without_exactly_one_cycle_order"]
                    + r.check["orders_without_exactly_one_attempt"]
                    for r in mine
                ),
                "checks_passed": all(r.check["passed"] for r in mine),
                "target_seconds": TARGET_SECONDS_PER_100K * mine[0].subscriptions / 100_000,
                "target_met": statistics.median(r.renewals_per_second for r in mine)
                >= TARGET_RENEWALS_PER_SECOND,
            }
        )
    return found


def render(runs: list[RunFigures], medians: list[dict[str, Any]]) -> str:
    lines = [
        "| round | config | seconds | renewals/s | baseline s | baseline rows/s | ratio |"
        " orders | duplicates | failed: renewals/rounds | check |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        c = r.check
        duplicates = (
            c["duplicate_billing_keys"]
            + c["subscriptions_without_exactly_one_cycle_order"]
            + c["orders_without_exactly_one_attempt"]
        )
        lines.append(
            f"| {r.round} | batch {r.batch_size}"
            + (f" ×{r.at_once} at once" if r.at_once > 1 else "")
            + f", {r.schedulers}× | {r.seconds:.1f} |"
            f" {r.renewals_per_second:,.0f} | {r.baseline_seconds:.2f} |"
            f" {r.baseline_rows_per_second:,.0f} | {r.ratio_to_baseline:.4f} | {c['orders']:,} |"
            f" {duplicates} | {r.errors}/{r.round_failures} |"
            f" {'passed' if c['passed'] else 'FAILED'} |"
        )
    lines += [
        "",
        "| config (medians) | runs | seconds | renewals/s | ratio to baseline | target |"
        " CPU ms/renewal: scheduler, PG backends, PG other, other | duplicates |",
        "|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for m in medians:
        cpu = m["cpu_ms_per_renewal"]
        split = ", ".join(
            f"{cpu.get(name, float('nan')):.2f}"
            for name in ("scheduler", "postgres_backends", "postgres_other", "other")
        )
        target = f"≤ {m['target_seconds']:.0f} s: {'met' if m['target_met'] else 'NOT met'}"
        lines.append(
            f"| {m['config']} | {m['runs']} | {m['seconds']:.1f} |"
            f" {m['renewals_per_second']:,.0f} |"
            f" {m['ratio_to_baseline']:.4f} [{m['ratio_range'][0]:.4f}–{m['ratio_range'][1]:.4f}] |"
            f" {target} | {split} | {m['duplicates']} |"
        )
    return "\n".join(lines)


def render_trace(trace: dict[str, Any]) -> str:
    lines = [
        f"trace: {trace['renewals']} renewals (batch {trace['batch_size']}),"
        f" {trace['ms_per_renewal']:.2f} ms each, {trace['statements_per_renewal']:.1f} statements"
        f" each; awaiting Postgres {trace['awaiting_postgres_share']:.0%} of the wall time",
        "| statement | per renewal | mean ms | share of wall |",
        "|---|---:|---:|---:|",
    ]
    for row in trace["by_statement"][:30]:
        lines.append(
            f"| {row['statement']} | {row['per_renewal']:.2f} | {row['mean_ms']:.3f} |"
            f" {row['total_share_of_wall']:.1%} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


async def bench(
    arguments: argparse.Namespace, save: Callable[[dict[str, Any], bool], None]
) -> dict[str, Any]:
    """Every run; `save` writes the report so far after each (a long run
    interrupted keeps what it measured)."""
    server_url = plain_postgres_url(arguments.database_url)
    template = f"billingos_bench_renewals_{os.getpid()}"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    options = Options(
        server_url=server_url,
        template=template,
        subscriptions=arguments.subscriptions,
        pool_size=arguments.pool_size,
        py_spy=arguments.py_spy,
        py_spy_rate=arguments.py_spy_rate,
        stamp=stamp,
    )
    configs = [
        Config(b, s, k)
        for b in arguments.batch_size
        for k in arguments.rounds_at_once
        for s in arguments.schedulers
    ]
    await admin(server_url, f'CREATE DATABASE "{template}"')
    try:
        template_url = with_database(server_url, template)
        began = time.perf_counter()
        await upgrade_to_head_async(MIGRATIONS_DIR, template_url)
        migrated = time.perf_counter() - began
        seeded, seed_info = await seed(
            template_url, arguments.subscriptions, arguments.organizations, arguments.products
        )
        seed_info["migrate_seconds"] = migrated
        seed_info["seed_seconds"] = time.perf_counter() - began - migrated
        log.info(
            "%s: migrated in %.1f s, %d subscriptions seeded in %.1f s (%s)",
            template,
            migrated,
            arguments.subscriptions,
            seed_info["seed_seconds"],
            seed_info["database_size"],
        )
        baseline = baseline_rows(seeded)
        del seeded
        runs: list[RunFigures] = []
        trace = None

        def so_far() -> dict[str, Any]:
            medians = summarize(runs, configs)
            return {
                "seed": seed_info,
                "runs": [asdict(r) for r in runs],
                "medians": medians,
                "trace": trace,
                "rendered": render(runs, medians),
            }

        if arguments.trace:
            trace = await traced_run(options, arguments.trace, arguments.batch_size[0])
            print(render_trace(trace), flush=True)
        for number in range(1, arguments.rounds + 1):
            # The order rotates each round: a drift of the machine hits every config alike.
            shift = (number - 1) % len(configs)
            for config in configs[shift:] + configs[:shift]:
                runs.append(await measured_run(number, config, options, baseline))
                save(so_far(), False)
    finally:
        await admin(server_url, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    return so_far()


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "mode", nargs="?", default="bench", choices=("bench", "worker"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--subscriptions",
        type=int,
        default=100_000,
        help="due subscriptions to renew (default 100,000)",
    )
    parser.add_argument(
        "--organizations", type=int, default=10, help="organizations they belong to (default 10)"
    )
    parser.add_argument(
        "--products",
        type=int,
        default=3,
        help="products (one fixed monthly price each) per organization (default 3)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        nargs="+",
        default=[200],
        help="the scheduler's batch size(s) to measure (default 200, the setting's)",
    )
    parser.add_argument(
        "--schedulers",
        type=int,
        nargs="+",
        default=[1],
        help="scheduler counts to measure: 1 runs in this process, more run as "
        "that many processes at once (default 1)",
    )
    parser.add_argument(
        "--rounds-at-once",
        type=int,
        nargs="+",
        default=[1],
        help="batches each scheduler claims and works at once (default 1; the service's "
        "setting scheduler_rounds_at_once)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measured runs of every configuration (default 1)"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=10,
        help="each scheduler's pool size (default 10, the service's)",
    )
    parser.add_argument(
        "--trace",
        type=int,
        default=0,
        metavar="N",
        help="first, a diagnostic run timing every statement of N renewals (default 0: none)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="BIN",
        default=None,
        help="py-spy executable: sample each scheduler process during the runs",
    )
    parser.add_argument("--py-spy-rate", type=int, default=100, help="samples a second (100)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BILLINGOS_BENCH_DATABASE_URL", DEFAULT_SERVER),
        help="a Postgres server to make the scratch databases on "
        f"(default $BILLINGOS_BENCH_DATABASE_URL or {DEFAULT_SERVER}); "
        "in worker mode, the database to renew in",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON file (default bench/results/renewals-<UTC timestamp>.json)",
    )
    arguments = parser.parse_args(argv)
    for name in ("subscriptions", "organizations", "products", "rounds", "pool_size"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(arguments.batch_size + arguments.schedulers + arguments.rounds_at_once) < 1:
        parser.error("--batch-size, --schedulers and --rounds-at-once must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("alembic", "billingos_kit"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if arguments.mode == "worker":
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(
                worker_main(
                    plain_postgres_url(arguments.database_url),
                    arguments.batch_size[0],
                    arguments.pool_size,
                    arguments.rounds_at_once[0],
                )
            )
        return 0
    started_at = dt.datetime.now(dt.UTC)
    engine = engine_source()
    load_before = os.getloadavg()
    began = time.perf_counter()
    out: Path = arguments.out or RESULTS_DIR / f"renewals-{started_at:%Y%m%dT%H%M%SZ}.json"

    def save(result: dict[str, Any], complete: bool) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report(result, complete), indent=2, default=str) + "\n")

    def report(result: dict[str, Any], complete: bool) -> dict[str, Any]:
        seed_info = result["seed"]
        return {
            "benchmark": "renewals",
            "started_at": started_at.isoformat(),
            "machine": machine()
            | {
                "postgres_version": seed_info.get("postgres_version"),
                "postgres_settings": seed_info.get("postgres_settings"),
                "postgres": "scratch databases on a server (not the suite's embedded one)",
                "event_loop": "uvloop" if loop_factory() else "asyncio",
            },
            "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
            "engine": engine,
            "parameters": {
                name: value if not isinstance(value, Path) else str(value)
                for name, value in vars(arguments).items()
                if name not in ("mode", "database_url")
            },
            "targets": {
                "seconds_per_100k": TARGET_SECONDS_PER_100K,
                "renewals_per_second": TARGET_RENEWALS_PER_SECOND,
                "duplicates": 0,
            },
            "complete": complete,
            "seconds_total": time.perf_counter() - began,
            **{name: value for name, value in result.items() if name != "rendered"},
        }

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        result = runner.run(bench(arguments, save))
    save(result, True)
    total = time.perf_counter() - began
    print(result["rendered"])
    print(f"\nwrote {out}; took {total:.0f} s")
    passed = all(run["check"]["passed"] for run in result["runs"])
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
