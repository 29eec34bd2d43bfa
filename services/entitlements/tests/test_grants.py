"""Grants follow the engine's subscriptions and one-time orders and the
catalog's benefit lists, exactly once whatever the order and however often
the states arrive; deleting a benefit revokes its grants."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from sqlalchemy import select

from billingos.entitlements.v1 import benefit_grants_pb2, benefits_pb2
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos.subscriptions.v1 import orders_pb2, subscriptions_pb2
from billingos_entitlements import models
from billingos_kit.ids import new_id
from billingos_kit.testing.db import rows
from billingos_kit.testing.events import publish_event, published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService
from billingos_kit.testing.waiting import eventually

from .conftest import EVENT_CLOCK, Merchant, at

ACTIVE = subscriptions_pb2.SUBSCRIPTION_STATUS_ACTIVE
CANCELED = subscriptions_pb2.SUBSCRIPTION_STATUS_CANCELED


async def test_an_active_subscription_grants_its_products_benefits_and_an_end_revokes_them(
    merchant: Merchant, servers: SessionServers
) -> None:
    flag = await merchant.benefit("api")
    extra = await merchant.benefit("exports")
    product, customer, subscription = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, flag.id, extra.id)
    await merchant.hear(merchant.subscription(subscription, customer, product))
    granted = await merchant.granted(customer, 2)
    assert {g.benefit_key for g in granted} == {"api", "exports"}
    assert {g.subscription_id for g in granted} == {str(subscription)}
    ended = merchant.subscription(subscription, customer, product, CANCELED, ended=True)
    await merchant.hear(ended, subscription_events.SubscriptionRevokedEvent)
    revoked = await merchant.granted(customer, 2, is_granted=False)
    assert all(g.HasField("revoke_time") and not g.is_granted for g in revoked)
    await merchant.granted(customer, 0)
    events = await published_events(
        servers.nats_url,
        "billingos.entitlements.benefit_grant.>",
        merchant.organization_id,
        at_least=4,
    )
    assert (
        sorted(e.type for e in events)
        == ["benefit_grant.granted"] * 2 + ["benefit_grant.revoked"] * 2
    )


async def source_copied(service: RunningService, source_id: uuid.UUID) -> None:
    """Waits until the source's copy holds a state: one heard before the next
    is published (the state stream keeps one state per subscription, so a
    later one published at once could replace it undelivered)."""
    table = models.grant_sources

    async def copied() -> bool | None:
        found = await rows(service.app.database, select(table.c.id).where(table.c.id == source_id))
        return True if found else None

    await eventually(copied)


async def test_a_revoke_heard_before_its_grant_still_wins(
    merchant: Merchant, entitlements_service: RunningService
) -> None:
    flag = await merchant.benefit("api")
    product, customer, subscription = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, flag.id)
    activated = merchant.subscription(subscription, customer, product)
    ended = merchant.subscription(subscription, customer, product, CANCELED, ended=True)
    await merchant.hear(ended, subscription_events.SubscriptionRevokedEvent)
    await source_copied(entitlements_service, subscription)
    await merchant.hear(activated)
    # A later, live-looking state of an ended subscription does not bring it back either.
    again = merchant.subscription(subscription, customer, product)
    await merchant.hear(again, subscription_events.SubscriptionUpdatedEvent)
    marker_customer, marker = uuid.uuid4(), uuid.uuid4()
    await merchant.hear(merchant.subscription(marker, marker_customer, product))
    await merchant.granted(marker_customer, 1)  # everything before it was handled
    await merchant.granted(customer, 0, is_granted=None)


async def test_of_two_states_of_one_time_the_later_event_wins(merchant: Merchant) -> None:
    """On a test clock every change of a moment carries its frozen time: an
    incomplete start, then its activation, both at 2027-01-01."""
    flag = await merchant.benefit("api")
    product, customer, subscription = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, flag.id)
    moment = merchant.later()
    incomplete = merchant.subscription(
        subscription,
        customer,
        product,
        subscriptions_pb2.SUBSCRIPTION_STATUS_INCOMPLETE,
        moment=moment,
    )
    await merchant.hear(incomplete, subscription_events.SubscriptionCreatedEvent)
    await merchant.hear(merchant.subscription(subscription, customer, product, moment=moment))
    [grant] = await merchant.granted(customer, 1)
    assert grant.subscription_id == str(subscription)


async def test_of_two_states_of_one_time_an_earlier_event_heard_later_loses(
    merchant: Merchant, servers: SessionServers, entitlements_service: RunningService
) -> None:
    flag = await merchant.benefit("api")
    product, customer, subscription = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, flag.id)
    moment = merchant.later()
    first_id, second_id = new_id(EVENT_CLOCK), new_id(EVENT_CLOCK)
    incomplete = merchant.subscription(
        subscription,
        customer,
        product,
        subscriptions_pb2.SUBSCRIPTION_STATUS_INCOMPLETE,
        moment=moment,
    )
    active = merchant.subscription(subscription, customer, product, moment=moment)
    for state, event_id in ((active, second_id), (incomplete, first_id)):
        await publish_event(
            servers.nats_url,
            subscription_events.SubscriptionUpdatedEvent(subscription=state),
            merchant.organization_id,
            event_id=str(event_id),
        )
        await source_copied(entitlements_service, subscription)
    marker_customer = uuid.uuid4()
    await merchant.hear(merchant.subscription(uuid.uuid4(), marker_customer, product))
    await merchant.granted(marker_customer, 1)
    [grant] = await merchant.granted(customer, 1)
    assert grant.is_granted


async def test_a_state_heard_twice_grants_once(merchant: Merchant) -> None:
    flag = await merchant.benefit("api")
    product, customer, subscription = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, flag.id)
    state = merchant.subscription(subscription, customer, product)
    for _ in range(3):
        await merchant.hear(state)
    await merchant.hear(state, subscription_events.SubscriptionRenewedEvent)
    marker_customer = uuid.uuid4()
    await merchant.hear(merchant.subscription(uuid.uuid4(), marker_customer, product))
    await merchant.granted(marker_customer, 1)
    [grant] = await merchant.granted(customer, 1, is_granted=None)
    assert grant.is_granted


async def test_a_product_that_gains_and_loses_benefits_changes_its_live_grants(
    merchant: Merchant,
) -> None:
    first = await merchant.benefit("api")
    second = await merchant.benefit("exports")
    product, customer = uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, first.id)
    await merchant.hear(merchant.subscription(uuid.uuid4(), customer, product))
    await merchant.granted(customer, 1)
    await merchant.product(product, first.id, second.id)
    assert {g.benefit_key for g in await merchant.granted(customer, 2)} == {"api", "exports"}
    await merchant.product(product, second.id)
    [left] = await merchant.granted(customer, 1)
    assert left.benefit_key == "exports"
    [gone] = await merchant.granted(customer, 1, is_granted=False)
    assert gone.benefit_key == "api"
    # Regained: the same grant, granted again.
    await merchant.product(product, first.id, second.id)
    regained = await merchant.granted(customer, 2)
    assert gone.id in {g.id for g in regained}


async def test_a_plan_change_grants_the_new_products_and_revokes_the_olds(
    merchant: Merchant,
) -> None:
    basic, pro = await merchant.benefit("basic"), await merchant.benefit("pro")
    basic_product, pro_product, customer, sub = (uuid.uuid4() for _ in range(4))
    await merchant.product(basic_product, basic.id)
    await merchant.product(pro_product, pro.id)
    await merchant.hear(merchant.subscription(sub, customer, basic_product))
    await merchant.granted(customer, 1)
    await merchant.hear(
        merchant.subscription(sub, customer, pro_product),
        subscription_events.SubscriptionUpdatedEvent,
    )

    async def only_pro() -> object:
        found = await merchant.granted(customer, 1)
        return found if found[0].benefit_key == "pro" else None

    await eventually(only_pro)


async def test_deleting_a_benefit_revokes_its_grants(
    merchant: Merchant, servers: SessionServers
) -> None:
    flag = await merchant.benefit("api")
    keep = await merchant.benefit("support")
    product, customer = uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, flag.id, keep.id)
    await merchant.hear(merchant.subscription(uuid.uuid4(), customer, product))
    await merchant.granted(customer, 2)
    await merchant.benefits.DeleteBenefit(
        benefits_pb2.DeleteBenefitRequest(id=flag.id), metadata=merchant.metadata()
    )
    [left] = await merchant.granted(customer, 1)
    assert left.benefit_key == "support"
    [revoked] = await merchant.granted(customer, 1, is_granted=False)
    assert revoked.benefit_key == "api"
    deleted = await merchant.benefits.GetBenefit(
        benefits_pb2.GetBenefitRequest(id=flag.id), metadata=merchant.metadata()
    )
    assert deleted.HasField("delete_time")
    announced = await published_events(
        servers.nats_url,
        "billingos.entitlements.>",
        merchant.organization_id,
        at_least=6,  # two benefits created, two granted, one deleted, one revoked
    )
    kinds = [(e.type, e.data.type_url.rpartition(".")[2]) for e in announced]
    assert ("benefit.deleted", "BenefitDeletedEvent") in kinds
    assert [t for t, _ in kinds].count("benefit_grant.revoked") == 1


async def test_a_custom_benefits_grant_carries_its_properties_and_follows_changes(
    merchant: Merchant,
) -> None:
    custom = await merchant.benefit(
        "discord",
        type=benefits_pb2.BENEFIT_TYPE_CUSTOM,
        custom=benefits_pb2.CustomProperties(
            properties={"invite": struct_pb2.Value(string_value="one")}, note="hi"
        ),
    )
    product, customer = uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, custom.id)
    await merchant.hear(merchant.subscription(uuid.uuid4(), customer, product))
    [grant] = await merchant.granted(customer, 1)
    assert grant.custom.properties["invite"].string_value == "one"
    await merchant.benefits.UpdateBenefit(
        benefits_pb2.UpdateBenefitRequest(
            benefit=benefits_pb2.Benefit(
                id=custom.id,
                custom=benefits_pb2.CustomProperties(
                    properties={"invite": struct_pb2.Value(string_value="two")}, note="hi"
                ),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["custom"]),
        ),
        metadata=merchant.metadata(),
    )
    [updated] = await merchant.granted(customer, 1)
    assert updated.custom.properties["invite"].string_value == "two"


async def test_a_one_time_purchase_grants_while_paid_and_a_full_refund_revokes(
    merchant: Merchant, servers: SessionServers
) -> None:
    flag = await merchant.benefit("lifetime")
    product, customer, order_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, flag.id)

    def order(status: int) -> orders_pb2.Order:
        return orders_pb2.Order(
            id=str(order_id),
            organization_id=str(merchant.organization_id),
            customer_id=str(customer),
            billing_reason=orders_pb2.BILLING_REASON_PURCHASE,
            status=orders_pb2.OrderStatus.ValueType(status),
            currency="USD",
            lines=[orders_pb2.OrderLine(product_id=str(product), amount_minor=5000)],
            update_time=at(merchant.later()),
        )

    async def hear(status: int, kind: type) -> None:
        await publish_event(servers.nats_url, kind(order=order(status)), merchant.organization_id)

    await hear(orders_pb2.ORDER_STATUS_PENDING, subscription_events.OrderCreatedEvent)
    await hear(orders_pb2.ORDER_STATUS_PAID, subscription_events.OrderPaidEvent)
    [grant] = await merchant.granted(customer, 1)
    assert grant.order_id == str(order_id)
    assert grant.subscription_id == ""
    await hear(orders_pb2.ORDER_STATUS_REFUNDED, subscription_events.OrderUpdatedEvent)
    await merchant.granted(customer, 1, is_granted=False)


async def test_grants_are_listed_by_filter_and_never_another_organizations(
    merchant: Merchant, entitlements_service: RunningService, servers: SessionServers
) -> None:
    flag = await merchant.benefit("api")
    product, customer, sub = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, flag.id)
    await merchant.hear(merchant.subscription(sub, customer, product))
    [grant] = await merchant.granted(customer, 1)
    got = await merchant.grants.GetBenefitGrant(
        benefit_grants_pb2.GetBenefitGrantRequest(id=grant.id), metadata=merchant.metadata()
    )
    assert got == grant
    by_sub = await merchant.grants.ListBenefitGrants(
        benefit_grants_pb2.ListBenefitGrantsRequest(subscription_id=str(sub)),
        metadata=merchant.metadata(),
    )
    assert [g.id for g in by_sub.benefit_grants] == [grant.id]
    other = Merchant(entitlements_service, servers.nats_url)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await other.grants.GetBenefitGrant(
            benefit_grants_pb2.GetBenefitGrantRequest(id=grant.id), metadata=other.metadata()
        )
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    listed = await other.grants.ListBenefitGrants(
        benefit_grants_pb2.ListBenefitGrantsRequest(customer_id=str(customer)),
        metadata=other.metadata(),
    )
    assert list(listed.benefit_grants) == []


async def test_a_meter_credits_grant_records_one_credit_per_period(
    merchant: Merchant, entitlements_service: RunningService
) -> None:
    meter = await merchant.new_meter()
    credits = await merchant.benefit(
        "api_calls",
        type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
        meter_credits=benefits_pb2.MeterCreditsProperties(
            meter_id=meter,
            units="500",
            renewal=benefits_pb2.CREDIT_RENEWAL_ROLLOVER,
        ),
    )
    product, customer, subscription = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, credits.id)
    first = merchant.subscription(subscription, customer, product)
    await merchant.hear(first)
    [grant] = await merchant.granted(customer, 1)
    await merchant.hear(first, subscription_events.SubscriptionUpdatedEvent)  # same period
    renewed = merchant.subscription(subscription, customer, product)  # a later period start
    await merchant.hear(renewed, subscription_events.SubscriptionRenewedEvent)
    table = models.meter_credits

    async def both() -> list[Any] | None:
        found = await rows(
            entitlements_service.app.database,
            select(table)
            .where(table.c.grant_id == uuid.UUID(grant.id))
            .order_by(table.c.period_start),
        )
        return found if len(found) == 2 else None

    found = await eventually(both)
    assert [r["period_start"] for r in found] == [
        first.current_period_start.ToDatetime(tzinfo=dt.UTC),
        renewed.current_period_start.ToDatetime(tzinfo=dt.UTC),
    ]
    assert {(r["units"], r["renewal"], str(r["customer_id"])) for r in found} == {
        ("500", "rollover", str(customer))
    }


async def test_a_subscription_heard_before_its_product_grants_once_the_product_arrives(
    merchant: Merchant,
) -> None:
    flag = await merchant.benefit("api")
    product, customer = uuid.uuid4(), uuid.uuid4()
    await merchant.hear(merchant.subscription(uuid.uuid4(), customer, product))
    marker_customer, other_product = uuid.uuid4(), uuid.uuid4()
    await merchant.product(other_product, flag.id)
    await merchant.hear(merchant.subscription(uuid.uuid4(), marker_customer, other_product))
    await merchant.granted(marker_customer, 1)  # everything before it was handled
    await merchant.granted(customer, 0, is_granted=None)  # an unknown product grants nothing
    await merchant.product(product, flag.id)
    [grant] = await merchant.granted(customer, 1)
    assert grant.product_id == str(product)
