"""Seeding a context's latest-state stream with what existed before it.

The state stream learns an entity when an event carrying its whole state is
published. Entities that last changed before that stream existed (an upgrade
from a version without it, or a kind of entity whose events only now carry
its state) would stay unknown to every read copy. So, once per kind of entity,
the relay's leader publishes the current state of every entity from the
service's own tables (the `StateSource`s the service registers), then a marker
`billingos.state.<context>._snapshot.<entity>` (no consumer's subjects match it).

A snapshot never overwrites a newer state: each message is published only if
its subject is still empty (`Nats-Expected-Last-Subject-Sequence: 0`); a state
the relay published meanwhile wins. Snapshot messages reach the state stream
only, never the event stream: no consumer sees a second "created".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError
from sqlalchemy import Table, select

from billingos.common.v1 import event_pb2
from billingos_kit.clock import Clock
from billingos_kit.db import Connection, Database
from billingos_kit.ids import new_id
from billingos_kit.sql import Query
from billingos_kit.streams import kind_of, state_stream, state_subject_of

log = logging.getLogger(__name__)
RowT = TypeVar("RowT")

_WRONG_LAST_SEQUENCE = 10071


@dataclass(frozen=True)
class StateSource:
    """How to read the current state of every entity of one kind.

    `read` yields, for every entity, an event message holding its current
    state (of `entity`'s kind) and the entity's organization.
    """

    entity: str  # "customer": the entity part of the event types
    read: Callable[[Connection], AsyncIterator[tuple[Message, uuid.UUID]]]


def rows_as_states(
    entity: str,
    table: Table,
    row_type: Callable[..., RowT],
    state: Callable[[RowT], Message],
    *,
    organization_of: Callable[[RowT], uuid.UUID] | None = None,
) -> StateSource:
    """A state source over every row of `table` (every organization's,
    deleted ones too: a read copy must learn a deletion), in id order; each
    row becomes the event `state` builds. Rows name their organization in
    `organization_id` unless `organization_of` says otherwise."""
    query = Query.of(select(table).order_by(table.c.id))
    owner = organization_of or _organization_id

    async def states(connection: Connection) -> AsyncIterator[tuple[Message, uuid.UUID]]:
        async for record in query.cursor(connection):
            row = row_type(**record)
            yield state(row), owner(row)

    return StateSource(entity, states)


def _organization_id(row: Any) -> uuid.UUID:
    organization_id: uuid.UUID = row.organization_id
    return organization_id


def marker_subject(context: str, entity: str) -> str:
    return f"billingos.state.{context}._snapshot.{entity}"


async def seed_state_stream(
    js: JetStreamContext,
    database: Database,
    clock: Clock,
    context: str,
    sources: Sequence[StateSource],
    *,
    batch_size: int = 256,
    again: bool = False,
) -> int:
    """Publishes the state of every entity of each kind not seeded yet (with
    `again`, of every kind: for entities whose state never reached the
    stream, e.g. changed by a replica of an older version during an upgrade);
    returns how many states went out.

    Each source reads in one read-only, repeatable-read transaction (so it may
    stream rows with a cursor and sees one consistent moment). The caller is
    the relay's leader, before it publishes anything: an event committed
    after that moment is published afterwards and replaces the snapshot's
    state, an event committed before it carries the same state the snapshot
    read.
    """
    published = 0
    for source in sources:
        if not again and await _seeded(js, context, source.entity):
            continue
        count = 0
        async with (
            database.connection() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            batch: list[tuple[Message, uuid.UUID]] = []
            async for state in source.read(connection):
                if kind_of(state[0]).entity != source.entity:
                    raise TypeError(
                        f"the {source.entity} source yielded a {kind_of(state[0]).type} event"
                    )
                batch.append(state)
                if len(batch) >= batch_size:
                    count += await _publish_batch(js, clock, context, batch)
                    batch = []
            count += await _publish_batch(js, clock, context, batch)
        await js.publish(
            marker_subject(context, source.entity),
            b"",
            headers={"Nats-Msg-Id": f"{context}.{source.entity}.snapshot.{new_id(clock)}"},
        )
        log.info(
            "state stream seeded",
            extra={"context": context, "entity": source.entity, "states": count},
        )
        published += count
    return published


async def _seeded(js: JetStreamContext, context: str, entity: str) -> bool:
    try:
        await js.get_last_msg(state_stream(context), marker_subject(context, entity))
    except NotFoundError:
        return False
    return True


async def _publish_batch(
    js: JetStreamContext, clock: Clock, context: str, batch: list[tuple[Message, uuid.UUID]]
) -> int:
    """Publishes a batch concurrently; returns how many the stream stored.

    Plain request-reply publishes: nats-py's `publish_async` never resolves
    the future of a publish the stream refuses (2.16 raises inside its reply
    callback instead), and refusals are expected here.
    """
    outcomes = await asyncio.gather(
        *(_publish_if_absent(js, clock, context, message, org) for message, org in batch)
    )
    return sum(outcomes)


async def _publish_if_absent(
    js: JetStreamContext, clock: Clock, context: str, message: Message, organization_id: uuid.UUID
) -> int:
    subject = state_subject_of(message)
    if subject is None:
        raise TypeError(f"{kind_of(message).type} carries no whole state")
    occur_time = timestamp_pb2.Timestamp()
    occur_time.FromDatetime(clock.now())
    data = any_pb2.Any()
    data.Pack(message)
    envelope = event_pb2.EventEnvelope(
        event_id=str(new_id(clock)),
        type=kind_of(message).type,
        organization_id=str(organization_id),
        occur_time=occur_time,
        source=context,
        data=data,
    )
    try:
        await js.publish(
            subject,
            envelope.SerializeToString(deterministic=True),
            headers={"Nats-Msg-Id": envelope.event_id, "Nats-Expected-Last-Subject-Sequence": "0"},
        )
    except APIError as error:
        if error.err_code == _WRONG_LAST_SEQUENCE:
            return 0  # a newer state is there already
        raise
    return 1
