"""Seats: a seat-based subscription's seats, each held by a member — a
customer of the same organization, who gets the product's benefits as their
own (entitlements grants them from the seat's events).

Locks, always in this order, make the rules hold under concurrency:
- the subscription's seat lock: one assign per subscription at a time, so
  a refused assign (no seat free, an ended subscription) makes no customer;
- a member identity's lock (organization, email or external id): two
  assigns of one new member, on any subscriptions, make one customer;
- the member's lock, taken by the customer deletion too (consumers.py), before
  the customers copy is read or filled,
  so a seat is never left held by a deleted customer;
- the subscription's row lock, which a change that lowers the seats also
  takes (`refuse_fewer_than_assigned`): members never outnumber the seats,
  now or after a scheduled change."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid

from billingos.customers.v1 import customers_pb2
from billingos.subscriptions.v1 import seats_pb2
from billingos_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from billingos_kit.ids import new_id, parse_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.validation import Violations, check_text
from billingos_kit.workscope import WorkScope
from billingos_subscriptions import events
from billingos_subscriptions.billing import Billing
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


async def free_member_seats(billing: Billing, member_id: uuid.UUID) -> None:
    """Frees every seat the member holds (its customer was deleted, and the
    caller has recorded so in the copy under the member's lock): an assign
    waiting on the lock then sees the deletion, one before it is freed here."""
    seats = SeatRepository(billing.scope)
    for held in await seats.held_by(member_id):
        sub = await billing.subscriptions.require(held.subscription_id, for_update=True)
        row = await seats.of_subscription(sub.id, held.id, for_update=True)
        if row is not None and row.revoked_at is None:
            await billing.free_seat(sub, row, await billing.now_for(sub.test_clock_id))


def seats_of(sub: Subscription) -> int:
    """Seats the member count must stay within: the fewer of now's and a
    scheduled change's (its seats come at the renewal)."""
    if sub.scheduled_seats is not None and sub.scheduled_price_id is not None:
        return min(sub.seats, sub.scheduled_seats)
    return sub.seats


def _identity(kind: str, value: str) -> str:
    """A member identity as a lock's subject: hashed (any length, any text)."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


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
        await self._seats.lock("assigning", str(subscription_id))
        sub = await self._billing.subscriptions.require(subscription_id)
        # Refused before a member is made: the seat lock keeps the answer
        # true until the row lock below confirms it.
        await self._admissible(sub, member.customer_id)
        found = await self._find_member(sub, member)
        assert found.customer_id is not None
        member_id = found.customer_id
        await self._seats.lock("member", str(member_id))
        known = await self._catalog.customers.get(member_id)
        if known is not None and known.deleted_at is not None:
            raise NotFound("customer", str(member_id))
        sub = await self._billing.subscriptions.require(subscription_id, for_update=True)
        await self._admissible(sub, member_id)
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

    async def _admissible(self, sub: Subscription, member_id: uuid.UUID | None) -> None:
        if (
            sub.ended_at is not None
            or SubscriptionStatus(sub.status) is SubscriptionStatus.CANCELED
        ):
            raise FailedPrecondition("the subscription has ended", reason="SUBSCRIPTION_ENDED")
        if sub.seats == 0:
            raise FailedPrecondition(
                "the subscription's price has no seats", reason="SUBSCRIPTION_NOT_SEAT_BASED"
            )
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

    async def revoke(self, subscription_id: uuid.UUID, seat_id: uuid.UUID) -> SubscriptionSeat:
        sub = await self._billing.subscriptions.require(subscription_id, for_update=True)
        row = await self._seats.of_subscription(sub.id, seat_id, for_update=True)
        if row is None:
            raise NotFound("subscription_seat", str(seat_id))
        if row.revoked_at is not None:
            return row  # freed already: nothing changes, nothing is announced
        await self._billing.free_seat(sub, row, await self._billing.now_for(sub.test_clock_id))
        return row

    async def get(self, subscription_id: uuid.UUID, seat_id: uuid.UUID) -> SubscriptionSeat:
        await self._billing.subscriptions.require(subscription_id)
        row = await self._seats.of_subscription(subscription_id, seat_id)
        if row is None:
            raise NotFound("subscription_seat", str(seat_id))
        return row

    async def list_page(self, where: SeatFilter, page: PageRequest) -> Page[SubscriptionSeat]:
        assert where.subscription_id is not None
        await self._billing.subscriptions.require(where.subscription_id)
        return await self._seats.page(where, page)

    # ---- members --------------------------------------------------------------

    async def _find_member(self, sub: Subscription, member: Member) -> Member:
        """The member with their customer id: the customer named, or found
        by external id or email, or made — under the identity's lock, so a
        second assign of a new member finds the customer the first made."""
        organization_id = self._scope.organization_id
        if member.customer_id is not None:
            # The member's lock before the copy is read (and filled from the
            # customers service): the order the deletion takes them in.
            await self._seats.lock("member", str(member.customer_id))
            known = await self._catalog.customer(member.customer_id)
            if known is None or known.deleted_at is not None:
                raise NotFound("customer", str(member.customer_id))
            return member
        if member.external_id:
            await self._seats.lock("identity", _identity("external_id", member.external_id))
            found = await self._members.by_external_id(organization_id, member.external_id)
            if found is not None:
                return _known(found)
            if not member.email:
                raise InvalidArgument(
                    "seat.email", "no customer has this external id; give an email to make one"
                )
            return await self._make(sub, member)
        await self._seats.lock("identity", _identity("email", member.email.lower()))
        same_email = await self._members.by_email(organization_id, member.email)
        if len(same_email) > 1:
            raise FailedPrecondition(
                "seat.email: several customers have this email; assign by member_customer_id "
                "or external_id",
                reason="MEMBER_AMBIGUOUS",
            )
        if same_email:
            return _known(same_email[0])
        return await self._make(sub, member)

    async def _make(self, sub: Subscription, member: Member) -> Member:
        """A new customer for the member, on the subscription's test clock
        if it has one (test data stays test data); one made meanwhile with
        the external id (outside seats) is found instead."""
        organization_id = self._scope.organization_id
        customer = customers_pb2.Customer(
            email=member.email,
            external_id=member.external_id,
            test_clock_id="" if sub.test_clock_id is None else str(sub.test_clock_id),
        )
        made = await self._members.create(organization_id, customer)
        if made is None and member.external_id:
            made = await self._members.by_external_id(organization_id, member.external_id)
        if made is None:
            raise FailedPrecondition(
                "the member's customer could not be made; retry", reason="MEMBER_CONFLICT"
            )
        return _known(made)


def _known(customer: customers_pb2.Customer) -> Member:
    return Member(uuid.UUID(customer.id), customer.email, customer.external_id)
