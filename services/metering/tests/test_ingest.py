"""IngestEvents on real Postgres: the owner's shape, every bad input named
by index and field, all or nothing, dedup forever, replays, and events that
arrive before their customer."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc

from billingos.metering.v1 import usage_events_pb2
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata

from .conftest import (
    Stubs,
    announce_customer,
    eventually,
    ingest,
    refused,
    stored_events,
    usage_event,
)


async def test_a_batch_is_stored_and_counted(
    stubs: Stubs, metering_service: RunningService, servers: SessionServers
) -> None:
    organization = uuid.uuid4()
    customer = await announce_customer(metering_service, servers, organization)
    answer = await ingest(
        stubs,
        organization,
        [
            usage_event(
                customer_id=customer, metadata={"tokens": 1500, "model": "gpt"}, external_id="e1"
            ),
            usage_event(external_customer_id="user_123", external_id="e2"),
            usage_event(customer_id=customer),
        ],
    )
    assert (answer.inserted, answer.duplicates) == (3, 0)
    assert await stored_events(metering_service, organization) == 3


async def test_an_external_id_sent_again_is_a_duplicate_forever(
    stubs: Stubs, metering_service: RunningService, session_clock: FrozenClock
) -> None:
    organization = uuid.uuid4()
    first = await ingest(
        stubs,
        organization,
        [
            usage_event(external_customer_id="u", external_id="x"),
            usage_event(external_customer_id="u", external_id="x"),  # repeated in the batch
        ],
    )
    assert (first.inserted, first.duplicates) == (1, 1)
    old = session_clock.now() - dt.timedelta(days=20)
    again = await ingest(
        stubs, organization, [usage_event(external_customer_id="u", external_id="x", at=old)]
    )
    assert (again.inserted, again.duplicates) == (0, 1)
    assert await stored_events(metering_service, organization) == 1


async def test_a_replay_with_the_same_key_stores_nothing_twice(
    stubs: Stubs, metering_service: RunningService
) -> None:
    organization = uuid.uuid4()
    batch = [usage_event(external_customer_id="u"), usage_event(external_customer_id="u")]
    key = str(uuid.uuid4())
    first = await ingest(stubs, organization, batch, key=key)
    replay = await ingest(stubs, organization, batch, key=key)
    assert (first.inserted, replay.inserted) == (2, 2)  # the first answer, replayed
    assert await stored_events(metering_service, organization) == 2


async def test_every_bad_event_is_named_and_nothing_is_stored(
    stubs: Stubs, metering_service: RunningService, session_clock: FrozenClock
) -> None:
    organization = uuid.uuid4()
    now = session_clock.now()
    good = usage_event(external_customer_id="u")
    bad = [
        good,
        usage_event("", external_customer_id="u"),
        usage_event(),
        usage_event(customer_id="not-an-id"),
        usage_event(external_customer_id="u", at=now + dt.timedelta(minutes=6)),
        usage_event(external_customer_id="u", at=now - dt.timedelta(days=36)),
        usage_event(external_customer_id="u", metadata={"nested": {"a": 1}}),
        usage_event(external_customer_id="u", metadata={"k" * 65: 1}),
        usage_event(external_customer_id="u", metadata={f"k{i}": i for i in range(51)}),
        usage_event(external_customer_id="u", metadata={"list": [1, 2]}),
        usage_event(external_customer_id="u", metadata={"none": None}),
        usage_event(external_customer_id="u", metadata={"s": "x" * 1001}),
        usage_event(customer_id=uuid.uuid4(), external_customer_id="u"),
    ]
    error = await refused(ingest(stubs, organization, bad))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [
        "events[1].name",
        "events[2].customer_id",
        "events[3].customer_id",
        "events[4].timestamp",
        "events[5].timestamp",
        "events[6].metadata.nested",
        "events[7].metadata",
        "events[8].metadata",
        "events[9].metadata.list",
        "events[10].metadata.none",
        "events[11].metadata.s",
        "events[12].customer_id",
    ]
    assert await stored_events(metering_service, organization) == 0


async def test_a_nul_character_is_refused(stubs: Stubs) -> None:
    error = await refused(
        ingest(stubs, uuid.uuid4(), [usage_event("a\x00b", external_customer_id="u")])
    )
    assert error.fields == ["events[0].name"]


async def test_more_events_than_the_limit_are_refused(stubs: Stubs) -> None:
    events = [usage_event(external_customer_id="u")] * 1001
    error = await refused(ingest(stubs, uuid.uuid4(), events))
    assert error.fields == ["events"]
    assert "at most 1000" in error.message
    empty = await refused(ingest(stubs, uuid.uuid4(), []))
    assert empty.fields == ["events"]


async def test_a_customer_the_organization_does_not_have_is_refused(
    stubs: Stubs, metering_service: RunningService, servers: SessionServers
) -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    their_customer = await announce_customer(metering_service, servers, theirs)
    error = await refused(
        ingest(
            stubs,
            mine,
            [usage_event(external_customer_id="u"), usage_event(customer_id=their_customer)],
        )
    )
    assert error.fields == ["events[1].customer_id"]
    assert await stored_events(metering_service, mine) == 0


async def test_a_timestamp_may_be_left_out_or_late(
    stubs: Stubs, metering_service: RunningService, session_clock: FrozenClock
) -> None:
    organization = uuid.uuid4()
    now = session_clock.now()
    await ingest(
        stubs,
        organization,
        [
            usage_event(external_customer_id="u"),
            usage_event(external_customer_id="u", at=now - dt.timedelta(days=34)),
            usage_event(external_customer_id="u", at=now + dt.timedelta(minutes=4)),
        ],
    )
    async with metering_service.app.database.connection() as connection:
        times = sorted(
            row[0]
            for row in await connection.fetch(
                "SELECT timestamp FROM metering.events WHERE organization_id = $1", organization
            )
        )
    assert times == [now - dt.timedelta(days=34), now, now + dt.timedelta(minutes=4)]


async def test_events_sent_before_the_customer_count_for_it_once_it_exists(
    stubs: Stubs, metering_service: RunningService, servers: SessionServers
) -> None:
    organization = uuid.uuid4()
    await ingest(stubs, organization, [usage_event(external_customer_id="late_user")] * 3)

    async def unresolved() -> int:
        async with metering_service.app.database.connection() as connection:
            return int(
                await connection.fetchval(
                    "SELECT count(*) FROM metering.events WHERE organization_id = $1"
                    " AND customer_id IS NULL",
                    organization,
                )
            )

    assert await unresolved() == 3
    customer = await announce_customer(
        metering_service, servers, organization, external_id="late_user"
    )

    async def moved() -> bool | None:
        return True if await unresolved() == 0 else None

    await eventually(moved)
    # Sent now, it resolves at once.
    await ingest(stubs, organization, [usage_event(external_customer_id="late_user")])
    async with metering_service.app.database.connection() as connection:
        owners = await connection.fetch(
            "SELECT DISTINCT customer_id FROM metering.events WHERE organization_id = $1",
            organization,
        )
    assert [row[0] for row in owners] == [customer]


async def test_ingest_needs_an_organization(stubs: Stubs) -> None:
    error = await refused(
        stubs.events.IngestEvents(
            usage_events_pb2.IngestEventsRequest(events=[usage_event(external_customer_id="u")]),
            metadata=call_metadata(None),
        )
    )
    assert error.code == grpc.StatusCode.UNAUTHENTICATED


async def test_numbers_that_would_not_stay_exact_are_refused(stubs: Stubs) -> None:
    organization = uuid.uuid4()
    error = await refused(
        ingest(
            stubs,
            organization,
            [
                usage_event(external_customer_id="u", metadata={"n": 2.0**53}),
                usage_event(external_customer_id="u", metadata={"n": 1e-30}),
                usage_event(external_customer_id="u", metadata={"n": -(2.0**60)}),
            ],
        )
    )
    assert error.fields == ["events[0].metadata.n", "events[1].metadata.n", "events[2].metadata.n"]
    fine = await ingest(
        stubs,
        organization,
        [usage_event(external_customer_id="u", metadata={"n": 2.0**53 - 1, "m": 1e-12, "z": 0})],
    )
    assert fine.inserted == 1


async def test_a_customer_learnt_from_the_directory_never_erases_the_copys_external_id(
    metering_service: RunningService,
) -> None:
    """Ingest by customer_id learns an unknown customer from the customers
    service, without its external id; if the customer's own event (with its
    external id and the same update time) was applied in between, that
    learning must not erase it (found under load: the external id's events
    then waited for a customer for ever)."""
    from billingos_kit.repository import OnConnection
    from billingos_metering.customers import KnownCustomers
    from billingos_metering.models import KnownCustomer

    organization, customer = uuid.uuid4(), uuid.uuid4()
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

    def state(external_id: str | None) -> KnownCustomer:
        return KnownCustomer(
            id=customer,
            organization_id=organization,
            external_id=external_id,
            deleted_at=None,
            source_updated_at=at,
            created_at=at,
            updated_at=at,
        )

    async with metering_service.app.database.transaction() as connection:
        known = KnownCustomers(OnConnection(connection, organization))
        await known.remember(state("user_1"))  # the customer's own event
        await known.learn(state(None))  # the directory's answer, a moment later
        assert await known.by_external_ids(["user_1"]) == {"user_1": customer}
        # Learnt first, the event still brings the external id.
        other = uuid.uuid4()
        await known.learn(KnownCustomer(other, organization, None, None, at, at, at))
        await known.remember(KnownCustomer(other, organization, "user_2", None, at, at, at))
        assert await known.by_external_ids(["user_2"]) == {"user_2": other}
