"""Seats of seat-based subscriptions: assigned to members (customers found
or made by email or external id), freed, listed; never more held than the
seats paid for, and the seats never lowered below the members holding one."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from billingos.catalog.v1 import products_pb2
from billingos.customers.v1 import customers_pb2, customers_pb2_grpc
from billingos.subscriptions.v1 import seats_pb2, subscriptions_pb2, test_clocks_pb2
from billingos_kit.protoconv import timestamp
from billingos_kit.testing.db import rows
from billingos_kit.testing.service import call_metadata
from billingos_kit.testing.waiting import eventually
from billingos_subscriptions import models

from .conftest import (
    Neighbour,
    Shop,
    fixed_price,
    outbox_types,
    refused,
    seat_price,
)
from .test_refusals import WEEK_TRIAL

FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
ASSIGNED = seats_pb2.SEAT_STATUS_ASSIGNED
REVOKED = seats_pb2.SEAT_STATUS_REVOKED


async def assign(shop: Shop, subscription_id: str, **member: Any) -> seats_pb2.SubscriptionSeat:
    seat: seats_pb2.SubscriptionSeat = await shop.seats().AssignSeat(
        seats_pb2.AssignSeatRequest(
            subscription_id=subscription_id, seat=seats_pb2.SubscriptionSeat(**member)
        ),
        metadata=shop.metadata,
    )
    return seat


async def listed(
    shop: Shop, subscription_id: str, *, show_revoked: bool = False
) -> list[seats_pb2.SubscriptionSeat]:
    found = await shop.seats().ListSeats(
        seats_pb2.ListSeatsRequest(subscription_id=subscription_id, show_revoked=show_revoked),
        metadata=shop.metadata,
    )
    return list(found.seats)


async def revoke(shop: Shop, subscription_id: str, seat_id: str) -> seats_pb2.SubscriptionSeat:
    seat: seats_pb2.SubscriptionSeat = await shop.seats().RevokeSeat(
        seats_pb2.RevokeSeatRequest(subscription_id=subscription_id, id=seat_id),
        metadata=shop.metadata,
    )
    return seat


@pytest.fixture(autouse=True)
async def known_to_customers(shop: Shop, customers_service: Neighbour) -> None:
    """The shop's organization in the customers service, which makes members
    only for an organization it has."""
    async with customers_service.database.transaction() as connection:
        await connection.execute(
            "INSERT INTO customers.organizations (id, name, slug, created_at, updated_at) "
            "VALUES ($1, 'Shop', $2, now(), now()) ON CONFLICT DO NOTHING",
            shop.organization_id,
            f"shop-{shop.organization_id.hex}",
        )


def customers(shop: Shop, customers_service: Neighbour) -> Any:
    return customers_pb2_grpc.CustomerServiceStub(customers_service.channel)


async def on_a_clock(shop: Shop, product: products_pb2.Product, **fields: Any) -> str:
    """A subscription in its trial, for a customer on a test clock of its
    own: no scheduler touches it (on the real clock, the end-to-end suite's
    scheduler, which shares the database and runs far ahead of the
    session's clock, would end the trial mid-test)."""
    clock = await shop.test_clocks().CreateTestClock(
        test_clocks_pb2.CreateTestClockRequest(
            test_clock=test_clocks_pb2.TestClock(frozen_time=timestamp(shop.clock.now()))
        ),
        metadata=shop.metadata,
    )
    customer_id = await shop.customer(test_clock_id=clock.id)
    made = await shop.create(
        subscriptions_pb2.CreateSubscriptionRequest(
            subscription=subscriptions_pb2.Subscription(
                customer_id=customer_id, product_id=product.id, currency="USD", **fields
            ),
            trial=WEEK_TRIAL,
        )
    )
    assert made.status == subscriptions_pb2.SUBSCRIPTION_STATUS_TRIALING
    return str(made.id)


async def seated(shop: Shop, seats: int = 3) -> str:
    product = await shop.product(seat_price(minimum=1, maximum=10))
    return await on_a_clock(shop, product, seats=seats)


async def test_a_seat_assigned_by_email_makes_the_member_a_customer_once(
    shop: Shop, customers_service: Neighbour
) -> None:
    sub = await seated(shop)
    seat = await assign(shop, sub, email="Member@Example.com")
    assert seat.status == ASSIGNED
    assert seat.subscription_id == sub
    assert seat.email == "Member@Example.com"
    assert seat.HasField("assign_time")
    made = await customers(shop, customers_service).GetCustomer(
        customers_pb2.GetCustomerRequest(id=seat.member_customer_id),
        metadata=call_metadata(shop.organization_id),
    )
    assert made.email == "Member@Example.com"
    # The same member again (the email in another case): the customer is
    # found, and holds a seat already.
    error = await refused(assign(shop, sub, email="member@example.com"))
    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "MEMBER_HAS_SEAT")
    # On another subscription the same email finds the same customer.
    other = await seated(shop)
    again = await assign(shop, other, email="member@example.com")
    assert again.member_customer_id == seat.member_customer_id
    assert [s.id for s in await listed(shop, sub)] == [seat.id]
    assert (await outbox_types(shop.database, shop.organization_id)).count(
        "subscription_seat.assigned"
    ) == 2


async def test_a_seat_by_external_id_finds_or_makes_that_customer(
    shop: Shop, customers_service: Neighbour
) -> None:
    sub = await seated(shop)
    known = await customers(shop, customers_service).CreateCustomer(
        customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(email="known@example.com", external_id="user-7")
        ),
        metadata=call_metadata(shop.organization_id),
    )
    seat = await assign(shop, sub, external_id="user-7")
    assert (seat.member_customer_id, seat.email) == (known.id, "known@example.com")
    error = await refused(assign(shop, sub, external_id="user-8"))
    assert (error.code, error.fields) == (INVALID_ARGUMENT, ["seat.email"]), error
    made = await assign(shop, sub, external_id="user-8", email="eight@example.com")
    assert made.external_id == "user-8"
    assert made.member_customer_id != known.id
    # By customer id: the same member, so not twice on one subscription.
    error = await refused(assign(shop, sub, member_customer_id=known.id))
    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "MEMBER_HAS_SEAT")
    other = await seated(shop)
    by_id = await assign(shop, other, member_customer_id=known.id)
    assert by_id.member_customer_id == known.id


async def test_a_member_holds_one_seat_and_the_seats_bound_the_members(shop: Shop) -> None:
    sub = await seated(shop, seats=2)
    first = await assign(shop, sub, email="a@example.com")
    await assign(shop, sub, email="b@example.com")
    error = await refused(assign(shop, sub, email="c@example.com"))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "NO_SEAT_FREE"), error
    freed = await revoke(shop, sub, first.id)
    assert freed.status == REVOKED
    assert freed.HasField("revoke_time")
    third = await assign(shop, sub, email="c@example.com")
    assert {s.email for s in await listed(shop, sub)} == {"b@example.com", "c@example.com"}
    everyone = await listed(shop, sub, show_revoked=True)
    assert [s.id for s in everyone][-1] == first.id  # newest first
    assert len(everyone) == 3
    assert third.id in {s.id for s in everyone}


async def test_seats_cannot_drop_below_the_members_holding_one(shop: Shop) -> None:
    sub = await seated(shop, seats=3)
    first = await assign(shop, sub, email="a@example.com")
    await assign(shop, sub, email="b@example.com")
    for behavior in (
        subscriptions_pb2.PRORATION_BEHAVIOR_NONE,
        subscriptions_pb2.PRORATION_BEHAVIOR_AT_PERIOD_END,
    ):
        error = await refused(
            shop.subscriptions().ChangeSubscription(
                subscriptions_pb2.ChangeSubscriptionRequest(
                    id=sub, seats=1, proration_behavior=behavior
                ),
                metadata=shop.metadata,
            )
        )
        assert (error.code, error.reason) == (FAILED_PRECONDITION, "SEATS_ASSIGNED"), error
        assert "2 seats are assigned" in error.message
    # Two seats scheduled for the renewal: the third is taken by the change.
    await shop.subscriptions().ChangeSubscription(
        subscriptions_pb2.ChangeSubscriptionRequest(
            id=sub, seats=2, proration_behavior=subscriptions_pb2.PRORATION_BEHAVIOR_AT_PERIOD_END
        ),
        metadata=shop.metadata,
    )
    error = await refused(assign(shop, sub, email="c@example.com"))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "NO_SEAT_FREE"), error
    await revoke(shop, sub, first.id)
    changed = await shop.subscriptions().ChangeSubscription(
        subscriptions_pb2.ChangeSubscriptionRequest(
            id=sub, seats=1, proration_behavior=subscriptions_pb2.PRORATION_BEHAVIOR_NONE
        ),
        metadata=shop.metadata,
    )
    assert changed.seats == 1


async def test_freeing_a_freed_seat_changes_nothing(shop: Shop) -> None:
    sub = await seated(shop)
    seat = await assign(shop, sub, email="a@example.com")
    freed = await revoke(shop, sub, seat.id)
    again = await revoke(shop, sub, seat.id)
    assert again == freed
    types = await outbox_types(shop.database, shop.organization_id)
    assert types.count("subscription_seat.revoked") == 1


async def test_a_deleted_members_seats_are_freed(shop: Shop, customers_service: Neighbour) -> None:
    sub = await seated(shop)
    seat = await assign(shop, sub, email="leaving@example.com")
    await customers(shop, customers_service).DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=seat.member_customer_id),
        metadata=call_metadata(shop.organization_id),
    )

    async def freed() -> bool | None:
        found = await rows(
            shop.database,
            select(models.subscription_seats.c.revoked_at).where(
                models.subscription_seats.c.id == uuid.UUID(seat.id)
            ),
        )
        return True if found and found[0][0] is not None else None

    await eventually(freed)
    assert await listed(shop, sub) == []


async def test_seats_refused_for_what_cannot_hold_them(shop: Shop, other_shop: Shop) -> None:
    flat = await shop.product(fixed_price(2000), name="Flat")
    plain = await on_a_clock(shop, flat)
    error = await refused(assign(shop, plain, email="a@example.com"))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "SUBSCRIPTION_NOT_SEAT_BASED")

    sub = await seated(shop)
    owner = (
        await shop.subscriptions().GetSubscription(
            subscriptions_pb2.GetSubscriptionRequest(id=sub), metadata=shop.metadata
        )
    ).customer_id
    error = await refused(assign(shop, sub, member_customer_id=owner))
    assert (error.code, error.reason) == (FAILED_PRECONDITION, "MEMBER_IS_SUBSCRIBER"), error

    error = await refused(assign(other_shop, sub, email="a@example.com"))
    assert error.code == grpc.StatusCode.NOT_FOUND
    error = await refused(assign(shop, sub, member_customer_id=str(uuid.uuid4())))
    assert error.code == grpc.StatusCode.NOT_FOUND
    stranger = await other_shop.customer()
    error = await refused(assign(shop, sub, member_customer_id=stranger))
    assert error.code == grpc.StatusCode.NOT_FOUND
    seat = await assign(shop, sub, email="a@example.com")
    error = await refused(revoke(other_shop, sub, seat.id))
    assert error.code == grpc.StatusCode.NOT_FOUND
    error = await refused(listed(other_shop, sub))
    assert error.code == grpc.StatusCode.NOT_FOUND

    for member, field in (
        ({}, "seat"),
        ({"member_customer_id": owner, "email": "a@example.com"}, "seat.member_customer_id"),
        ({"member_customer_id": "not-an-id"}, "seat.member_customer_id"),
        ({"email": "x" * 321}, "seat.email"),
        ({"external_id": " padded "}, "seat.external_id"),
        ({"email": "not an email"}, "seat.email"),
    ):
        error = await refused(assign(shop, sub, **member))
        assert (error.code, error.fields) == (INVALID_ARGUMENT, [field]), (member, error)
    assert len(await listed(shop, sub)) == 1


async def emails_known(shop: Shop, customers_service: Neighbour, email: str) -> int:
    found = await customers(shop, customers_service).ListCustomers(
        customers_pb2.ListCustomersRequest(email=email),
        metadata=call_metadata(shop.organization_id),
    )
    return len(found.customers)


async def test_a_refused_assign_makes_no_customer(shop: Shop, customers_service: Neighbour) -> None:
    sub = await seated(shop, seats=2)
    results = await asyncio.gather(
        *(assign(shop, sub, email=f"racer{n}@example.com") for n in range(6)),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, seats_pb2.SubscriptionSeat)]
    assert len(made) == 2
    for n in range(6):
        expected = 1 if f"racer{n}@example.com" in {s.email for s in made} else 0
        assert await emails_known(shop, customers_service, f"racer{n}@example.com") == expected
    flat = await shop.product(fixed_price(2000), name="Flat")
    plain = await on_a_clock(shop, flat)
    await refused(assign(shop, plain, email="flat@example.com"))
    assert await emails_known(shop, customers_service, "flat@example.com") == 0


async def test_one_new_member_assigned_at_once_on_several_subscriptions_is_one_customer(
    shop: Shop, customers_service: Neighbour
) -> None:
    subs = [await seated(shop) for _ in range(4)]
    seats = await asyncio.gather(*(assign(shop, sub, email="Shared@example.com") for sub in subs))
    assert len({seat.member_customer_id for seat in seats}) == 1
    assert await emails_known(shop, customers_service, "shared@example.com") == 1


async def test_a_new_member_may_have_any_text_in_email_and_external_id(shop: Shop) -> None:
    sub = await seated(shop)
    seat = await assign(shop, sub, email="Ünïcødé@exämple.com")
    assert seat.email == "Ünïcødé@exämple.com"
    long_id = "ü" + "x" * 255
    seat = await assign(shop, sub, email="long@example.com", external_id=long_id)
    assert seat.external_id == long_id


async def test_a_deleted_member_assigned_again_is_a_new_customer(
    shop: Shop, customers_service: Neighbour
) -> None:
    sub = await seated(shop)
    first = await assign(shop, sub, email="again@example.com")
    await customers(shop, customers_service).DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=first.member_customer_id),
        metadata=call_metadata(shop.organization_id),
    )

    async def freed() -> bool | None:
        return True if await listed(shop, sub) == [] else None

    await eventually(freed)
    second = await assign(shop, sub, email="again@example.com")
    assert second.member_customer_id != first.member_customer_id
    # The deleted one cannot be named either.
    error = await refused(assign(shop, sub, member_customer_id=first.member_customer_id))
    assert error.code == grpc.StatusCode.NOT_FOUND


async def test_assigns_racing_the_members_deletion_leave_no_seat_held(
    shop: Shop, customers_service: Neighbour
) -> None:
    subs = [await seated(shop) for _ in range(6)]
    member = await customers(shop, customers_service).CreateCustomer(
        customers_pb2.CreateCustomerRequest(
            customer=customers_pb2.Customer(email="racing@example.com")
        ),
        metadata=call_metadata(shop.organization_id),
    )
    deletion = customers(shop, customers_service).DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=member.id),
        metadata=call_metadata(shop.organization_id),
    )
    await asyncio.gather(
        deletion,
        *(assign(shop, sub, member_customer_id=member.id) for sub in subs),
        return_exceptions=True,
    )
    held = models.subscription_seats

    async def none_held() -> bool | None:
        found = await rows(
            shop.database,
            select(held.c.id).where(
                held.c.member_customer_id == uuid.UUID(member.id), held.c.revoked_at.is_(None)
            ),
        )
        return True if not found else None

    await eventually(none_held)


async def test_an_ended_subscriptions_seats_are_freed(shop: Shop) -> None:
    sub = await seated(shop)
    await assign(shop, sub, email="a@example.com")
    await assign(shop, sub, email="b@example.com")
    await shop.subscriptions().CancelSubscription(
        subscriptions_pb2.CancelSubscriptionRequest(id=sub, immediately=True),
        metadata=shop.metadata,
    )
    assert await listed(shop, sub) == []
    everyone = await listed(shop, sub, show_revoked=True)
    assert {s.status for s in everyone} == {REVOKED}
    types = await outbox_types(shop.database, shop.organization_id)
    assert types.count("subscription_seat.revoked") == 2
