"""Housekeeping deletes what the kit tables no longer need, and nothing else:
expired idempotency keys, outbox rows published over a week ago, and
processed-event ids older than any redelivery. Time is a frozen clock."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, update

from billingos_kit.clock import UTC, FrozenClock
from billingos_kit.db import Connection, Database
from billingos_kit.housekeeping import (
    PROCESSED_EVENT_RETENTION,
    PUBLISHED_EVENT_RETENTION,
    purge_once,
)
from billingos_kit.idempotency import IdempotencyStore
from billingos_kit.ids import new_id
from billingos_kit.outbox import Outbox
from billingos_kit.sql import Query
from billingos_kit.streams import EVENT_RETENTION
from billingos_kit.tables import KitTables
from billingos_kit.testing.db import execute, rows
from billingos_kit.testing.eventtypes import event_message

START = dt.datetime(2026, 7, 1, tzinfo=UTC)
TTL = dt.timedelta(hours=24)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


async def add_event(
    database: Database, tables: KitTables, clock: FrozenClock, published: dt.datetime | None
) -> uuid.UUID:
    """An outbox event created now, published at `published` (None: not yet)."""
    async with database.transaction() as connection:

        async def current() -> Connection:
            return connection

        outbox = Outbox(current, tables, clock, "kithousekeeping", None)
        event = await outbox.add(event_message("kithousekeeping", "widget.created")())
        if published is not None:
            await Query.of(
                update(tables.outbox)
                .where(tables.outbox.c.id == event.event_id)
                .values(published_at=published)
            ).execute(connection)
    return event.event_id


async def add_key(database: Database, tables: KitTables, clock: FrozenClock, key: str) -> None:
    """An idempotency key recorded now, expiring TTL from now."""
    store = IdempotencyStore(tables, clock, TTL)
    async with database.transaction() as connection:
        await store.record(connection, "platform", key, "/demo/Create", b"fp", b"response")


async def add_processed(
    database: Database, tables: KitTables, clock: FrozenClock, processed_at: dt.datetime
) -> uuid.UUID:
    event_id = new_id(clock)
    await execute(
        database,
        tables.processed_events.insert().values(
            consumer="kit-test", event_id=event_id, processed_at=processed_at
        ),
    )
    return event_id


async def remaining(database: Database, tables: KitTables) -> dict[str, set[object]]:
    return {
        "outbox_events": {r[0] for r in await rows(database, select(tables.outbox.c.id))},
        "idempotency_keys": {
            r[0] for r in await rows(database, select(tables.idempotency_keys.c.key))
        },
        "processed_events": {
            r[0] for r in await rows(database, select(tables.processed_events.c.event_id))
        },
    }


async def test_old_published_events_go_while_recent_and_unpublished_ones_stay(
    kit_database: Database, kit_tables: KitTables, clock: FrozenClock
) -> None:
    now = START + dt.timedelta(days=60)
    cutoff = now - PUBLISHED_EVENT_RETENTION
    old = await add_event(kit_database, kit_tables, clock, published=cutoff - SECOND)
    at_cutoff = await add_event(kit_database, kit_tables, clock, published=cutoff)
    recent = await add_event(kit_database, kit_tables, clock, published=cutoff + SECOND)
    never_published = await add_event(kit_database, kit_tables, clock, published=None)
    clock.set(now)

    deleted = await purge_once(kit_database, kit_tables, clock)

    assert deleted == {"outbox_events": 1, "idempotency_keys": 0, "processed_events": 0}
    left = (await remaining(kit_database, kit_tables))["outbox_events"]
    assert left == {at_cutoff, recent, never_published}
    assert old not in left


async def test_expired_idempotency_keys_go_while_live_ones_stay(
    kit_database: Database, kit_tables: KitTables, clock: FrozenClock
) -> None:
    await add_key(kit_database, kit_tables, clock, "oldest")
    clock.advance(dt.timedelta(hours=1))
    await add_key(kit_database, kit_tables, clock, "older")
    clock.advance(dt.timedelta(hours=1))
    await add_key(kit_database, kit_tables, clock, "newest")

    clock.set(START + TTL)  # "oldest" expires exactly now: still honoured
    assert await purge_once(kit_database, kit_tables, clock) == {
        "outbox_events": 0,
        "idempotency_keys": 0,
        "processed_events": 0,
    }

    clock.set(START + dt.timedelta(hours=1) + TTL + SECOND)
    deleted = await purge_once(kit_database, kit_tables, clock)

    assert deleted["idempotency_keys"] == 2
    assert (await remaining(kit_database, kit_tables))["idempotency_keys"] == {"newest"}


async def test_processed_ids_go_only_after_their_retention(
    kit_database: Database, kit_tables: KitTables, clock: FrozenClock
) -> None:
    now = START + dt.timedelta(days=90)
    cutoff = now - PROCESSED_EVENT_RETENTION
    old = await add_processed(kit_database, kit_tables, clock, cutoff - SECOND)
    kept = [
        await add_processed(kit_database, kit_tables, clock, cutoff),
        await add_processed(kit_database, kit_tables, clock, now - SECOND),
    ]
    clock.set(now)

    deleted = await purge_once(kit_database, kit_tables, clock)

    assert deleted == {"outbox_events": 0, "idempotency_keys": 0, "processed_events": 1}
    left = (await remaining(kit_database, kit_tables))["processed_events"]
    assert left == set(kept)
    assert old not in left


def test_processed_ids_outlive_every_message_the_streams_keep() -> None:
    # Otherwise a message could be redelivered after the record of its processing is gone.
    assert PROCESSED_EVENT_RETENTION > EVENT_RETENTION


async def test_a_purge_with_nothing_due_deletes_nothing(
    kit_database: Database, kit_tables: KitTables, clock: FrozenClock
) -> None:
    event = await add_event(kit_database, kit_tables, clock, published=START)
    await add_key(kit_database, kit_tables, clock, "live")
    processed = await add_processed(kit_database, kit_tables, clock, START)

    assert await purge_once(kit_database, kit_tables, clock) == {
        "outbox_events": 0,
        "idempotency_keys": 0,
        "processed_events": 0,
    }
    assert await remaining(kit_database, kit_tables) == {
        "outbox_events": {event},
        "idempotency_keys": {"live"},
        "processed_events": {processed},
    }
