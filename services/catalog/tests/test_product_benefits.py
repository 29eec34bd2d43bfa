"""A product's benefits: attached and detached over gRPC, checked against the
catalog's read copy of the entitlements context's benefits, which the tests
feed the way the entitlements relay would (its events onto JetStream; the
entitlements service does not run here). A deleted benefit leaves every
product that listed it, each change announced by `product.updated`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import insert, select

from billingos.catalog.v1 import events_pb2, products_pb2, products_pb2_grpc
from billingos.common.v1 import event_pb2
from billingos.entitlements.v1 import benefits_pb2
from billingos.entitlements.v1 import events_pb2 as entitlement_events
from billingos_catalog import models
from billingos_catalog.consumers import BENEFITS_CONSUMER, forget_benefit
from billingos_catalog.product_benefits import MAX_BENEFITS_PER_PRODUCT, ProductBenefits
from billingos_kit.clock import FrozenClock
from billingos_kit.consumer import EventScope
from billingos_kit.outbox import Outbox
from billingos_kit.protoconv import timestamp
from billingos_kit.testing.db import execute, rows, scalar
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.events import publish_event, published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

# How long the catalog may take to hear of a benefit (an asynchronous consumer).
CONSUMER_DEADLINE_SECONDS = 15.0
CREATED = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
UPDATED = dt.datetime(2026, 1, 2, 9, tzinfo=dt.UTC)
DELETED = dt.datetime(2026, 1, 3, 9, tzinfo=dt.UTC)


def benefit(
    organization_id: uuid.UUID,
    *,
    benefit_id: uuid.UUID | None = None,
    key: str = "api-access",
    updated: dt.datetime = CREATED,
    deleted: dt.datetime | None = None,
) -> benefits_pb2.Benefit:
    """A benefit as the entitlements context announces it."""
    return benefits_pb2.Benefit(
        id=str(benefit_id or uuid.uuid4()),
        organization_id=str(organization_id),
        type=benefits_pb2.BENEFIT_TYPE_FEATURE_FLAG,
        key=key,
        description="API access",
        feature_flag=benefits_pb2.FeatureFlagProperties(),
        create_time=timestamp(CREATED),
        update_time=timestamp(deleted or updated),
        delete_time=timestamp(deleted) if deleted else None,
    )


async def processed(service: RunningService, envelope: event_pb2.EventEnvelope) -> None:
    """Waits until the benefits consumer has handled the event."""
    table = models.kit_tables.processed_events
    statement = select(table.c.event_id).where(
        table.c.consumer == BENEFITS_CONSUMER, table.c.event_id == uuid.UUID(envelope.event_id)
    )
    deadline = time.monotonic() + CONSUMER_DEADLINE_SECONDS
    while await scalar(service.app.database, statement) is None:
        assert time.monotonic() < deadline, f"the catalog never handled {envelope.type}"
        await asyncio.sleep(0.05)


async def announce(
    service: RunningService, servers: SessionServers, data: Any, organization_id: uuid.UUID
) -> event_pb2.EventEnvelope:
    """Publishes an entitlements event and waits until the copy has it."""
    envelope = await publish_event(servers.nats_url, data, organization_id)
    await processed(service, envelope)
    return envelope


async def known_benefit(
    service: RunningService, servers: SessionServers, organization_id: uuid.UUID
) -> str:
    """A live benefit the catalog has heard of, through its events."""
    created = benefit(organization_id)
    await announce(
        service, servers, entitlement_events.BenefitCreatedEvent(benefit=created), organization_id
    )
    return created.id


async def copied_benefits(
    service: RunningService, organization_id: uuid.UUID, count: int
) -> list[str]:
    """`count` live benefits written into the copy directly (as its events
    would leave them), where publishing each would only slow the test."""
    ids = [uuid.uuid4() for _ in range(count)]
    for index, benefit_id in enumerate(ids):
        await execute(
            service.app.database,
            insert(models.benefits).values(
                id=benefit_id,
                organization_id=organization_id,
                key=f"feature-{index}",
                updated_at=CREATED,
            ),
        )
    return [str(benefit_id) for benefit_id in ids]


async def new_product(
    products: products_pb2_grpc.ProductServiceStub, tenant: Any, **extra: Any
) -> products_pb2.Product:
    request = products_pb2.CreateProductRequest(product=products_pb2.Product(name="Pro", **extra))
    created: products_pb2.Product = await products.CreateProduct(
        request, metadata=tenant.metadata()
    )
    return created


def attach_request(product_id: str, benefit_id: str) -> products_pb2.AttachProductBenefitRequest:
    return products_pb2.AttachProductBenefitRequest(product_id=product_id, benefit_id=benefit_id)


def detach_request(product_id: str, benefit_id: str) -> products_pb2.DetachProductBenefitRequest:
    return products_pb2.DetachProductBenefitRequest(product_id=product_id, benefit_id=benefit_id)


async def refusal(call: Any) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def benefit_updates(
    service: RunningService, organization_id: uuid.UUID
) -> list[products_pb2.Product]:
    """The products of every `product.updated` (mask `benefit_ids`) the
    organization's outbox holds, in order."""
    outbox = models.kit_tables.outbox
    found = await rows(
        service.app.database,
        select(outbox.c.envelope)
        .where(
            outbox.c.organization_id == organization_id, outbox.c.event_type == "product.updated"
        )
        .order_by(outbox.c.sequence),
    )
    updates = []
    for row in found:
        data = events_pb2.ProductUpdatedEvent()
        assert event_pb2.EventEnvelope.FromString(row["envelope"]).data.Unpack(data)
        if list(data.update_mask.paths) == ["benefit_ids"]:
            updates.append(data.product)
    return updates


# ---- attach and detach ---------------------------------------------------------


async def test_benefits_are_listed_in_attach_order_and_each_change_announced(
    catalog_service: RunningService, servers: SessionServers, products, tenant
) -> None:
    first = await known_benefit(catalog_service, servers, tenant.organization_id)
    second = await known_benefit(catalog_service, servers, tenant.organization_id)
    product = await new_product(products, tenant)
    assert list(product.benefit_ids) == []

    await products.AttachProductBenefit(
        attach_request(product.id, second), metadata=tenant.metadata()
    )
    attached = await products.AttachProductBenefit(
        attach_request(product.id, first), metadata=tenant.metadata()
    )
    assert list(attached.benefit_ids) == [second, first]
    fetched = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    assert fetched == attached

    detached = await products.DetachProductBenefit(
        detach_request(product.id, second), metadata=tenant.metadata()
    )
    assert list(detached.benefit_ids) == [first]
    updates = await benefit_updates(catalog_service, tenant.organization_id)
    assert [list(update.benefit_ids) for update in updates] == [[second], [second, first], [first]]
    assert updates[-1] == detached

    # The product's state stream carries the list.
    subject = f"billingos.state.catalog.product.{product.id}"
    deadline = time.monotonic() + CONSUMER_DEADLINE_SECONDS
    while True:
        states = await published_events(
            servers.nats_url, subject, tenant.organization_id, wait_seconds=2
        )
        state = events_pb2.ProductUpdatedEvent()
        if (
            states
            and states[-1].type == "product.updated"
            and states[-1].data.Unpack(state)
            and list(state.product.benefit_ids) == [first]
        ):
            break
        assert time.monotonic() < deadline, "the product's state never listed the benefit"
        await asyncio.sleep(0.2)


async def test_attaching_a_benefit_twice_changes_nothing(
    catalog_service: RunningService, servers: SessionServers, products, tenant
) -> None:
    benefit_id = await known_benefit(catalog_service, servers, tenant.organization_id)
    product = await new_product(products, tenant)
    once = await products.AttachProductBenefit(
        attach_request(product.id, benefit_id), metadata=tenant.metadata()
    )
    twice = await products.AttachProductBenefit(
        attach_request(product.id, benefit_id), metadata=tenant.metadata()
    )
    assert twice == once
    assert list(twice.benefit_ids) == [benefit_id]
    assert len(await benefit_updates(catalog_service, tenant.organization_id)) == 1


async def test_an_archived_product_takes_benefits(
    catalog_service: RunningService, products, tenant
) -> None:
    [benefit_id] = await copied_benefits(catalog_service, tenant.organization_id, 1)
    product = await new_product(products, tenant, archived=True)
    attached = await products.AttachProductBenefit(
        attach_request(product.id, benefit_id), metadata=tenant.metadata()
    )
    assert attached.archived
    assert list(attached.benefit_ids) == [benefit_id]


async def test_detaching_a_benefit_the_product_does_not_list_is_not_found(
    catalog_service: RunningService, products, tenant
) -> None:
    [listed, other] = await copied_benefits(catalog_service, tenant.organization_id, 2)
    product = await new_product(products, tenant)
    await products.AttachProductBenefit(
        attach_request(product.id, listed), metadata=tenant.metadata()
    )
    for benefit_id in (other, str(uuid.uuid4())):
        error = await refusal(
            products.DetachProductBenefit(
                detach_request(product.id, benefit_id), metadata=tenant.metadata()
            )
        )
        assert (error.code, error.reason, error.fields) == (
            grpc.StatusCode.NOT_FOUND,
            "BENEFIT_NOT_FOUND",
            ["benefit_id"],
        )


async def test_a_product_lists_at_most_50_benefits(
    catalog_service: RunningService, products, tenant
) -> None:
    ids = await copied_benefits(
        catalog_service, tenant.organization_id, MAX_BENEFITS_PER_PRODUCT + 1
    )
    product = await new_product(products, tenant)
    for benefit_id in ids[:MAX_BENEFITS_PER_PRODUCT]:
        await products.AttachProductBenefit(
            attach_request(product.id, benefit_id), metadata=tenant.metadata()
        )
    error = await refusal(
        products.AttachProductBenefit(
            attach_request(product.id, ids[-1]), metadata=tenant.metadata()
        )
    )
    assert (error.code, error.reason, error.fields) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PRODUCT_BENEFIT_LIMIT",
        ["benefit_id"],
    )
    # One already listed is still a no-op, not a refusal.
    again = await products.AttachProductBenefit(
        attach_request(product.id, ids[0]), metadata=tenant.metadata()
    )
    assert list(again.benefit_ids) == ids[:MAX_BENEFITS_PER_PRODUCT]


async def test_an_unknown_or_another_organizations_benefit_is_not_found_alike(
    catalog_service: RunningService, servers: SessionServers, products, tenant, other_tenant
) -> None:
    theirs = await known_benefit(catalog_service, servers, other_tenant.organization_id)
    unknown = str(uuid.uuid4())
    product = await new_product(products, tenant)
    errors = {}
    for benefit_id in (theirs, unknown):
        error = await refusal(
            products.AttachProductBenefit(
                attach_request(product.id, benefit_id), metadata=tenant.metadata()
            )
        )
        errors[benefit_id] = (
            error.code,
            error.reason,
            error.fields,
            error.message.replace(benefit_id, "<id>"),
        )
    assert errors[theirs] == errors[unknown]
    assert errors[unknown][:3] == (grpc.StatusCode.NOT_FOUND, "BENEFIT_NOT_FOUND", ["benefit_id"])
    assert "a moment ago" in errors[unknown][3]


async def test_a_deleted_benefit_cannot_be_attached(
    catalog_service: RunningService, servers: SessionServers, products, tenant
) -> None:
    deleted = benefit(tenant.organization_id, deleted=DELETED)
    await announce(
        catalog_service,
        servers,
        entitlement_events.BenefitDeletedEvent(benefit=deleted),
        tenant.organization_id,
    )
    product = await new_product(products, tenant)
    error = await refusal(
        products.AttachProductBenefit(
            attach_request(product.id, deleted.id), metadata=tenant.metadata()
        )
    )
    assert (error.code, error.reason, error.fields) == (
        grpc.StatusCode.NOT_FOUND,
        "BENEFIT_NOT_FOUND",
        ["benefit_id"],
    )


async def test_another_organizations_product_is_not_found(
    catalog_service: RunningService, products, tenant, other_tenant
) -> None:
    [benefit_id] = await copied_benefits(catalog_service, other_tenant.organization_id, 1)
    product = await new_product(products, tenant)
    error = await refusal(
        products.AttachProductBenefit(
            attach_request(product.id, benefit_id), metadata=other_tenant.metadata()
        )
    )
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "PRODUCT_NOT_FOUND")


async def test_attach_and_detach_replay_under_one_idempotency_key(
    catalog_service: RunningService, products, tenant
) -> None:
    [benefit_id] = await copied_benefits(catalog_service, tenant.organization_id, 1)
    product = await new_product(products, tenant)
    attach = attach_request(product.id, benefit_id)
    first = await products.AttachProductBenefit(attach, metadata=tenant.metadata("attach-1"))
    assert (
        await products.AttachProductBenefit(attach, metadata=tenant.metadata("attach-1")) == first
    )
    detach = detach_request(product.id, benefit_id)
    detached = await products.DetachProductBenefit(detach, metadata=tenant.metadata("detach-1"))
    # Without the key replaying, the second detach would be NOT_FOUND.
    assert (
        await products.DetachProductBenefit(detach, metadata=tenant.metadata("detach-1"))
        == detached
    )
    assert list(detached.benefit_ids) == []
    assert len(await benefit_updates(catalog_service, tenant.organization_id)) == 2


async def test_benefit_ids_are_not_updated_through_update_product(
    catalog_service: RunningService, products, tenant
) -> None:
    [benefit_id] = await copied_benefits(catalog_service, tenant.organization_id, 1)
    product = await new_product(products, tenant)
    changed = products_pb2.Product(id=product.id, benefit_ids=[benefit_id])
    for mask in (field_mask_pb2.FieldMask(paths=["benefit_ids"]), field_mask_pb2.FieldMask()):
        error = await refusal(
            products.UpdateProduct(
                products_pb2.UpdateProductRequest(product=changed, update_mask=mask),
                metadata=tenant.metadata(),
            )
        )
        assert (error.code, error.fields) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            ["product.benefit_ids"],
        )
    # Sending the whole product back unchanged still works.
    attached = await products.AttachProductBenefit(
        attach_request(product.id, benefit_id), metadata=tenant.metadata()
    )
    renamed = products_pb2.Product()
    renamed.CopyFrom(attached)
    renamed.name = "Pro 2"
    updated = await products.UpdateProduct(
        products_pb2.UpdateProductRequest(product=renamed), metadata=tenant.metadata()
    )
    assert (updated.name, list(updated.benefit_ids)) == ("Pro 2", [benefit_id])


# ---- a benefit deleted -----------------------------------------------------------


async def test_a_deleted_benefit_leaves_every_product_listing_it(
    catalog_service: RunningService, servers: SessionServers, products, tenant, other_tenant
) -> None:
    doomed = benefit(tenant.organization_id)
    await announce(
        catalog_service,
        servers,
        entitlement_events.BenefitCreatedEvent(benefit=doomed),
        tenant.organization_id,
    )
    [kept] = await copied_benefits(catalog_service, tenant.organization_id, 1)
    both = await new_product(products, tenant)
    only = await new_product(products, tenant, archived=True)
    unrelated = await new_product(products, tenant)
    for product_id, benefit_id in (
        (both.id, kept),
        (both.id, doomed.id),
        (only.id, doomed.id),
        (unrelated.id, kept),
    ):
        await products.AttachProductBenefit(
            attach_request(product_id, benefit_id), metadata=tenant.metadata()
        )
    announced = len(await benefit_updates(catalog_service, tenant.organization_id))

    deleted = benefit(tenant.organization_id, benefit_id=uuid.UUID(doomed.id), deleted=DELETED)
    await announce(
        catalog_service,
        servers,
        entitlement_events.BenefitDeletedEvent(benefit=deleted),
        tenant.organization_id,
    )
    lists = {}
    for product in (both, only, unrelated):
        found = await products.GetProduct(
            products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
        )
        lists[product.id] = list(found.benefit_ids)
    assert lists == {both.id: [kept], only.id: [], unrelated.id: [kept]}
    updates = (await benefit_updates(catalog_service, tenant.organization_id))[announced:]
    assert sorted((update.id, list(update.benefit_ids)) for update in updates) == sorted(
        [(both.id, [kept]), (only.id, [])]
    )
    # Published too, as any product change.
    published = await published_events(
        servers.nats_url, "billingos.catalog.product.updated", tenant.organization_id, at_least=6
    )
    assert len(published) >= 6

    error = await refusal(
        products.AttachProductBenefit(
            attach_request(both.id, doomed.id), metadata=tenant.metadata()
        )
    )
    assert error.reason == "BENEFIT_NOT_FOUND"


@contextlib.asynccontextmanager
async def handler_scope(
    service: RunningService, clock: FrozenClock, organization_id: uuid.UUID
) -> AsyncIterator[EventScope]:
    """The scope a handler gets from the consumer: one transaction (committed
    on leaving), the envelope's organization, a new event id."""
    envelope = event_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()), organization_id=str(organization_id), source="entitlements"
    )
    async with service.app.database.transaction() as connection:

        async def current() -> Any:
            return connection

        outbox = Outbox(current, models.kit_tables, clock, "catalog", organization_id)
        yield EventScope(connection, clock, outbox, envelope)


async def handle_directly(
    service: RunningService, clock: FrozenClock, data: Any, organization_id: uuid.UUID
) -> None:
    """Runs the deletion handler as the consumer would for an event it has
    no record of (a replay of the state stream after its records were purged)."""
    async with handler_scope(service, clock, organization_id) as scope:
        await forget_benefit(scope, data)


async def test_a_deletion_handled_again_changes_nothing(
    catalog_service: RunningService,
    servers: SessionServers,
    session_clock: FrozenClock,
    products,
    tenant,
) -> None:
    created = benefit(tenant.organization_id)
    await announce(
        catalog_service,
        servers,
        entitlement_events.BenefitCreatedEvent(benefit=created),
        tenant.organization_id,
    )
    product = await new_product(products, tenant)
    await products.AttachProductBenefit(
        attach_request(product.id, created.id), metadata=tenant.metadata()
    )
    deleted = entitlement_events.BenefitDeletedEvent(
        benefit=benefit(tenant.organization_id, benefit_id=uuid.UUID(created.id), deleted=DELETED)
    )
    envelope = await announce(catalog_service, servers, deleted, tenant.organization_id)
    after_first = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    updates = len(await benefit_updates(catalog_service, tenant.organization_id))
    assert updates == 2

    # Redelivered (JetStream drops the same event id: the consumer's record
    # would drop it anyway), and handled again as a replay would.
    await publish_event(
        servers.nats_url, deleted, tenant.organization_id, event_id=envelope.event_id
    )
    await handle_directly(catalog_service, session_clock, deleted, tenant.organization_id)
    again = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    assert again == after_first
    assert list(again.benefit_ids) == []
    assert len(await benefit_updates(catalog_service, tenant.organization_id)) == updates
    table = models.benefits
    [row] = await rows(
        catalog_service.app.database,
        select(table.c.deleted_at).where(table.c.id == uuid.UUID(created.id)),
    )
    assert row["deleted_at"] == DELETED


async def test_a_deletion_racing_an_attach_still_detaches(
    catalog_service: RunningService, session_clock: FrozenClock, products, tenant
) -> None:
    [benefit_id] = await copied_benefits(catalog_service, tenant.organization_id, 1)
    product = await new_product(products, tenant)
    deleted = entitlement_events.BenefitDeletedEvent(
        benefit=benefit(tenant.organization_id, benefit_id=uuid.UUID(benefit_id), deleted=DELETED)
    )
    async with handler_scope(catalog_service, session_clock, tenant.organization_id) as scope:
        # An attach that has read the benefit as live and not committed yet.
        await ProductBenefits(scope).attach(uuid.UUID(product.id), uuid.UUID(benefit_id))
        deletion = asyncio.create_task(
            handle_directly(catalog_service, session_clock, deleted, tenant.organization_id)
        )
        await asyncio.sleep(0.5)
        assert not deletion.done(), "the deletion did not wait for the attach"
    await asyncio.wait_for(deletion, timeout=10)
    found = await products.GetProduct(
        products_pb2.GetProductRequest(id=product.id), metadata=tenant.metadata()
    )
    assert list(found.benefit_ids) == []
    assert [
        list(u.benefit_ids) for u in await benefit_updates(catalog_service, tenant.organization_id)
    ] == [
        [benefit_id],
        [],
    ]


# ---- the copy keeps the newest state ------------------------------------------------


async def copied(service: RunningService, benefit_id: str) -> tuple[Any, ...]:
    table = models.benefits
    [row] = await rows(
        service.app.database,
        select(table.c.organization_id, table.c.key, table.c.updated_at, table.c.deleted_at).where(
            table.c.id == uuid.UUID(benefit_id)
        ),
    )
    return tuple(row)


async def test_an_older_benefit_state_never_overwrites_a_newer_one(
    catalog_service: RunningService, servers: SessionServers, products, tenant
) -> None:
    benefit_id = uuid.uuid4()
    newer = benefit(tenant.organization_id, benefit_id=benefit_id, key="new-key", updated=UPDATED)
    older = benefit(tenant.organization_id, benefit_id=benefit_id, key="old-key")
    # One at a time: the state stream keeps only a benefit's latest message.
    for data in (
        entitlement_events.BenefitUpdatedEvent(benefit=newer),
        entitlement_events.BenefitCreatedEvent(benefit=older),  # arrives late
    ):
        await announce(catalog_service, servers, data, tenant.organization_id)
    assert await copied(catalog_service, str(benefit_id)) == (
        tenant.organization_id,
        "new-key",
        UPDATED,
        None,
    )

    deleted = benefit(tenant.organization_id, benefit_id=benefit_id, key="new-key", deleted=DELETED)
    for data in (
        entitlement_events.BenefitDeletedEvent(benefit=deleted),
        entitlement_events.BenefitUpdatedEvent(benefit=newer),  # an older state, replayed
    ):
        await announce(catalog_service, servers, data, tenant.organization_id)
    assert await copied(catalog_service, str(benefit_id)) == (
        tenant.organization_id,
        "new-key",
        DELETED,
        DELETED,
    )
    product = await new_product(products, tenant)
    error = await refusal(
        products.AttachProductBenefit(
            attach_request(product.id, str(benefit_id)), metadata=tenant.metadata()
        )
    )
    assert error.reason == "BENEFIT_NOT_FOUND"


async def test_a_benefit_known_in_one_organization_is_never_taken_by_another(
    catalog_service: RunningService, servers: SessionServers, products, tenant, other_tenant
) -> None:
    ours = benefit(tenant.organization_id)
    await announce(
        catalog_service,
        servers,
        entitlement_events.BenefitCreatedEvent(benefit=ours),
        tenant.organization_id,
    )
    # The same id announced for another organization, newer: ignored.
    claimed = benefit(
        other_tenant.organization_id, benefit_id=uuid.UUID(ours.id), key="x", updated=UPDATED
    )
    await announce(
        catalog_service,
        servers,
        entitlement_events.BenefitUpdatedEvent(benefit=claimed),
        other_tenant.organization_id,
    )
    assert await copied(catalog_service, ours.id) == (
        tenant.organization_id,
        "api-access",
        CREATED,
        None,
    )
    product = await new_product(products, other_tenant)
    error = await refusal(
        products.AttachProductBenefit(
            attach_request(product.id, ours.id), metadata=other_tenant.metadata()
        )
    )
    assert error.reason == "BENEFIT_NOT_FOUND"
