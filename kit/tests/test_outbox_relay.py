"""The transactional outbox and its relay (DESIGN §4), on real Postgres and
JetStream: no event for a rolled-back change, committed events published in
commit order with their id as `Nats-Msg-Id`, the latest state of each entity
kept on its state subject, nothing lost and nothing doubled when a relay dies
between publishing and marking, and a relay that wakes on the outbox
trigger's NOTIFY rather than waiting for its poll."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NoStreamResponseError
from sqlalchemy import select, update

from billingos.common.v1 import event_pb2
from billingos_kit.clock import UTC, FrozenClock
from billingos_kit.db import Connection, Database
from billingos_kit.migrations import OUTBOX_CHANNEL
from billingos_kit.outbox import Outbox, PendingEvent, unpublished_count
from billingos_kit.relay import OutboxRelay, ensure_streams
from billingos_kit.sql import Query
from billingos_kit.streams import events_stream, state_stream
from billingos_kit.tables import KitTables
from billingos_kit.testing.db import rows
from billingos_kit.testing.eventtypes import event_message

START = dt.datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
ORGANIZATION = uuid.UUID("01900000-0000-7000-8000-000000000001")
# The relay's fallback poll in the wake-up tests: far longer than any bound asserted.
LONG_POLL_SECONDS = 30.0
# Generous: a correctness check of the wake-up, not a benchmark.
WAKE_BOUND_SECONDS = 5.0


class SimulatedCrash(Exception):
    """The process dying after the relay's work but before its commit."""


class DiesBeforeMarking(OutboxRelay):
    """A relay whose process dies after publishing, before marking."""

    async def _mark_published(self, connection: Connection, ids: list[uuid.UUID]) -> None:
        raise SimulatedCrash()


class CommitsDuringPass(OutboxRelay):
    """A relay through which the test commits an event while a pass is under way."""

    def __init__(
        self, *args: Any, during_first_pass: Callable[[], Awaitable[None]], **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self._during_first_pass: Callable[[], Awaitable[None]] | None = during_first_pass

    async def publish_pending(self) -> int:
        published = await super().publish_pending()
        hook, self._during_first_pass = self._during_first_pass, None
        if hook is not None:
            await hook()
            # The commit's NOTIFY has reached this relay before the pass ends.
            await asyncio.wait_for(self._wake.wait(), timeout=WAKE_BOUND_SECONDS)
        return published


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


async def commit_events(
    database: Database,
    tables: KitTables,
    clock: FrozenClock,
    source: str,
    event_types: Sequence[str],
) -> list[PendingEvent]:
    """One transaction adding one event per type, committed."""
    async with database.transaction() as connection:
        outbox = outbox_on(connection, tables, clock, source)
        return [
            await outbox.add(event_message(source, event_type)(value=event_type))
            for event_type in event_types
        ]


def outbox_on(connection: Connection, tables: KitTables, clock: FrozenClock, source: str) -> Outbox:
    async def current() -> Connection:
        return connection

    return Outbox(current, tables, clock, source, ORGANIZATION)


class ChangeFailed(Exception):
    """The change an event announces fails after the event was added."""


async def add_event_then_roll_back(
    database: Database, tables: KitTables, clock: FrozenClock, source: str
) -> uuid.UUID:
    """Adds an event in a transaction that then fails; returns the event's id."""
    added: list[PendingEvent] = []
    with contextlib.suppress(ChangeFailed):
        async with database.transaction() as connection:
            outbox = outbox_on(connection, tables, clock, source)
            added.append(await outbox.add(event_message(source, "widget.created")()))
            raise ChangeFailed()
    return added[0].event_id


async def publication_times(
    database: Database, tables: KitTables
) -> dict[uuid.UUID, dt.datetime | None]:
    """Every outbox row's publication time, by event id."""
    table = tables.outbox
    found = await rows(database, select(table.c.id, table.c.published_at))
    return {row["id"]: row["published_at"] for row in found}


async def pending(database: Database, tables: KitTables) -> int:
    async with database.connection() as connection:
        return await unpublished_count(connection, tables)


async def stream_messages(
    js: JetStreamContext, source: str, *, state: bool = False
) -> list[RawStreamMsg]:
    """Every message the context's event (or state) stream holds, in stream order."""
    stream = state_stream(source) if state else events_stream(source)
    info = (await js.stream_info(stream)).state
    if info.messages == 0:
        return []
    found = []
    for seq in range(info.first_seq, info.last_seq + 1):
        with contextlib.suppress(Exception):  # a sequence a newer state replaced
            found.append(await js.get_msg(stream, seq))
    return found


def message_ids(messages: Sequence[RawStreamMsg]) -> list[str]:
    return [(message.headers or {}).get("Nats-Msg-Id", "") for message in messages]


def event_ids(events: Sequence[PendingEvent]) -> list[str]:
    return [str(event.event_id) for event in events]


async def drain(relay: OutboxRelay) -> list[int]:
    """Runs passes until one finds nothing; returns each pass's count."""
    counts = [await relay.publish_pending()]
    while counts[-1]:
        counts.append(await relay.publish_pending())
    return counts


async def wait_until_published(
    database: Database, tables: KitTables, event: PendingEvent, *, within: float
) -> None:
    """Returns once the event's row is marked published; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while (await publication_times(database, tables)).get(event.event_id) is None:
        assert time.monotonic() < deadline, f"event not published within {within} s"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_event_of_rolled_back_change_is_never_published(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    doomed = await add_event_then_roll_back(kit_database, kit_tables, clock, source)
    (kept,) = await commit_events(kit_database, kit_tables, clock, source, ["widget.created"])
    await ensure_streams(jetstream, source)

    relay = OutboxRelay(kit_database, kit_tables, jetstream, clock, source)
    assert await drain(relay) == [1, 0]

    rows = await publication_times(kit_database, kit_tables)
    assert doomed not in rows
    assert list(rows) == [kept.event_id]
    assert message_ids(await stream_messages(jetstream, source)) == [str(kept.event_id)]


async def test_rolled_back_change_sends_no_notify(
    kit_database: Database,
    kit_tables: KitTables,
    clock: FrozenClock,
    source: str,
) -> None:
    marker = f"kit_test_marker_{secrets.token_hex(4)}"
    heard: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    def on_notify(_conn: object, _pid: int, channel: str, payload: object) -> None:
        heard.put_nowait((channel, str(payload)))

    listener = await asyncpg.connect(kit_database.url)
    try:
        await listener.add_listener(OUTBOX_CHANNEL, on_notify)
        await listener.add_listener(marker, on_notify)
        await add_event_then_roll_back(kit_database, kit_tables, clock, source)
        # Postgres delivers notifications in commit order: anything the rolled-back
        # transaction had sent would arrive before this marker.
        async with kit_database.connection() as connection:
            await connection.execute("SELECT pg_notify($1, '')", marker)
        before_marker = await notifications_until(heard, marker)
        assert (OUTBOX_CHANNEL, kit_tables.schema) not in before_marker

        await commit_events(kit_database, kit_tables, clock, source, ["widget.created"])
        channel, payload = await asyncio.wait_for(heard.get(), timeout=WAKE_BOUND_SECONDS)
        while payload != kit_tables.schema:  # other schemas' commits may be heard too
            channel, payload = await asyncio.wait_for(heard.get(), timeout=WAKE_BOUND_SECONDS)
        assert channel == OUTBOX_CHANNEL
    finally:
        await listener.close()


async def notifications_until(
    heard: asyncio.Queue[tuple[str, str]], marker: str
) -> list[tuple[str, str]]:
    """The notifications heard before the marker's."""
    before: list[tuple[str, str]] = []
    while True:
        channel, payload = await asyncio.wait_for(heard.get(), timeout=WAKE_BOUND_SECONDS)
        if channel == marker:
            return before
        before.append((channel, payload))


async def test_relay_publishes_committed_events_in_commit_order_with_their_ids(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    committed = []
    for event_types in (
        ["widget.created"],
        ["widget.updated", "widget.renamed"],
        ["widget.deleted"],
    ):
        committed += await commit_events(kit_database, kit_tables, clock, source, event_types)
        clock.advance(dt.timedelta(seconds=1))
    await ensure_streams(jetstream, source)

    relay = OutboxRelay(kit_database, kit_tables, jetstream, clock, source)
    assert await drain(relay) == [4, 0]

    messages = await stream_messages(jetstream, source)
    assert message_ids(messages) == event_ids(committed)
    assert [message.subject for message in messages] == [
        f"billingos.{source}.{event.envelope.type}" for event in committed
    ]
    for message, event in zip(messages, committed, strict=True):
        envelope = event_pb2.EventEnvelope.FromString(message.data or b"")
        assert envelope == event.envelope
        assert envelope.event_id == str(event.event_id)
        assert envelope.source == source
        assert envelope.organization_id == str(ORGANIZATION)
        data: Message = event_message(source, envelope.type)()
        assert envelope.data.Unpack(data)
        assert getattr(data, "value") == envelope.type  # noqa: B009
    assert set((await publication_times(kit_database, kit_tables)).values()) == {clock.now()}
    assert await pending(kit_database, kit_tables) == 0


async def test_relay_publishes_in_batches_without_reordering(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    committed = []
    for index in range(5):
        committed += await commit_events(
            kit_database, kit_tables, clock, source, [f"widget.step{index}"]
        )
    await ensure_streams(jetstream, source)

    relay = OutboxRelay(kit_database, kit_tables, jetstream, clock, source, batch_size=2)
    assert await drain(relay) == [2, 2, 1, 0]
    assert message_ids(await stream_messages(jetstream, source)) == event_ids(committed)


async def test_events_added_together_are_published_in_the_order_given(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    # add_many writes them in one statement; its numbering must follow the list.
    types = [f"widget.step{index}" for index in range(40)]
    async with kit_database.transaction() as connection:
        added = await outbox_on(connection, kit_tables, clock, source).add_many(
            [event_message(source, event_type)(value=event_type) for event_type in types]
        )
    await ensure_streams(jetstream, source)
    relay = OutboxRelay(kit_database, kit_tables, jetstream, clock, source, batch_size=7)
    await drain(relay)
    messages = await stream_messages(jetstream, source)
    assert message_ids(messages) == event_ids(added)
    assert [event_pb2.EventEnvelope.FromString(m.data or b"").type for m in messages] == types


async def test_events_the_stream_does_not_take_stay_in_the_outbox(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    await commit_events(kit_database, kit_tables, clock, source, ["widget.created"])
    # No stream exists for this context yet, so JetStream acknowledges nothing.
    relay = OutboxRelay(kit_database, kit_tables, jetstream, clock, source)
    with pytest.raises(NoStreamResponseError):
        await relay.publish_pending()
    assert await pending(kit_database, kit_tables) == 1

    await ensure_streams(jetstream, source)
    assert await drain(relay) == [1, 0]
    assert await pending(kit_database, kit_tables) == 0


async def test_relay_restart_loses_nothing_and_duplicates_are_harmless(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    committed = await commit_events(
        kit_database, kit_tables, clock, source, [f"widget.n{index}" for index in range(6)]
    )
    await ensure_streams(jetstream, source)

    dying = DiesBeforeMarking(kit_database, kit_tables, jetstream, clock, source)
    with pytest.raises(SimulatedCrash):
        await dying.publish_pending()
    # The events went out, but the marking died with the process.
    assert message_ids(await stream_messages(jetstream, source)) == event_ids(committed)
    assert await pending(kit_database, kit_tables) == len(committed)

    restarted = OutboxRelay(kit_database, kit_tables, jetstream, clock, source)
    assert await drain(restarted) == [len(committed), 0]

    messages = await stream_messages(jetstream, source)
    assert len(messages) == len(committed)
    assert message_ids(messages) == event_ids(committed)
    assert await pending(kit_database, kit_tables) == 0


async def test_running_relay_wakes_on_the_commits_notify_long_before_its_poll(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    relay = OutboxRelay(
        kit_database, kit_tables, jetstream, clock, source, poll_seconds=LONG_POLL_SECONDS
    )
    async with running(relay):
        # The first pass runs at start; once it has published this, the relay waits.
        (first,) = await commit_events(kit_database, kit_tables, clock, source, ["widget.first"])
        await wait_until_published(kit_database, kit_tables, first, within=WAKE_BOUND_SECONDS)

        (woken,) = await commit_events(kit_database, kit_tables, clock, source, ["widget.second"])
        await wait_until_published(kit_database, kit_tables, woken, within=WAKE_BOUND_SECONDS)

    assert message_ids(await stream_messages(jetstream, source)) == event_ids([first, woken])


async def test_an_event_committed_during_a_pass_is_not_left_for_the_poll(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    late: list[PendingEvent] = []

    async def commit_late_event() -> None:
        late.extend(await commit_events(kit_database, kit_tables, clock, source, ["widget.late"]))

    (early,) = await commit_events(kit_database, kit_tables, clock, source, ["widget.early"])
    relay = CommitsDuringPass(
        kit_database,
        kit_tables,
        jetstream,
        clock,
        source,
        poll_seconds=LONG_POLL_SECONDS,
        during_first_pass=commit_late_event,
    )
    async with running(relay):
        await wait_until_published(kit_database, kit_tables, early, within=WAKE_BOUND_SECONDS)
        assert late, "the relay's first pass committed no event"
        await wait_until_published(kit_database, kit_tables, late[0], within=WAKE_BOUND_SECONDS)

    assert message_ids(await stream_messages(jetstream, source)) == event_ids([early, *late])


async def test_the_latest_state_of_each_entity_is_kept_on_its_state_subject(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    created = event_message(source, "widget.created", with_state=True)
    updated = event_message(source, "widget.updated", with_state=True)
    plain = event_message(source, "widget.noticed")
    async with kit_database.transaction() as connection:
        outbox = outbox_on(connection, kit_tables, clock, source)
        for widget, value, kind in (
            ("w1", "v1", created),
            ("w2", "v1", created),
            ("w1", "v2", updated),
            ("w1", "", plain),  # carries no state: not kept as one
        ):
            message = kind(value=value)
            getattr(message, "state").id = widget  # noqa: B009
            getattr(message, "state").value = value  # noqa: B009
            await outbox.add(message)
    await ensure_streams(jetstream, source)
    assert await drain(OutboxRelay(kit_database, kit_tables, jetstream, clock, source)) == [4, 0]

    assert len(await stream_messages(jetstream, source)) == 4
    states = await stream_messages(jetstream, source, state=True)
    latest = {m.subject: event_pb2.EventEnvelope.FromString(m.data or b"").type for m in states}
    assert latest == {
        f"billingos.state.{source}.widget.w1": "widget.updated",
        f"billingos.state.{source}.widget.w2": "widget.created",
    }


async def test_a_batch_sends_only_its_last_state_of_each_entity(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    """Were the batch retried after a lost publish, an older state sent again
    could otherwise outlive the newer one the stream dropped as a repeat."""
    updated = event_message(source, "widget.updated", with_state=True)
    async with kit_database.transaction() as connection:
        outbox = outbox_on(connection, kit_tables, clock, source)
        for value in ("v1", "v2", "v3"):
            message = updated(value=value)
            getattr(message, "state").id = "w1"  # noqa: B009
            getattr(message, "state").value = value  # noqa: B009
            await outbox.add(message)
    await ensure_streams(jetstream, source)
    assert await drain(OutboxRelay(kit_database, kit_tables, jetstream, clock, source)) == [3, 0]

    assert len(await stream_messages(jetstream, source)) == 3  # every event
    state = (await jetstream.stream_info(state_stream(source))).state
    assert (state.messages, state.last_seq) == (1, 1)  # one state publish, the last
    (latest,) = await stream_messages(jetstream, source, state=True)
    envelope = event_pb2.EventEnvelope.FromString(latest.data or b"")
    payload = updated()
    assert envelope.data.Unpack(payload)
    assert payload.value == "v3"


async def test_rows_from_before_the_state_stream_reach_it_too(
    kit_database: Database,
    kit_tables: KitTables,
    jetstream: JetStreamContext,
    clock: FrozenClock,
    source: str,
) -> None:
    """A replica of the version before the state stream writes rows without a
    state subject (NULL); the relay reads it from the event."""
    created = event_message(source, "widget.created", with_state=True)
    plain = event_message(source, "widget.noticed")
    async with kit_database.transaction() as connection:
        outbox = outbox_on(connection, kit_tables, clock, source)
        message = created(value="old")
        getattr(message, "state").id = "w9"  # noqa: B009
        await outbox.add(message)
        await outbox.add(plain(value="no state"))
    table = kit_tables.outbox
    async with kit_database.connection() as connection:
        await Query.of(update(table).values(state_subject=None)).execute(connection)
    await ensure_streams(jetstream, source)
    assert await drain(OutboxRelay(kit_database, kit_tables, jetstream, clock, source)) == [2, 0]

    states = await stream_messages(jetstream, source, state=True)
    assert [m.subject for m in states] == [f"billingos.state.{source}.widget.w9"]


async def test_a_call_that_changes_nothing_cannot_announce_an_event(
    kit_database: Database, kit_tables: KitTables, clock: FrozenClock, source: str
) -> None:
    """Outside a transaction its row would commit alone, apart from the change."""

    async def no_connection() -> Connection:
        raise AssertionError("never reached")

    outbox = Outbox(no_connection, kit_tables, clock, source, ORGANIZATION, transactional=False)
    with pytest.raises(RuntimeError, match="changes nothing"):
        await outbox.add(event_message(source, "widget.created")())
    assert await pending(kit_database, kit_tables) == 0
