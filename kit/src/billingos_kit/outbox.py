"""Writing events: an event is a row in the service's outbox table, inserted in
the same transaction as the change it announces. If the change rolls back, so
does the event; if it commits, the relay will publish it (see relay.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billingos.common.v1 import event_pb2
from billingos_kit.clock import Clock
from billingos_kit.ids import new_id
from billingos_kit.tables import KitTables

NOTIFY_CHANNEL = "billingos_outbox"


def subject_for(source: str, event_type: str) -> str:
    """`billingos.<context>.<entity>.<verb>`, DESIGN §4."""
    return f"billingos.{source}.{event_type}"


def stream_for(source: str) -> str:
    """The JetStream stream holding one context's events."""
    return f"BILLINGOS_{source.upper()}"


@dataclass(frozen=True)
class PendingEvent:
    """An event as written, returned so callers (and tests) can refer to it."""

    event_id: uuid.UUID
    subject: str
    envelope: event_pb2.EventEnvelope


class Outbox:
    """Adds events to the current transaction's outbox."""

    def __init__(self, session: AsyncSession, tables: KitTables, clock: Clock, source: str):
        self._session = session
        self._table = tables.outbox
        self._schema = tables.schema
        self._clock = clock
        self._source = source
        self._notified = False

    async def add(
        self, event_type: str, organization_id: uuid.UUID | None, data: Message
    ) -> PendingEvent:
        """Records `event_type` (e.g. "customer.created") carrying `data`."""
        event_id = new_id(self._clock)
        occurred_at = self._clock.now()
        occur_time = timestamp_pb2.Timestamp()
        occur_time.FromDatetime(occurred_at)
        packed = any_pb2.Any()
        packed.Pack(data)
        envelope = event_pb2.EventEnvelope(
            event_id=str(event_id),
            type=event_type,
            organization_id=str(organization_id) if organization_id else "",
            occur_time=occur_time,
            source=self._source,
            data=packed,
        )
        subject = subject_for(self._source, event_type)
        await self._session.execute(
            self._table.insert().values(
                id=event_id,
                subject=subject,
                event_type=event_type,
                organization_id=organization_id,
                envelope=envelope.SerializeToString(deterministic=True),
                created_at=occurred_at,
            )
        )
        if not self._notified:
            # Delivered at commit, never for a rollback: wakes the relay at once.
            await self._session.execute(select(func.pg_notify(NOTIFY_CHANNEL, self._schema)))
            self._notified = True
        return PendingEvent(event_id, subject, envelope)


async def unpublished_count(session: AsyncSession, tables: KitTables) -> int:
    """How many events wait for the relay (for health and tests)."""
    table = tables.outbox
    result = await session.execute(
        select(func.count()).select_from(table).where(table.c.published_at.is_(None))
    )
    return int(result.scalar_one())
