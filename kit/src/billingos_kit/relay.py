"""Publishing the outbox to NATS JetStream.

One relay per schema leads (a session advisory lock on a connection of its
own); the others wait to take over. The leader reads unpublished rows in the
order they were inserted (`sequence`; a row becomes visible at its
transaction's commit, so an earlier-inserted row of a longer transaction may
surface after a later one: consumers compare `update_time` where order
matters), publishes each with its event id as `Nats-Msg-Id` (and, for an
event that carries an entity's whole state, the same envelope to the entity's
state subject), and marks them published. A crash between publish and mark
leaves the rows unpublished: they go out again, the streams drop the repeats
inside their duplicate window, and consumers drop any that slip past it.
Nothing is lost; duplicates are harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError
from sqlalchemy import Uuid, bindparam, select, update
from sqlalchemy import any_ as sa_any
from sqlalchemy.dialects.postgresql import ARRAY

from billingos.common.v1 import event_pb2
from billingos_kit.clock import Clock
from billingos_kit.db import Connection, Database
from billingos_kit.migrations import OUTBOX_CHANNEL
from billingos_kit.snapshot import StateSource, seed_state_stream
from billingos_kit.sql import Query
from billingos_kit.streams import (
    DUPLICATE_WINDOW,
    EVENT_RETENTION,
    events_stream,
    events_subjects,
    state_stream,
    state_subject_of_envelope,
    state_subjects,
)
from billingos_kit.tables import KitTables

log = logging.getLogger(__name__)


async def ensure_streams(js: JetStreamContext, context: str) -> None:
    """Creates or updates a context's event stream and latest-state stream."""
    for config in (
        StreamConfig(
            name=events_stream(context),
            subjects=[events_subjects(context)],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW.total_seconds(),
            max_age=EVENT_RETENTION.total_seconds(),
        ),
        StreamConfig(
            name=state_stream(context),
            subjects=[state_subjects(context)],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW.total_seconds(),
            # The latest message of each entity, kept for ever.
            max_msgs_per_subject=1,
        ),
    ):
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with another configuration (e.g. an older duplicate window).
            await js.update_stream(config)


class OutboxRelay:
    """Moves one service's committed events from its outbox to JetStream."""

    def __init__(
        self,
        database: Database,
        tables: KitTables,
        js: JetStreamContext,
        clock: Clock,
        source: str,
        *,
        batch_size: int = 256,
        poll_seconds: float = 1.0,
        state_sources: Sequence[StateSource] = (),
    ) -> None:
        self._database = database
        self._table = tables.outbox
        self._schema = tables.schema
        self._js = js
        self._clock = clock
        self._source = source
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._state_sources = tuple(state_sources)
        self._wake = asyncio.Event()
        digest = hashlib.sha256(f"billingos-outbox-relay:{self._schema}".encode()).digest()
        self._lock_id = int.from_bytes(digest[:8], "big", signed=True)
        table = self._table
        self._pending = Query.of(
            select(table.c.id, table.c.subject, table.c.state_subject, table.c.envelope)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.sequence)
            .limit(bindparam("limit"))
        )
        self._mark = Query.of(
            update(table)
            .where(table.c.id == sa_any(bindparam("ids", type_=ARRAY(Uuid))))
            .values(published_at=bindparam("now"))
        )

    async def publish_pending(self) -> int:
        """Publishes one batch; returns how many events went out."""
        async with self._database.connection() as connection:
            rows = await self._pending.fetch(connection, limit=self._batch_size)
            if not rows:
                return 0
            # Only a batch's last state per entity goes to the state stream:
            # the batch is retried whole if any publish fails, and a retry
            # must not store an older state the first try lost while the
            # newer one it stored is dropped as a duplicate.
            state_subjects = [_state_subject(row) for row in rows]
            latest_state = {
                subject: row["id"]
                for row, subject in zip(rows, state_subjects, strict=True)
                if subject
            }
            acks = []
            for row, state_subject in zip(rows, state_subjects, strict=True):
                headers = {"Nats-Msg-Id": str(row["id"])}
                acks.append(
                    await self._js.publish_async(row["subject"], row["envelope"], headers=headers)
                )
                if state_subject and latest_state[state_subject] == row["id"]:
                    acks.append(
                        await self._js.publish_async(
                            state_subject,
                            row["envelope"],
                            headers={"Nats-Msg-Id": f"{row['id']}.state"},
                        )
                    )
            await asyncio.wait_for(asyncio.gather(*acks), timeout=30)
            await self._mark_published(connection, [row["id"] for row in rows])
        return len(rows)

    async def _mark_published(self, connection: Connection, ids: list[uuid.UUID]) -> None:
        await self._mark.execute(connection, ids=ids, now=self._clock.now())

    async def run(self, stop: asyncio.Event) -> None:
        """Publishes until `stop` is set, surviving NATS or Postgres outages.

        Only one relay per schema publishes at a time (the leader, holding a
        session advisory lock on a connection of its own), so events leave in
        commit order even with several replicas; the others wait to take over.
        """
        failures = 0
        while not stop.is_set():
            try:
                await self._lead(stop)
                failures = 0
            except Exception:
                failures += 1
                log.warning(
                    "outbox relay interrupted; retrying",
                    extra={"attempt": failures},
                    exc_info=True,
                )
                await _sleep_or_stop(stop, min(30.0, 0.5 * 2**failures))

    async def _lead(self, stop: asyncio.Event) -> None:
        import asyncpg

        await ensure_streams(self._js, self._source)
        connection = await asyncpg.connect(self._database.url)
        seeding: asyncio.Task[None] | None = None
        try:
            while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_id):
                await _sleep_or_stop(stop, self._poll_seconds)
                if stop.is_set():
                    return

            def on_notify(_conn: object, _pid: int, _channel: str, payload: object) -> None:
                if payload == self._schema:
                    self._wake.set()

            await connection.add_listener(OUTBOX_CHANNEL, on_notify)
            # Beside publishing, not before it: a snapshot state only lands on
            # an empty subject, so whichever comes first, the newest state
            # stays (snapshot.py), and a long snapshot holds no event back.
            seeding = asyncio.create_task(self._seed(), name=f"{self._source}-state-seed")
            while not stop.is_set():
                if connection.is_closed():
                    raise ConnectionError("lost the relay's leadership connection")
                # Cleared before looking, so a commit during the pass is not missed.
                self._wake.clear()
                published = await self.publish_pending()
                if published < self._batch_size:
                    await self._wait_for_work(stop)
        finally:
            if seeding is not None:
                seeding.cancel()
                await asyncio.wait([seeding])
            with contextlib.suppress(Exception):
                await connection.close()

    async def _seed(self) -> None:
        """Seeds the state stream; a failure is logged, and the next leader
        seeds again (a kind of entity is marked seeded only once it is)."""
        try:
            await seed_state_stream(
                self._js, self._database, self._clock, self._source, self._state_sources
            )
        except Exception:
            log.warning("state stream seeding failed; the next leader retries", exc_info=True)

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(
                waiters, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()


def _state_subject(row: Any) -> str | None:
    """A row's state subject; for a row written by a version before the state
    stream (the column is NULL), read from its event."""
    if row["state_subject"] is not None:
        return str(row["state_subject"]) or None
    return state_subject_of_envelope(event_pb2.EventEnvelope.FromString(row["envelope"]))


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
