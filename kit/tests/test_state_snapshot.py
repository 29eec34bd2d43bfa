"""Seeding the latest-state stream with entities that last changed before it
existed (snapshot.py), on real Postgres and JetStream: every entity's state
reaches the state stream once, nothing reaches the event stream, a state the
relay published is never overwritten by an older snapshot, and a context is
seeded once however often its leader restarts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import Column, MetaData, Table, Text, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from billingos.common.v1 import event_pb2
from billingos_kit.clock import UTC, FrozenClock
from billingos_kit.db import Connection, Database
from billingos_kit.outbox import Outbox
from billingos_kit.relay import OutboxRelay, ensure_streams
from billingos_kit.snapshot import StateSource, marker_subject, rows_as_states, seed_state_stream
from billingos_kit.streams import events_stream, state_stream
from billingos_kit.tables import KitTables
from billingos_kit.testing.db import execute
from billingos_kit.testing.eventtypes import event_message

START = dt.datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
ORGANIZATION = uuid.UUID("01900000-0000-7000-8000-000000000001")
WIDGETS = 600  # more than one publishing batch


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def widgets(kit_database: Database, kit_tables: KitTables) -> Table:
    """A service table of the test's schema, filled before any state stream existed."""
    table = Table(
        "widgets",
        MetaData(schema=kit_tables.schema),
        Column("id", Text, primary_key=True),
        Column("value", Text, nullable=False),
    )
    async with kit_database.connection() as connection:
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        await connection.execute(str(CreateTable(table).compile(dialect=dialect)))
    await execute(
        kit_database,
        insert(table).values([{"id": f"w{n}", "value": "old"} for n in range(WIDGETS)]),
    )
    return table


@dataclass
class Widget:
    id: str
    value: str


def widget_source(source: str, table: Table, entity: str = "widget") -> StateSource:
    """Each widget row as a `<entity>.created` state."""
    created = event_message(source, f"{entity}.created", with_state=True)

    def state(widget: Widget) -> Message:
        message = created()
        getattr(message, "state").id = widget.id  # noqa: B009
        getattr(message, "state").value = widget.value  # noqa: B009
        return message

    return rows_as_states(
        entity, table, Widget, state, organization_of=lambda _widget: ORGANIZATION
    )


async def states_by_subject(js: JetStreamContext, source: str) -> dict[str, str]:
    """Each state subject's widget value."""
    stream = state_stream(source)
    info = (await js.stream_info(stream)).state
    found: dict[str, str] = {}
    for seq in range(info.first_seq, info.last_seq + 1):
        with contextlib.suppress(NotFoundError):
            message = await js.get_msg(stream, seq)
            if "._snapshot." in message.subject:
                continue
            envelope = event_pb2.EventEnvelope.FromString(message.data or b"")
            assert envelope.organization_id == str(ORGANIZATION)
            kind = event_message(source, envelope.type, with_state=True)()
            envelope.data.Unpack(kind)
            found[message.subject] = getattr(kind, "state").value  # noqa: B009
    return found


async def test_every_existing_entity_reaches_the_state_stream_and_no_event_goes_out(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    widgets: Table,
) -> None:
    await ensure_streams(jetstream, source)

    seeded = await seed_state_stream(
        jetstream, kit_database, clock, source, [widget_source(source, widgets)]
    )

    assert seeded == WIDGETS
    states = await states_by_subject(jetstream, source)
    assert len(states) == WIDGETS
    assert states[f"billingos.state.{source}.widget.w7"] == "old"
    assert (await jetstream.stream_info(events_stream(source))).state.messages == 0


async def test_a_context_is_seeded_once_across_leader_restarts(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    widgets: Table,
) -> None:
    await ensure_streams(jetstream, source)
    sources = [widget_source(source, widgets)]
    assert await seed_state_stream(jetstream, kit_database, clock, source, sources) == WIDGETS
    before = (await jetstream.stream_info(state_stream(source))).state.last_seq

    assert await seed_state_stream(jetstream, kit_database, clock, source, sources) == 0
    assert (await jetstream.stream_info(state_stream(source))).state.last_seq == before


async def test_a_state_the_relay_published_is_never_replaced_by_the_snapshot(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    widgets: Table,
) -> None:
    # w1 changed after the upgrade: its event went out before the snapshot ran
    # (a leader that died before finishing its snapshot, say).
    updated = event_message(source, "widget.updated", with_state=True)
    async with kit_database.transaction() as connection:

        async def current() -> Connection:
            return connection

        message = updated()
        getattr(message, "state").id = "w1"  # noqa: B009
        getattr(message, "state").value = "new"  # noqa: B009
        await Outbox(current, kit_tables, clock, source, ORGANIZATION).add(message)
    await ensure_streams(jetstream, source)
    assert await OutboxRelay(kit_database, kit_tables, jetstream, clock, source).publish_pending()

    seeded = await seed_state_stream(
        jetstream, kit_database, clock, source, [widget_source(source, widgets)]
    )

    assert seeded == WIDGETS - 1
    states = await states_by_subject(jetstream, source)
    assert states[f"billingos.state.{source}.widget.w1"] == "new"
    assert states[f"billingos.state.{source}.widget.w2"] == "old"


async def test_the_leading_relay_seeds_the_state_stream(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    widgets: Table,
) -> None:
    relay = OutboxRelay(
        kit_database,
        kit_tables,
        jetstream,
        clock,
        source,
        state_sources=[widget_source(source, widgets)],
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        for _ in range(200):
            with contextlib.suppress(NotFoundError):
                await jetstream.get_last_msg(state_stream(source), marker_subject(source, "widget"))
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    assert len(await states_by_subject(jetstream, source)) == WIDGETS


async def test_a_kind_of_entity_added_later_is_seeded_and_the_others_are_not_again(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    widgets: Table,
) -> None:
    await ensure_streams(jetstream, source)
    widget_states = widget_source(source, widgets)
    await seed_state_stream(jetstream, kit_database, clock, source, [widget_states])

    gadget_states = widget_source(source, widgets, entity="gadget")
    seeded = await seed_state_stream(
        jetstream, kit_database, clock, source, [widget_states, gadget_states]
    )

    assert seeded == WIDGETS
    states = await states_by_subject(jetstream, source)
    assert len(states) == 2 * WIDGETS
    assert f"billingos.state.{source}.gadget.w3" in states


async def test_a_source_yielding_another_kind_of_entity_is_refused(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    widgets: Table,
) -> None:
    await ensure_streams(jetstream, source)
    mislabelled = StateSource("gadget", widget_source(source, widgets).read)

    with pytest.raises(TypeError, match=r"gadget source yielded a widget\.created"):
        await seed_state_stream(jetstream, kit_database, clock, source, [mislabelled])
    with pytest.raises(NotFoundError):
        await jetstream.get_last_msg(state_stream(source), marker_subject(source, "gadget"))


async def test_seeding_again_fills_only_the_subjects_still_empty(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
    widgets: Table,
) -> None:
    """`reseed-state`: for states that never reached the stream (changed on a
    replica of an older version during an upgrade), after the first seed."""
    await ensure_streams(jetstream, source)
    sources = [widget_source(source, widgets)]
    await seed_state_stream(jetstream, kit_database, clock, source, sources)
    subject = f"billingos.state.{source}.widget.w5"
    await jetstream.purge_stream(state_stream(source), subject=subject)

    assert await seed_state_stream(jetstream, kit_database, clock, source, sources) == 0
    assert await seed_state_stream(jetstream, kit_database, clock, source, sources, again=True) == 1
    assert subject in await states_by_subject(jetstream, source)
