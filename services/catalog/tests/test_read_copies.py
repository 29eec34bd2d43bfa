"""The catalog's read copies of the customers context, filled from its
latest-state stream. The customers service does not run here: the tests
publish its events the way its relay would. A redemption may name a customer
once the catalog has heard of it, and no longer once it is deleted; older
states arriving late, replays and redeliveries change nothing; a consumer
that starts after the customers exist still learns every one of them."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import nats
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from sqlalchemy import func, or_, select

from billingos.catalog.v1 import discounts_pb2, discounts_pb2_grpc, products_pb2, products_pb2_grpc
from billingos.common.v1 import event_pb2
from billingos.customers.v1 import customers_pb2, organizations_pb2
from billingos.customers.v1 import events_pb2 as customer_events
from billingos_catalog import models
from billingos_catalog.app import MIGRATIONS_DIR
from billingos_catalog.consumers import (
    CUSTOMERS_CONSUMER,
    ORGANIZATIONS_CONSUMER,
    customer_copy,
    forget_customer,
    organization_copy,
    remember_customer,
    remember_organization,
)
from billingos_kit.clock import FrozenClock
from billingos_kit.consumer import EventScope
from billingos_kit.db import Database
from billingos_kit.migrations import upgrade_to_head_async
from billingos_kit.outbox import Outbox
from billingos_kit.protoconv import timestamp
from billingos_kit.testing.db import rows, scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.events import publish_event
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata

# How long the catalog may take to hear of a change (an asynchronous consumer).
CONSUMER_DEADLINE_SECONDS = 15.0
LATE_CONSUMER_CUSTOMERS = 1000
TIME_OF_DELETE = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def customer(
    organization_id: uuid.UUID,
    clock: FrozenClock,
    *,
    customer_id: uuid.UUID | None = None,
    deleted_at: dt.datetime | None = None,
) -> customers_pb2.Customer:
    """A customer as the customers context announces it."""
    now = timestamp(clock.now())
    return customers_pb2.Customer(
        id=str(customer_id or uuid.uuid4()),
        organization_id=str(organization_id),
        email="ada@example.com",
        create_time=now,
        update_time=timestamp(deleted_at) if deleted_at else now,
        delete_time=timestamp(deleted_at),
    )


async def processed(
    service: RunningService, consumer: str, envelope: event_pb2.EventEnvelope
) -> None:
    """Waits until `consumer` has handled the event."""
    table = models.kit_tables.processed_events
    statement = (
        select(func.count())
        .select_from(table)
        .where(table.c.consumer == consumer, table.c.event_id == uuid.UUID(envelope.event_id))
    )
    deadline = time.monotonic() + CONSUMER_DEADLINE_SECONDS
    while not await scalar(service.app.database, statement):
        assert time.monotonic() < deadline, f"{consumer} never handled {envelope.type}"
        await asyncio.sleep(0.05)


async def known_customer_row(
    service: RunningService, customer_id: str
) -> tuple[uuid.UUID, dt.datetime | None] | None:
    """(organization_id, deleted_at) of the read copy's row, if any."""
    table = models.customers
    found = await rows(
        service.app.database,
        select(table.c.organization_id, table.c.deleted_at).where(
            table.c.id == uuid.UUID(customer_id)
        ),
    )
    return (found[0]["organization_id"], found[0]["deleted_at"]) if found else None


async def redeem_when_known(
    discounts: discounts_pb2_grpc.DiscountServiceStub,
    request: Callable[[str], discounts_pb2.RedeemDiscountRequest],
    metadata: tuple[tuple[str, str], ...],
    *,
    known: bool,
) -> str:
    """Retries (each time with a new reference: a reference already redeemed
    replays) until the read copy agrees with `known`; the reason, "" when redeemed."""
    deadline = time.monotonic() + CONSUMER_DEADLINE_SECONDS
    while True:
        try:
            await discounts.RedeemDiscount(request(uuid.uuid4().hex), metadata=metadata)
            outcome = ""
        except grpc.aio.AioRpcError as error:
            outcome = call_error(error).reason
        if (outcome == "") == known or time.monotonic() > deadline:
            return outcome
        await asyncio.sleep(0.1)


async def redemption_for(
    catalog_service: RunningService, organization_id: uuid.UUID
) -> Callable[[str, str], discounts_pb2.RedeemDiscountRequest]:
    """A product and an unlimited discount of the organization, and the
    redemption request naming them for a customer and a reference."""
    metadata = call_metadata(organization_id)
    products = products_pb2_grpc.ProductServiceStub(catalog_service.channel)
    product = await products.CreateProduct(
        products_pb2.CreateProductRequest(product=products_pb2.Product(name="Plan")),
        metadata=metadata,
    )
    discounts = discounts_pb2_grpc.DiscountServiceStub(catalog_service.channel)
    discount = await discounts.CreateDiscount(
        discounts_pb2.CreateDiscountRequest(
            discount=discounts_pb2.Discount(
                name="Welcome",
                percent_off=discounts_pb2.Discount.PercentOff(basis_points=1000),
                duration=discounts_pb2.DISCOUNT_DURATION_ONCE,
            )
        ),
        metadata=metadata,
    )

    def request(customer_id: str, reference: str) -> discounts_pb2.RedeemDiscountRequest:
        return discounts_pb2.RedeemDiscountRequest(
            id=discount.id,
            product_id=product.id,
            currency="USD",
            reference=reference,
            customer_id=customer_id,
        )

    return request


# ---- through NATS, as the customers context publishes ------------------------


async def test_a_customer_can_redeem_once_created_and_not_after_deletion(
    catalog_service: RunningService, servers: SessionServers, session_clock: FrozenClock
) -> None:
    organization_id = uuid.uuid4()
    metadata = call_metadata(organization_id)
    created = customer(organization_id, session_clock)
    request = await redemption_for(catalog_service, organization_id)
    discounts = discounts_pb2_grpc.DiscountServiceStub(catalog_service.channel)

    def redemption(reference: str) -> discounts_pb2.RedeemDiscountRequest:
        return request(created.id, reference)

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await discounts.RedeemDiscount(redemption("before"), metadata=metadata)
    assert call_error(unknown.value).reason == "CUSTOMER_NOT_FOUND"

    await publish_event(
        servers.nats_url, customer_events.CustomerCreatedEvent(customer=created), organization_id
    )
    assert await redeem_when_known(discounts, redemption, metadata, known=True) == ""

    deleted = customer(
        organization_id, session_clock, customer_id=uuid.UUID(created.id), deleted_at=TIME_OF_DELETE
    )
    await publish_event(
        servers.nats_url, customer_events.CustomerDeletedEvent(customer=deleted), organization_id
    )
    reason = await redeem_when_known(discounts, redemption, metadata, known=False)
    assert reason == "CUSTOMER_NOT_FOUND"


async def test_an_older_state_arriving_after_the_deletion_does_not_bring_the_customer_back(
    catalog_service: RunningService, servers: SessionServers, session_clock: FrozenClock
) -> None:
    organization_id = uuid.uuid4()
    customer_id = uuid.uuid4()
    deleted = customer(
        organization_id, session_clock, customer_id=customer_id, deleted_at=TIME_OF_DELETE
    )
    alive = customer(organization_id, session_clock, customer_id=customer_id)
    # One at a time: the state stream keeps only a customer's latest message,
    # so one published before the previous is read would replace it.
    for data in (
        customer_events.CustomerDeletedEvent(customer=deleted),
        customer_events.CustomerCreatedEvent(customer=alive),  # replayed late
        customer_events.CustomerUpdatedEvent(customer=alive),  # an older state
    ):
        envelope = await publish_event(servers.nats_url, data, organization_id)
        await processed(catalog_service, CUSTOMERS_CONSUMER, envelope)
    assert await known_customer_row(catalog_service, str(customer_id)) == (
        organization_id,
        TIME_OF_DELETE,
    )


async def test_the_organization_is_the_envelopes_never_the_payloads(
    catalog_service: RunningService, servers: SessionServers, session_clock: FrozenClock
) -> None:
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    claimed = customer(theirs, session_clock)  # the payload names another organization
    envelope = await publish_event(
        servers.nats_url, customer_events.CustomerCreatedEvent(customer=claimed), ours
    )
    await processed(catalog_service, CUSTOMERS_CONSUMER, envelope)
    assert await known_customer_row(catalog_service, claimed.id) == (ours, None)

    request = await redemption_for(catalog_service, theirs)
    discounts = discounts_pb2_grpc.DiscountServiceStub(catalog_service.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await discounts.RedeemDiscount(request(claimed.id, "r-1"), metadata=call_metadata(theirs))
    assert call_error(refused.value).reason == "CUSTOMER_NOT_FOUND"


def organization(
    organization_id: uuid.UUID, name: str, created: dt.datetime, updated: dt.datetime
) -> organizations_pb2.Organization:
    """An organization as the customers context announces it."""
    return organizations_pb2.Organization(
        id=str(organization_id),
        name=name,
        slug=f"renamed-{organization_id.hex[:12]}",
        create_time=timestamp(created),
        update_time=timestamp(updated),
    )


async def known_organization_row(
    database: Database, organization_id: uuid.UUID
) -> tuple[str, str, dt.datetime] | None:
    """(slug, name, updated_at) of the read copy's row, if any."""
    table = models.organizations
    found = await rows(
        database,
        select(table.c.slug, table.c.name, table.c.updated_at).where(table.c.id == organization_id),
    )
    return tuple(found[0]) if found else None  # type: ignore[return-value]


async def test_a_renamed_organization_is_renamed_in_the_copy(
    catalog_service: RunningService, servers: SessionServers, session_clock: FrozenClock
) -> None:
    organization_id = uuid.uuid4()
    created_at = session_clock.now()
    renamed_at = created_at + dt.timedelta(minutes=5)
    for data in (
        customer_events.OrganizationCreatedEvent(
            organization=organization(organization_id, "Acme", created_at, created_at)
        ),
        customer_events.OrganizationUpdatedEvent(
            organization=organization(organization_id, "Acme Rockets", created_at, renamed_at),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
    ):
        envelope = await publish_event(servers.nats_url, data, organization_id)
        await processed(catalog_service, ORGANIZATIONS_CONSUMER, envelope)
    assert await known_organization_row(catalog_service.app.database, organization_id) == (
        f"renamed-{organization_id.hex[:12]}",
        "Acme Rockets",
        renamed_at,
    )


# ---- the handlers, called directly --------------------------------------------


Handler = Callable[[EventScope, Any], Awaitable[None]]


async def handle(
    service: RunningService,
    clock: FrozenClock,
    handler: Handler,
    data: Message,
    organization_id: uuid.UUID,
) -> None:
    """Runs a handler as the consumer would: one transaction, the envelope's
    organization."""
    envelope = event_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()), organization_id=str(organization_id), source="customers"
    )
    async with service.app.database.transaction() as connection:

        async def current() -> Any:
            return connection

        outbox = Outbox(current, models.kit_tables, clock, "catalog", organization_id)
        await handler(EventScope(connection, clock, outbox, envelope), data)


@pytest.mark.parametrize("order", ["in-order", "deletion-first"])
async def test_each_customer_state_applied_twice_in_any_order_ends_deleted(
    catalog_service: RunningService, session_clock: FrozenClock, order: str
) -> None:
    organization_id, customer_id = uuid.uuid4(), uuid.uuid4()
    created = customer(organization_id, session_clock, customer_id=customer_id)
    deleted = customer(
        organization_id, session_clock, customer_id=customer_id, deleted_at=TIME_OF_DELETE
    )
    steps: list[tuple[Handler, Message]] = [
        (remember_customer, customer_events.CustomerCreatedEvent(customer=created)),
        (remember_customer, customer_events.CustomerUpdatedEvent(customer=created)),
        (forget_customer, customer_events.CustomerDeletedEvent(customer=deleted)),
    ]
    if order == "deletion-first":
        steps.reverse()
    for handler, data in [*steps, *steps]:
        await handle(catalog_service, session_clock, handler, data, organization_id)
    assert await known_customer_row(catalog_service, str(customer_id)) == (
        organization_id,
        TIME_OF_DELETE,
    )


async def test_a_deletion_without_a_delete_time_still_deletes(
    catalog_service: RunningService, session_clock: FrozenClock
) -> None:
    organization_id = uuid.uuid4()
    created = customer(organization_id, session_clock)
    await handle(
        catalog_service,
        session_clock,
        remember_customer,
        customer_events.CustomerCreatedEvent(customer=created),
        organization_id,
    )
    await handle(
        catalog_service,
        session_clock,
        forget_customer,
        customer_events.CustomerDeletedEvent(customer=created),
        organization_id,
    )
    assert await known_customer_row(catalog_service, created.id) == (
        organization_id,
        session_clock.now(),
    )


async def test_an_organization_is_remembered_once_and_only_from_its_own_event(
    catalog_service: RunningService, session_clock: FrozenClock
) -> None:
    organization_id = uuid.uuid4()
    slug = f"read-copy-{organization_id.hex[:8]}"
    own = organizations_pb2.Organization(id=str(organization_id), name="Read Copy Co", slug=slug)
    event = customer_events.OrganizationCreatedEvent(organization=own)
    for _ in range(2):
        await handle(catalog_service, session_clock, remember_organization, event, organization_id)
    other_id = uuid.uuid4()
    other = organizations_pb2.Organization(id=str(uuid.uuid4()), name="Other", slug=f"x-{slug}")
    await handle(
        catalog_service,
        session_clock,
        remember_organization,
        customer_events.OrganizationCreatedEvent(organization=other),
        other_id,
    )
    table = models.organizations
    found = await rows(
        catalog_service.app.database,
        select(table.c.id, table.c.slug, table.c.name).where(
            or_(table.c.slug == slug, table.c.slug == f"x-{slug}")
        ),
    )
    assert [tuple(row) for row in found] == [(organization_id, slug, "Read Copy Co")]


@pytest.mark.parametrize("order", ["in-order", "newest-first"])
async def test_each_organization_state_applied_twice_in_any_order_ends_the_newest(
    catalog_service: RunningService, session_clock: FrozenClock, order: str
) -> None:
    organization_id = uuid.uuid4()
    created_at = session_clock.now()
    states = [
        (
            customer_events.OrganizationCreatedEvent,
            organization(organization_id, "Acme", created_at, created_at),
        ),
        (
            customer_events.OrganizationUpdatedEvent,
            organization(organization_id, "Acme Rockets", created_at, created_at + MINUTE),
        ),
        (
            customer_events.OrganizationUpdatedEvent,
            organization(organization_id, "Acme Space", created_at, created_at + 2 * MINUTE),
        ),
    ]
    if order == "newest-first":
        states.reverse()
    for event, state in [*states, *states]:
        await handle(
            catalog_service,
            session_clock,
            remember_organization,
            event(organization=state),
            organization_id,
        )
    found = await known_organization_row(catalog_service.app.database, organization_id)
    assert found is not None
    assert found[1:] == ("Acme Space", created_at + 2 * MINUTE)


async def test_a_replayed_older_organization_state_changes_nothing(
    catalog_service: RunningService, session_clock: FrozenClock
) -> None:
    organization_id = uuid.uuid4()
    created_at = session_clock.now()
    newest = organization(organization_id, "Acme Rockets", created_at, created_at + MINUTE)
    await handle(
        catalog_service,
        session_clock,
        remember_organization,
        customer_events.OrganizationUpdatedEvent(organization=newest),
        organization_id,
    )
    for stale in (
        organization(organization_id, "Acme", created_at, created_at),  # the creation, replayed
        organization(organization_id, "Acme Old", created_at, created_at + MINUTE),  # same time
    ):
        await handle(
            catalog_service,
            session_clock,
            remember_organization,
            customer_events.OrganizationUpdatedEvent(organization=stale),
            organization_id,
        )
    found = await known_organization_row(catalog_service.app.database, organization_id)
    assert found is not None
    assert found[1:] == ("Acme Rockets", created_at + MINUTE)


# ---- a consumer that starts late -------------------------------------------------


@pytest.fixture
async def fresh_database(servers: SessionServers) -> AsyncIterator[Database]:
    """A database of its own with the catalog's schema, so only the consumer
    under test writes its read copy."""
    name = f"billingos_late_{secrets.token_hex(4)}"
    base, _, query = servers.database_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    database = Database(url)
    try:
        await upgrade_to_head_async(MIGRATIONS_DIR, url)
        yield database
    finally:
        await database.dispose()
        admin = await asyncpg.connect(servers.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_a_consumer_started_after_1000_customers_exist_learns_all_of_them(
    servers: SessionServers, session_clock: FrozenClock, fresh_database: Database
) -> None:
    organization_id = uuid.uuid4()
    limit = asyncio.Semaphore(50)

    async def announce() -> None:
        async with limit:
            data = customer_events.CustomerCreatedEvent(
                customer=customer(organization_id, session_clock)
            )
            await publish_event(servers.nats_url, data, organization_id)

    await asyncio.gather(*(announce() for _ in range(LATE_CONSUMER_CUSTOMERS)))

    consumer = customer_copy(
        fresh_database, session_clock, name=f"catalog-customers-late-{secrets.token_hex(4)}"
    )
    table = models.customers
    count = (
        select(func.count()).select_from(table).where(table.c.organization_id == organization_id)
    )
    client = await nats.connect(servers.nats_url)
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(client.jetstream(), stop))
    try:
        deadline = time.monotonic() + 120.0
        while (known := await scalar(fresh_database, count)) < LATE_CONSUMER_CUSTOMERS:
            assert not running.done(), "the consumer stopped"
            assert time.monotonic() < deadline, f"the late consumer learnt {known} customers"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        await client.close()
    assert await scalar(fresh_database, count) == LATE_CONSUMER_CUSTOMERS


async def test_a_consumer_started_after_a_rename_learns_the_new_name(
    servers: SessionServers, session_clock: FrozenClock, fresh_database: Database
) -> None:
    """The state stream keeps an organization's latest state, its last
    `organization.updated`: a copy built later starts from the new name."""
    organization_id = uuid.uuid4()
    created_at = session_clock.now()
    for data in (
        customer_events.OrganizationCreatedEvent(
            organization=organization(organization_id, "Acme", created_at, created_at)
        ),
        customer_events.OrganizationUpdatedEvent(
            organization=organization(
                organization_id, "Acme Rockets", created_at, created_at + MINUTE
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
    ):
        await publish_event(servers.nats_url, data, organization_id)
    consumer = organization_copy(
        fresh_database, session_clock, name=f"catalog-organizations-late-{secrets.token_hex(4)}"
    )
    client = await nats.connect(servers.nats_url)
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(client.jetstream(), stop))
    try:
        deadline = time.monotonic() + CONSUMER_DEADLINE_SECONDS
        while (found := await known_organization_row(fresh_database, organization_id)) is None:
            assert not running.done(), "the consumer stopped"
            assert time.monotonic() < deadline, "the late consumer never learnt the organization"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        await client.close()
    assert found[1:] == ("Acme Rockets", created_at + MINUTE)
