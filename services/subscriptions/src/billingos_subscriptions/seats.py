"""Seats: a seat-based subscription's seats, each held by a member — a
customer of the same organization, who gets the product's benefits as their
own (entitlements grants them from the seat's events). The subscription's
row lock serializes everything that counts seats: assigning, and a change
that lowers the seat count (`Seats.check_decrease`), so assigned seats never
outnumber the seats paid for, now or after a scheduled change."""

from __future__ import annotations

import dataclasses
import uuid

from billingos.customers.v1 import customers_pb2
from billingos.subscriptions.v1 import seats_pb2
from billingos_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from billingos_kit.ids import new_id, parse_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.validation import Violations, check_text
from billingos_subscriptions import events
from billingos_subscriptions.billing import Billing, WorkScope
from billingos_subscriptions.catalog_copy import Catalog
from billingos_subscriptions.clients import MembersClient
from billingos_subscriptions.messages import seat_message
from billingos_subscriptions.models import Subscription, SubscriptionSeat
from billingos_subscriptions.repository import SeatFilter, SeatRepository
from billingos_subscriptions.vocabulary import SubscriptionStatus

MAX_EMAIL = 320
MAX_EXTERNAL_ID = 256


@dataclasses.dataclass(frozen=True)
class Member:
    """Who a seat is for, as the caller named them."""

    customer_id: uuid.UUID | None
    email: str
    external_id: str


def member_of(seat: seats_pb2.SubscriptionSeat) -> Member:
    violations = Violations()
    email, external_id = seat.email.strip(), seat.external_id
    check_text(violations, "seat.email", email, max_length=MAX_EMAIL)
    check_text(violations, "seat.external_id", external_id, max_length=MAX_EXTERNAL_ID)
    if external_id and external_id != external_id.strip():
        violations.add("seat.external_id", "must not start or end with spaces")
    customer_id = None
    if seat.member_customer_id:
        if email or external_id:
            violations.add(
                "seat.member_customer_id", "give the member's customer id, or email/external id"
            )
        else:
            try:
                customer_id = parse_id(seat.member_customer_id, "seat.member_customer_id")
            except InvalidArgument as error:
                violations.extend(list(error.violations))
    elif not email and not external_id:
        violations.add("seat", "name the member: member_customer_id, email or external_id")
    violations.raise_if_any()
    return Member(customer_id, email, external_id)


async def refuse_fewer_than_assigned(scope: WorkScope, sub: Subscription, seats: int) -> None:
    """Refuses lowering the seats below the members holding one (the caller
    holds the subscription's row lock)."""
    held = await SeatRepository(scope).assigned_count(sub.id)
    if seats < held:
        raise FailedPrecondition(
            f"seats: {held} seats are assigned; revoke {held - seats} of them before lowering "
            f"the seats to {seats}",
            reason="SEATS_ASSIGNED",
        )


async def free_seat(billing: Billing, sub: Subscription, row: SubscriptionSeat) -> None:
    """Frees a held seat (the caller holds the subscription's and the
    seat's row locks)."""
    now = await billing.now_for(sub.test_clock_id)
    row.revoked_at = row.updated_at = max(now, row.assigned_at)
    await SeatRepository(billing.scope).update(row, ["revoked_at", "updated_at"])
    await billing.scope.outbox.add(events.seat_revoked(seat_message(row)))


async def free_member_seats(billing: Billing, member_id: uuid.UUID) -> None:
    """Frees every seat the member holds (its customer was deleted): each
    subscription locked before its seat, as assigning and freeing do."""
    seats = SeatRepository(billing.scope)
    for held in await seats.held_by(member_id):
        sub = await billing.subscriptions.require(held.subscription_id, for_update=True)
        row = await seats.of_subscription(sub.id, held.id, for_update=True)
        if row is not None and row.revoked_at is None:
            await free_seat(billing, sub, row)


def seats_of(sub: Subscription) -> int:
    """Seats the member count must stay within: the fewer of now's and a
    scheduled change's (its seats come at the renewal)."""
    if sub.scheduled_seats is not None and sub.scheduled_price_id is not None:
        return min(sub.seats, sub.scheduled_seats)
    return sub.seats


class Seats:
    def __init__(self, billing: Billing, members: MembersClient, catalog: Catalog) -> None:
        self._billing = billing
        self._scope = billing.scope
        self._members = members
        self._catalog = catalog
        self._seats = SeatRepository(billing.scope)

    async def assign(
        self, subscription_id: uuid.UUID, seat: seats_pb2.SubscriptionSeat
    ) -> SubscriptionSeat:
        member = member_of(seat)
        # The member is found (or made) before anything is locked: it is a
        # call to another service, and making the same member twice is
        # answered once (its idempotency key).
        sub = await self._billing.subscriptions.require(subscription_id)
        found = await self._find_member(sub, member)
        assert found.customer_id is not None
        sub = await self._billing.subscriptions.require(subscription_id, for_update=True)
        if (
            sub.ended_at is not None
            or SubscriptionStatus(sub.status) is SubscriptionStatus.CANCELED
        ):
            raise FailedPrecondition("the subscription has ended", reason="SUBSCRIPTION_ENDED")
        if sub.seats == 0:
            raise FailedPrecondition(
                "the subscription's price has no seats", reason="SUBSCRIPTION_NOT_SEAT_BASED"
            )
        member_id = found.customer_id
        if member_id == sub.customer_id:
            raise FailedPrecondition(
                "seat: the subscription's own customer has its benefits without a seat",
                reason="MEMBER_IS_SUBSCRIBER",
            )
        limit = seats_of(sub)
        if await self._seats.assigned_count(sub.id) >= limit:
            raise FailedPrecondition(
                f"all {limit} seats are assigned; revoke one or add seats first",
                reason="NO_SEAT_FREE",
            )
        now = await self._billing.now_for(sub.test_clock_id)
        row = SubscriptionSeat(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            subscription_id=sub.id,
            member_customer_id=member_id,
            email=found.email,
            external_id=found.external_id,
            assigned_at=now,
            revoked_at=None,
            created_at=now,
            updated_at=now,
        )
        await self._seats.insert(row)
        await self._scope.outbox.add(events.seat_assigned(seat_message(row)))
        return row

    async def revoke(self, subscription_id: uuid.UUID, seat_id: uuid.UUID) -> SubscriptionSeat:
        sub = await self._billing.subscriptions.require(subscription_id, for_update=True)
        row = await self._seats.of_subscription(sub.id, seat_id, for_update=True)
        if row is None:
            raise NotFound("subscription_seat", str(seat_id))
        if row.revoked_at is not None:
            return row  # freed already: nothing changes, nothing is announced
        await free_seat(self._billing, sub, row)
        return row

    async def list_page(self, where: SeatFilter, page: PageRequest) -> Page[SubscriptionSeat]:
        assert where.subscription_id is not None
        await self._billing.subscriptions.require(where.subscription_id)
        return await self._seats.page(where, page)

    # ---- members --------------------------------------------------------------

    async def _find_member(self, sub: Subscription, member: Member) -> Member:
        """The member with their customer id: the customer named, found by
        external id or email, or made."""
        organization_id = self._scope.organization_id
        if member.customer_id is not None:
            known = await self._catalog.customer(member.customer_id)
            if known is None or known.deleted_at is not None:
                raise NotFound("customer", str(member.customer_id))
            return member
        if member.external_id:
            found = await self._members.by_external_id(organization_id, member.external_id)
            if found is not None:
                return _known(found)
            if not member.email:
                raise InvalidArgument(
                    "seat.email", "no customer has this external id; give an email to make one"
                )
            return await self._make(sub, member, f"x:{member.external_id}")
        same_email = await self._members.by_email(organization_id, member.email)
        if len(same_email) > 1:
            raise FailedPrecondition(
                "seat.email: several customers have this email; assign by member_customer_id "
                "or external_id",
                reason="MEMBER_AMBIGUOUS",
            )
        if same_email:
            return _known(same_email[0])
        return await self._make(sub, member, f"e:{member.email.lower()}")

    async def _make(self, sub: Subscription, member: Member, identity: str) -> Member:
        """A new customer for the member. Two assigns of the same new member
        share the key, so one customer is made; another made meanwhile with
        the external id is found instead."""
        organization_id = self._scope.organization_id
        customer = customers_pb2.Customer(email=member.email, external_id=member.external_id)
        key = f"subscription-seat-member:{sub.id}:{identity}"
        made = await self._members.create(organization_id, customer, key)
        if made is None and member.external_id:
            made = await self._members.by_external_id(organization_id, member.external_id)
        if made is None:
            raise FailedPrecondition(
                "the member's customer could not be made; retry", reason="MEMBER_CONFLICT"
            )
        return _known(made)


def _known(customer: customers_pb2.Customer) -> Member:
    return Member(uuid.UUID(customer.id), customer.email, customer.external_id)
