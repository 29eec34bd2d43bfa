"""Deleting what the kit tables no longer need: published outbox rows, expired
idempotency keys, and processed-event ids older than any redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from sqlalchemy import bindparam, delete

from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.sql import Query, affected_rows
from billingos_kit.tables import KitTables

log = logging.getLogger(__name__)

# Outbox rows are kept a week after publishing, for inspection and replays.
PUBLISHED_EVENT_RETENTION = dt.timedelta(days=7)
# Longer than the streams keep messages, so no redelivery can outlive its record.
PROCESSED_EVENT_RETENTION = dt.timedelta(days=30)


async def purge_once(database: Database, tables: KitTables, clock: Clock) -> dict[str, int]:
    """One pass; returns the rows deleted per table."""
    now = clock.now()
    statements = {
        "outbox_events": delete(tables.outbox).where(
            tables.outbox.c.published_at < bindparam("published_before")
        ),
        "idempotency_keys": delete(tables.idempotency_keys).where(
            tables.idempotency_keys.c.expires_at < bindparam("now")
        ),
        "processed_events": delete(tables.processed_events).where(
            tables.processed_events.c.processed_at < bindparam("processed_before")
        ),
    }
    values = {
        "published_before": now - PUBLISHED_EVENT_RETENTION,
        "now": now,
        "processed_before": now - PROCESSED_EVENT_RETENTION,
    }
    deleted: dict[str, int] = {}
    async with database.transaction() as connection:
        for name, statement in statements.items():
            query = Query.of(statement)
            status = await query.execute(
                connection, **{k: v for k, v in values.items() if k in query.names}
            )
            deleted[name] = affected_rows(status)
    return deleted


async def run_housekeeping(
    database: Database,
    tables: KitTables,
    clock: Clock,
    stop: asyncio.Event,
    *,
    every_seconds: float = 600.0,
) -> None:
    """Purges every `every_seconds` until `stop` is set."""
    while not stop.is_set():
        try:
            deleted = await purge_once(database, tables, clock)
            if any(deleted.values()):
                log.info("housekeeping purged rows", extra={"deleted": deleted})
        except Exception:
            log.exception("housekeeping failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_seconds)
