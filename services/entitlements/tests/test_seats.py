"""A seat's member gets what the seat's subscription grants as their own
grants (under their own customer id), while they hold the seat and the
subscription grants; exactly once whatever order seats, subscriptions and
products are heard in."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from billingos.common.v1 import event_pb2
from billingos.entitlements.v1 import benefits_pb2, entitlements_pb2
from billingos.entitlements.v1 import events_pb2 as entitlement_events
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_entitlements import models
from billingos_kit.testing.db import rows
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService
from billingos_kit.testing.waiting import eventually

from .conftest import Merchant
from .test_check import until

CANCELED = subscriptions_pb2.SUBSCRIPTION_STATUS_CANCELED
Reason = entitlements_pb2.EntitlementReason


def member_of(envelope: event_pb2.EventEnvelope) -> str:
    """The member of a granted or revoked grant's event ("" for others)."""
    for kind in (
        entitlement_events.BenefitGrantGrantedEvent,
        entitlement_events.BenefitGrantRevokedEvent,
    ):
        if envelope.data.Is(kind.DESCRIPTOR):
            data = kind()
            envelope.data.Unpack(data)
            return data.benefit_grant.member_id
    return ""


async def settled(merchant: Merchant, product: uuid.UUID) -> None:
    """Every state heard before this is handled (states of one consumer are
    handled in order)."""
    marker_customer, marker = uuid.uuid4(), uuid.uuid4()
    await merchant.hear(merchant.subscription(marker, marker_customer, product))
    await merchant.granted(marker_customer, 1)


async def test_a_members_seat_grants_the_products_benefits_and_freeing_it_revokes_them(
    merchant: Merchant, servers: SessionServers
) -> None:
    flag = await merchant.benefit("api")
    product, owner, sub, member, seat = (uuid.uuid4() for _ in range(5))
    await merchant.product(product, flag.id)
    await merchant.hear(merchant.subscription(sub, owner, product))
    await merchant.granted(owner, 1)
    await merchant.hear_seat(merchant.seat(seat, sub, member))
    [granted] = await merchant.granted(member, 1)
    assert (granted.customer_id, granted.member_id) == (str(member), str(member))
    assert granted.subscription_id == str(sub)
    [own] = await merchant.granted(owner, 1)
    assert own.member_id == ""

    await merchant.hear_seat(merchant.seat(seat, sub, member, freed=True))
    [revoked] = await merchant.granted(member, 1, is_granted=False)
    assert revoked.id == granted.id
    assert revoked.HasField("revoke_time")
    await merchant.granted(owner, 1)  # the subscriber keeps its own
    events = await published_events(
        servers.nats_url,
        "billingos.entitlements.benefit_grant.>",
        merchant.organization_id,
        at_least=3,
    )
    member_events = [e for e in events if member_of(e) == str(member)]
    assert sorted(e.type for e in member_events) == [
        "benefit_grant.granted",
        "benefit_grant.revoked",
    ]


async def test_a_seat_heard_before_its_subscription_grants_once_the_subscription_arrives(
    merchant: Merchant,
) -> None:
    flag = await merchant.benefit("api")
    product, owner, sub, member = (uuid.uuid4() for _ in range(4))
    await merchant.product(product, flag.id)
    await merchant.hear_seat(merchant.seat(uuid.uuid4(), sub, member))
    await settled(merchant, product)
    await merchant.granted(member, 0, is_granted=None)
    await merchant.hear(merchant.subscription(sub, owner, product))
    await merchant.granted(member, 1)


async def test_a_freed_seat_heard_before_its_assignment_stays_freed(
    merchant: Merchant, entitlements_service: RunningService
) -> None:
    flag = await merchant.benefit("api")
    product, owner, sub, member, seat = (uuid.uuid4() for _ in range(5))
    await merchant.product(product, flag.id)
    await merchant.hear(merchant.subscription(sub, owner, product))
    # One moment for both (a test clock's, or a free at the assign's
    # second): newest-state order alone could not tell them apart.
    moment = merchant.later()
    assigned = merchant.seat(seat, sub, member, moment=moment)
    freed = merchant.seat(seat, sub, member, freed=True, moment=moment)
    await merchant.hear_seat(freed)

    async def copied() -> bool | None:
        found = await rows(
            entitlements_service.app.database,
            select(models.seat_copies.c.live).where(models.seat_copies.c.id == seat),
        )
        return True if found else None

    # Heard before the assignment is published: the state stream keeps one
    # state per seat, so a later one published at once could replace it.
    await eventually(copied)
    await merchant.hear_seat(assigned)
    await merchant.hear_seat(assigned)
    await settled(merchant, product)
    await merchant.granted(member, 0, is_granted=None)


async def test_a_seat_freed_at_the_moment_it_was_assigned_is_freed(merchant: Merchant) -> None:
    """On a test clock an assign and its free can share one time: the free
    still wins (newest-state order alone would keep the assignment)."""
    flag = await merchant.benefit("api")
    product, owner, sub, member, seat = (uuid.uuid4() for _ in range(5))
    await merchant.product(product, flag.id)
    await merchant.hear(merchant.subscription(sub, owner, product))
    moment = merchant.later()
    await merchant.hear_seat(merchant.seat(seat, sub, member, moment=moment))
    await merchant.granted(member, 1)
    await merchant.hear_seat(merchant.seat(seat, sub, member, freed=True, moment=moment))
    await merchant.granted(member, 1, is_granted=False)


async def test_a_seat_heard_twice_grants_once_and_a_new_seat_regrants_the_same_grant(
    merchant: Merchant,
) -> None:
    flag = await merchant.benefit("api")
    product, owner, sub, member, first = (uuid.uuid4() for _ in range(5))
    await merchant.product(product, flag.id)
    await merchant.hear(merchant.subscription(sub, owner, product))
    seat = merchant.seat(first, sub, member)
    await merchant.hear_seat(seat)
    await merchant.hear_seat(seat)
    [granted] = await merchant.granted(member, 1)
    await merchant.hear_seat(merchant.seat(first, sub, member, freed=True))
    await merchant.granted(member, 1, is_granted=False)
    # Assigned again: another seat, the same (source, member, benefit) grant.
    await merchant.hear_seat(merchant.seat(uuid.uuid4(), sub, member))
    [again] = await merchant.granted(member, 1)
    assert again.id == granted.id
    await merchant.granted(member, 1, is_granted=None)


async def test_members_follow_the_subscriptions_end_and_its_products_benefit_list(
    merchant: Merchant,
) -> None:
    api, exports = await merchant.benefit("api"), await merchant.benefit("exports")
    product, owner, sub, member = (uuid.uuid4() for _ in range(4))
    await merchant.product(product, api.id)
    await merchant.hear(merchant.subscription(sub, owner, product))
    await merchant.hear_seat(merchant.seat(uuid.uuid4(), sub, member))
    await merchant.granted(member, 1)
    await merchant.product(product, api.id, exports.id)
    found = await merchant.granted(member, 2)
    assert {g.benefit_key for g in found} == {"api", "exports"}
    ended = merchant.subscription(sub, owner, product, CANCELED, ended=True)
    await merchant.hear(ended, subscription_events.SubscriptionRevokedEvent)
    await merchant.granted(member, 2, is_granted=False)
    await merchant.granted(owner, 2, is_granted=False)


async def test_a_member_is_checked_under_their_own_customer_id(merchant: Merchant) -> None:
    flag = await merchant.benefit("api")
    product, owner, sub, member, seat = (uuid.uuid4() for _ in range(5))
    await merchant.customer(member, "member-1")
    await merchant.product(product, flag.id)
    await merchant.hear(merchant.subscription(sub, owner, product))
    await until(merchant, member, "api", Reason.ENTITLEMENT_REASON_NOT_GRANTED)
    await merchant.hear_seat(merchant.seat(seat, sub, member))
    allowed = await until(merchant, member, "api", Reason.ENTITLEMENT_REASON_GRANTED)
    assert allowed.allowed
    await merchant.hear_seat(merchant.seat(seat, sub, member, freed=True))
    await until(merchant, member, "api", Reason.ENTITLEMENT_REASON_NOT_GRANTED)

    async def by_external_id() -> entitlements_pb2.Entitlement | None:
        found = await merchant.checks.CheckEntitlement(
            entitlements_pb2.CheckEntitlementRequest(
                external_customer_id="member-1", feature="api"
            ),
            metadata=merchant.metadata(),
        )
        return found if not found.allowed else None

    await eventually(by_external_id)


async def test_a_member_gets_their_own_credits_and_license_key(
    merchant: Merchant, entitlements_service: RunningService
) -> None:
    meter = await merchant.new_meter()
    credits = await merchant.benefit(
        "api_calls",
        type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
        meter_credits=benefits_pb2.MeterCreditsProperties(meter_id=meter, units="100"),
    )
    keyed = await merchant.benefit(
        "desktop",
        type=benefits_pb2.BENEFIT_TYPE_LICENSE_KEYS,
        license_keys=benefits_pb2.LicenseKeysProperties(prefix="team"),
    )
    product, owner, sub, member = (uuid.uuid4() for _ in range(4))
    await merchant.product(product, credits.id, keyed.id)
    await merchant.hear(merchant.subscription(sub, owner, product))
    await merchant.hear_seat(merchant.seat(uuid.uuid4(), sub, member))
    owners = {g.benefit_key: g for g in await merchant.granted(owner, 2)}
    members = {g.benefit_key: g for g in await merchant.granted(member, 2)}
    assert members["desktop"].license_key.display_key.startswith("TEAM-")
    assert members["desktop"].license_key.display_key != owners["desktop"].license_key.display_key
    table = models.meter_credits

    async def credited() -> list[Any] | None:
        found = await rows(
            entitlements_service.app.database,
            select(table.c.customer_id, table.c.units).where(
                (table.c.grant_id == uuid.UUID(owners["api_calls"].id))
                | (table.c.grant_id == uuid.UUID(members["api_calls"].id))
            ),
        )
        return found if len(found) == 2 else None

    found = await eventually(credited)
    assert sorted((str(r[0]), r[1]) for r in found) == sorted(
        [(str(owner), "100"), (str(member), "100")]
    )
