"""Writing events: an event is a row in the service's outbox table, inserted in
the same transaction as the change it announces. If the change rolls back, so
does the event; if it commits, the relay will publish it (see relay.py), and
the table's trigger has already woken the relay (NOTIFY is sent at commit).

`outbox.add(message)` reads what the event is from the message itself
(`billingos_kit.streams`): a service names no subject and no event type.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cache

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert

from billingos.common.v1 import event_pb2
from billingos_kit.bulk import bulk_insert, columns_of
from billingos_kit.clock import Clock
from billingos_kit.db import Connection
from billingos_kit.ids import new_ids
from billingos_kit.sql import Query
from billingos_kit.streams import kind_of, state_subject_of
from billingos_kit.tables import KitTables


@dataclass(frozen=True)
class PendingEvent:
    """An event as written, returned so callers (and tests) can refer to it."""

    event_id: uuid.UUID
    subject: str
    envelope: event_pb2.EventEnvelope


_COLUMNS = (
    "id",
    "subject",
    "state_subject",
    "event_type",
    "organization_id",
    "envelope",
    "created_at",
)


@cache
def _insert(tables: KitTables) -> Query:
    return Query.of(insert(tables.outbox).values({name: bindparam(name) for name in _COLUMNS}))


@cache
def _insert_many(tables: KitTables) -> Query:
    """Many events in one statement (column arrays), numbered by `sequence`
    in the arrays' order: the relay publishes them in the order given."""
    return bulk_insert(tables.outbox, names=_COLUMNS)


class Outbox:
    """Adds events to the current unit of work's outbox."""

    def __init__(
        self,
        connection: Callable[[], Awaitable[Connection]],
        tables: KitTables,
        clock: Clock,
        source: str,
        organization_id: uuid.UUID | None,
        *,
        transactional: bool = True,
    ) -> None:
        self._connection = connection
        self._transactional = transactional
        self._tables = tables
        self._clock = clock
        self._source = source
        self._organization_id = organization_id

    async def add(self, data: Message, *, organization_id: uuid.UUID | None = None) -> PendingEvent:
        """Records the event `data` is (e.g. a CustomerCreatedEvent), for the
        call's organization unless another is named (`organization.created`
        happens outside any)."""
        return (await self.add_many([data], organization_id=organization_id))[0]

    async def add_many(
        self, events: Sequence[Message], *, organization_id: uuid.UUID | None = None
    ) -> list[PendingEvent]:
        """Records several events in one round trip (a worker announcing a
        batch of changes: metering's balance pass), in order."""
        if not events:
            return []
        if not self._transactional:
            # Its row would commit alone, apart from the change it announces.
            raise RuntimeError(
                "a method that changes nothing cannot announce an event; declare it mutating "
                "(an HTTP verb other than GET, and no read_only option)"
            )
        tenant = organization_id or self._organization_id
        occurred_at = self._clock.now()
        occur_time = timestamp_pb2.Timestamp()
        occur_time.FromDatetime(occurred_at)
        pending: list[PendingEvent] = []
        rows: list[dict[str, object]] = []
        for data, event_id in zip(events, new_ids(self._clock, len(events)), strict=True):
            kind = kind_of(data)
            if kind.context != self._source:
                raise TypeError(f"{self._source} cannot announce {kind.context}'s {kind.type}")
            packed = any_pb2.Any()
            packed.Pack(data)
            envelope = event_pb2.EventEnvelope(
                event_id=str(event_id),
                type=kind.type,
                organization_id=str(tenant) if tenant else "",
                occur_time=occur_time,
                source=self._source,
                data=packed,
            )
            rows.append(
                {
                    "id": event_id,
                    "subject": kind.subject,
                    # "" when it carries no state; NULL is a row of a version
                    # before the state stream (the relay works its subject out).
                    "state_subject": state_subject_of(data) or "",
                    "event_type": kind.type,
                    "organization_id": tenant,
                    "envelope": envelope.SerializeToString(deterministic=True),
                    "created_at": occurred_at,
                }
            )
            pending.append(PendingEvent(event_id, kind.subject, envelope))
        connection = await self._connection()
        if len(rows) == 1:
            await _insert(self._tables).execute(connection, **rows[0])
        else:
            await _insert_many(self._tables).execute(connection, **columns_of(rows, _COLUMNS))
        return pending


async def unpublished_count(connection: Connection, tables: KitTables) -> int:
    """How many events wait for the relay (for health and tests)."""
    table = tables.outbox
    query = Query.of(select(func.count()).select_from(table).where(table.c.published_at.is_(None)))
    record = await query.fetch_one(connection)
    return int(record[0]) if record is not None else 0
