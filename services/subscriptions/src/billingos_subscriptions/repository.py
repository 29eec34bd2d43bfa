"""Every query of the subscriptions service, on the kit's repositories: bound
to one organization, or platform-wide for the workers' claims (due
subscriptions, drafts, charges to send), which name each row's
organization. No commits, no rules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Table,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert

from billingos_kit.bulk import bulk_insert, bulk_update, columns_of
from billingos_kit.db import Connection
from billingos_kit.errors import AlreadyExists
from billingos_kit.pagination import ListFilter
from billingos_kit.read_copies import newer_state_upsert
from billingos_kit.repository import PlatformRepository, TenantRepository, UniqueRule
from billingos_kit.sql import Query, affected_rows
from billingos_kit.tables import Timestamp
from billingos_subscriptions.models import (
    BillingSettingsRow,
    CheckoutLink,
    CheckoutSession,
    CustomerBalance,
    CustomerCopy,
    Order,
    OrderLine,
    OrderRefund,
    PaymentAttempt,
    PendingLine,
    PriceCopy,
    ProductCopy,
    Subscription,
    SubscriptionItem,
    SubscriptionSeat,
    TaxRateCopy,
    TestClock,
    billing_settings,
    checkout_links,
    checkout_sessions,
    customer_balances,
    customers,
    order_lines,
    order_refunds,
    orders,
    payment_attempts,
    pending_lines,
    prices,
    products,
    subscription_items,
    subscription_seats,
    subscriptions,
    tax_rates,
    test_clocks,
)

_IDS = ARRAY(Uuid)

# ---- read copies ------------------------------------------------------------


class CustomerCopies(TenantRepository[CustomerCopy]):
    table = customers
    row_type = CustomerCopy
    resource = "customer"

    async def remember(self, row: CustomerCopy) -> bool:
        query = self.query(
            "remember",
            lambda: newer_state_upsert(
                customers,
                ("test_clock_id", "deleted_at", "source_updated_at", "country", "region"),
            ),
        )
        status = await query.execute(await self.connection(), **self._values(row))
        return affected_rows(status) > 0


class TaxRateCopies(TenantRepository[TaxRateCopy]):
    table = tax_rates
    row_type = TaxRateCopy
    resource = "tax_rate"

    async def remember(self, row: TaxRateCopy) -> bool:
        query = self.query(
            "remember",
            lambda: newer_state_upsert(
                tax_rates, ("percentage", "inclusive", "deleted_at", "source_updated_at")
            ),
        )
        status = await query.execute(await self.connection(), **self._values(row))
        return affected_rows(status) > 0

    async def of_country(self, country: str) -> list[TaxRateCopy]:
        def build() -> Any:
            return (
                self.live()
                .where(tax_rates.c.country == bindparam("country"))
                .order_by(tax_rates.c.source_updated_at, tax_rates.c.id)
            )

        return await self.fetch_rows(self.query("of_country", build), country=country)


class ProductCopies(TenantRepository[ProductCopy]):
    table = products
    row_type = ProductCopy
    resource = "product"

    async def remember(self, row: ProductCopy) -> bool:
        query = self.query(
            "remember",
            lambda: newer_state_upsert(products, ("archived", "payload", "source_updated_at")),
        )
        status = await query.execute(await self.connection(), **self._values(row))
        return affected_rows(status) > 0


class PriceCopies(TenantRepository[PriceCopy]):
    table = prices
    row_type = PriceCopy
    resource = "price"

    async def remember(self, row: PriceCopy) -> bool:
        query = self.query(
            "remember",
            lambda: newer_state_upsert(prices, ("archived", "payload", "source_updated_at")),
        )
        status = await query.execute(await self.connection(), **self._values(row))
        return affected_rows(status) > 0

    async def of_product(self, product_id: uuid.UUID) -> list[PriceCopy]:
        def build() -> Any:
            return (
                self.live()
                .where(prices.c.product_id == bindparam("product_id"))
                .order_by(prices.c.id)
            )

        return await self.fetch_rows(self.query("of_product", build), product_id=product_id)


# ---- settings and clocks ----------------------------------------------------


class BillingSettingsRepository(TenantRepository[BillingSettingsRow]):
    table = billing_settings
    row_type = BillingSettingsRow
    resource = "billing_settings"

    async def find(self) -> BillingSettingsRow | None:
        return await self.fetch_row(self.query("find", self.live))

    async def save(self, row: BillingSettingsRow) -> None:
        def build() -> Any:
            statement = insert(billing_settings).values(
                {column.name: bindparam(column.name) for column in billing_settings.c}
            )
            return statement.on_conflict_do_update(
                index_elements=["organization_id"],
                set_={
                    column.name: getattr(statement.excluded, column.name)
                    for column in billing_settings.c
                    if column.name != "organization_id"
                },
            )

        await self.query("save", build).execute(await self.connection(), **self._values(row))


class TestClockRepository(TenantRepository[TestClock]):
    table = test_clocks
    row_type = TestClock
    resource = "test_clock"


# ---- subscriptions ----------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionFilter(ListFilter):
    customer_id: uuid.UUID | None = None
    status: str | None = None
    product_id: uuid.UUID | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "customer_id": table.c.customer_id == bindparam("customer_id", type_=Uuid),
            "status": table.c.status == bindparam("status", type_=Text),
            "product_id": table.c.product_id == bindparam("product_id", type_=Uuid),
        }


class SubscriptionRepository(TenantRepository[Subscription]):
    table = subscriptions
    row_type = Subscription
    resource = "subscription"

    async def on_clock(
        self, test_clock_id: uuid.UUID, *, for_update: bool = False
    ) -> list[Subscription]:
        def build() -> Any:
            statement = self.live().where(
                subscriptions.c.test_clock_id == bindparam("test_clock_id")
            )
            return statement.with_for_update() if for_update else statement

        return await self.fetch_rows(
            self.query(("on_clock", for_update), build), test_clock_id=test_clock_id
        )

    async def of_customer_by_id(
        self, subscription_id: uuid.UUID, customer_id: uuid.UUID
    ) -> Subscription | None:
        """The subscription if it is the customer's (a portal's read: another
        customer's is not there)."""

        def build() -> Any:
            return self.live().where(
                subscriptions.c.id == bindparam("id"),
                subscriptions.c.customer_id == bindparam("customer_id"),
            )

        return await self.fetch_row(
            self.query("of_customer_by_id", build), id=subscription_id, customer_id=customer_id
        )

    async def of_customer(self, customer_id: uuid.UUID) -> list[Subscription]:
        def build() -> Any:
            return self.live().where(subscriptions.c.customer_id == bindparam("customer_id"))

        return await self.fetch_rows(self.query("of_customer", build), customer_id=customer_id)


class ItemRepository(TenantRepository[SubscriptionItem]):
    table = subscription_items
    row_type = SubscriptionItem
    resource = "subscription_item"

    async def of_subscriptions(self, subscription_ids: list[uuid.UUID]) -> list[SubscriptionItem]:
        def build() -> Any:
            return (
                self.live()
                .where(subscription_items.c.subscription_id == any_(bindparam("ids", type_=_IDS)))
                .order_by(subscription_items.c.subscription_id, subscription_items.c.position)
            )

        return await self.fetch_rows(self.query("of_subscriptions", build), ids=subscription_ids)


# ---- seats ------------------------------------------------------------------

SEAT_MEMBER_INDEX = "ux_subscription_seats_live_member"


@dataclass(frozen=True)
class SeatFilter(ListFilter):
    subscription_id: uuid.UUID | None = None
    # True: only seats still held.
    assigned: bool | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "subscription_id": table.c.subscription_id == bindparam("subscription_id", type_=Uuid),
            "assigned": table.c.revoked_at.is_(None) == bindparam("assigned", type_=Boolean),
        }


class SeatRepository(TenantRepository[SubscriptionSeat]):
    table = subscription_seats
    row_type = SubscriptionSeat
    resource = "subscription_seat"
    unique = (
        UniqueRule(
            SEAT_MEMBER_INDEX,
            lambda: AlreadyExists(
                "seat",
                "the member holds a seat of this subscription already",
                reason="MEMBER_HAS_SEAT",
            ),
        ),
    )

    async def assigned_count(self, subscription_id: uuid.UUID) -> int:
        """Seats of the subscription still held (the caller holds the
        subscription's row lock, so the count stays true until it commits)."""

        def build() -> Any:
            return select(func.count()).where(
                subscription_seats.c.organization_id == bindparam("organization_id"),
                subscription_seats.c.subscription_id == bindparam("subscription_id"),
                subscription_seats.c.revoked_at.is_(None),
            )

        query = self.query("assigned_count", build)
        values = self._bound({"subscription_id": subscription_id})
        record = await query.fetch_one(await self.connection(), **values)
        return int(record[0]) if record is not None else 0

    async def lock(self, purpose: str, subject: str) -> None:
        """Holds, until the transaction ends, the organization's lock on one
        thing seats are decided by: a subscription being assigned to, a
        member's identity being found or made, a member."""

        await self.hold_lock("subscription-seats", f"{purpose}:{subject}")

    async def held_of_subscription(self, subscription_id: uuid.UUID) -> list[SubscriptionSeat]:
        """The subscription's seats still held, locked (the caller holds the
        subscription's row lock)."""

        def build() -> Any:
            return (
                self.live()
                .where(
                    subscription_seats.c.subscription_id == bindparam("subscription_id"),
                    subscription_seats.c.revoked_at.is_(None),
                )
                .order_by(subscription_seats.c.id)
                .with_for_update()
            )

        return await self.fetch_rows(
            self.query("held_of_subscription", build), subscription_id=subscription_id
        )

    async def held_by(self, member_customer_id: uuid.UUID) -> list[SubscriptionSeat]:
        """The member's seats still held, of any subscription."""

        def build() -> Any:
            return (
                self.live()
                .where(
                    subscription_seats.c.member_customer_id == bindparam("member_customer_id"),
                    subscription_seats.c.revoked_at.is_(None),
                )
                .order_by(subscription_seats.c.subscription_id)
            )

        return await self.fetch_rows(
            self.query("held_by", build), member_customer_id=member_customer_id
        )

    async def of_subscription(
        self, subscription_id: uuid.UUID, seat_id: uuid.UUID, *, for_update: bool = False
    ) -> SubscriptionSeat | None:
        def build() -> Any:
            statement = self.live().where(
                subscription_seats.c.id == bindparam("id"),
                subscription_seats.c.subscription_id == bindparam("subscription_id"),
            )
            return statement.with_for_update() if for_update else statement

        return await self.fetch_row(
            self.query(("of_subscription", for_update), build),
            id=seat_id,
            subscription_id=subscription_id,
        )


# ---- orders -----------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilter(ListFilter):
    customer_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    # True: only final orders (no draft whose usage is still being read).
    final: bool | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "customer_id": table.c.customer_id == bindparam("customer_id", type_=Uuid),
            "subscription_id": table.c.subscription_id == bindparam("subscription_id", type_=Uuid),
            "final": (table.c.status != "draft") == bindparam("final", type_=Boolean),
        }


class OrderRepository(TenantRepository[Order]):
    table = orders
    row_type = Order
    resource = "order"

    async def insert_once(self, row: Order) -> bool:
        """Inserts the order unless its billing key has one already: the
        guard against a second renewal order, whoever races for it."""

        def build() -> Any:
            statement = insert(orders).values(
                {column.name: bindparam(column.name) for column in orders.c}
            )
            return statement.on_conflict_do_nothing(
                index_elements=["organization_id", "billing_key"]
            ).returning(orders.c.id)

        record = await self.query("insert_once", build).fetch_one(
            await self.connection(), **self._values(row)
        )
        return record is not None

    async def final_of_customer(self, order_id: uuid.UUID, customer_id: uuid.UUID) -> Order | None:
        """The order if it is the customer's and final (a portal's read: a
        draft, or another customer's order, is not there)."""

        def build() -> Any:
            return self.live().where(
                orders.c.id == bindparam("id"),
                orders.c.customer_id == bindparam("customer_id"),
                orders.c.status != "draft",
            )

        return await self.fetch_row(
            self.query("final_of_customer", build), id=order_id, customer_id=customer_id
        )

    async def by_billing_key(self, billing_key: str) -> Order | None:
        def build() -> Any:
            return self.live().where(orders.c.billing_key == bindparam("billing_key"))

        return await self.fetch_row(self.query("by_billing_key", build), billing_key=billing_key)

    async def drafts_of(self, subscription_id: uuid.UUID) -> list[Order]:
        """The subscription's draft orders, oldest first."""

        def build() -> Any:
            return (
                self.live()
                .where(orders.c.subscription_id == bindparam("subscription_id"))
                .where(orders.c.status == "draft")
                .order_by(orders.c.id)
            )

        return await self.fetch_rows(
            self.query("drafts_of", build), subscription_id=subscription_id
        )

    async def open_of_customer(self, customer_id: uuid.UUID) -> list[Order]:
        """Pending orders of the customer, oldest first."""

        def build() -> Any:
            return (
                self.live()
                .where(orders.c.customer_id == bindparam("customer_id"))
                .where(orders.c.status == "pending")
                .order_by(orders.c.id)
                .with_for_update()
            )

        return await self.fetch_rows(self.query("open_of_customer", build), customer_id=customer_id)

    async def open_of_subscription(self, subscription_id: uuid.UUID) -> list[Order]:
        def build() -> Any:
            return (
                self.live()
                .where(orders.c.subscription_id == bindparam("subscription_id"))
                .where((orders.c.status == "pending") | (orders.c.status == "draft"))
                .order_by(orders.c.id)
                .with_for_update()
            )

        return await self.fetch_rows(
            self.query("open_of_subscription", build), subscription_id=subscription_id
        )


class OrderLineRepository(TenantRepository[OrderLine]):
    table = order_lines
    row_type = OrderLine
    resource = "order_line"

    async def of_orders(self, order_ids: list[uuid.UUID]) -> list[OrderLine]:
        def build() -> Any:
            return (
                self.live()
                .where(order_lines.c.order_id == any_(bindparam("ids", type_=_IDS)))
                .order_by(order_lines.c.order_id, order_lines.c.position)
            )

        return await self.fetch_rows(self.query("of_orders", build), ids=order_ids)


class PendingLineRepository(TenantRepository[PendingLine]):
    table = pending_lines
    row_type = PendingLine
    resource = "pending_line"

    async def waiting(self, subscription_id: uuid.UUID, *, lock: bool = True) -> list[PendingLine]:
        """The prorations waiting for the subscription's next order, oldest
        first; locked unless `lock` is False (a preview's read)."""

        def build() -> Any:
            statement = (
                self.live()
                .where(pending_lines.c.subscription_id == bindparam("subscription_id"))
                .where(pending_lines.c.order_id.is_(None))
                .order_by(pending_lines.c.id)
            )
            return statement.with_for_update() if lock else statement

        return await self.fetch_rows(
            self.query(("waiting", lock), build), subscription_id=subscription_id
        )


class AttemptRepository(TenantRepository[PaymentAttempt]):
    table = payment_attempts
    row_type = PaymentAttempt
    resource = "payment_attempt"

    async def by_payment(self, payment_id: uuid.UUID) -> PaymentAttempt | None:
        def build() -> Any:
            return self.live().where(payment_attempts.c.payment_id == bindparam("payment_id"))

        return await self.fetch_row(self.query("by_payment", build), payment_id=payment_id)

    async def of_orders(self, order_ids: list[uuid.UUID]) -> list[PaymentAttempt]:
        def build() -> Any:
            return (
                self.live()
                .where(payment_attempts.c.order_id == any_(bindparam("ids", type_=_IDS)))
                .order_by(payment_attempts.c.order_id, payment_attempts.c.attempt_number)
            )

        return await self.fetch_rows(self.query("of_orders", build), ids=order_ids)

    async def find(
        self, order_id: uuid.UUID, attempt_number: int, *, for_update: bool = False
    ) -> PaymentAttempt | None:
        def build() -> Any:
            statement = (
                self.live()
                .where(payment_attempts.c.order_id == bindparam("order_id"))
                .where(payment_attempts.c.attempt_number == bindparam("attempt_number"))
            )
            return statement.with_for_update() if for_update else statement

        return await self.fetch_row(
            self.query(("find", for_update), build),
            order_id=order_id,
            attempt_number=attempt_number,
        )


class RefundCopies(TenantRepository[OrderRefund]):
    table = order_refunds
    row_type = OrderRefund
    resource = "order_refund"

    async def remember(self, row: OrderRefund) -> bool:
        query = self.query(
            "remember",
            lambda: newer_state_upsert(
                order_refunds, ("amount_minor", "status", "source_updated_at")
            ),
        )
        status = await query.execute(await self.connection(), **self._values(row))
        return affected_rows(status) > 0

    async def refunded(self, order_id: uuid.UUID) -> int:
        def build() -> Any:
            return (
                select(func.coalesce(func.sum(order_refunds.c.amount_minor), 0))
                .where(order_refunds.c.organization_id == bindparam("organization_id"))
                .where(order_refunds.c.order_id == bindparam("order_id"))
                .where(order_refunds.c.status == "succeeded")
            )

        record = await self.query("refunded", build).fetch_one(
            await self.connection(), **self._bound({"order_id": order_id})
        )
        assert record is not None
        return int(record[0])


class BalanceRepository(TenantRepository[CustomerBalance]):
    table = customer_balances
    row_type = CustomerBalance
    resource = "customer_balance"

    async def locked(
        self, customer_id: uuid.UUID, currency: str, now: dt.datetime
    ) -> CustomerBalance:
        """The balance, locked for this transaction (made at 0 if new), in
        one statement: an upsert that changes nothing locks the row and
        returns it."""

        def build() -> Any:
            statement = insert(customer_balances).values(
                organization_id=bindparam("organization_id"),
                customer_id=bindparam("customer_id"),
                currency=bindparam("currency"),
                credit_minor=0,
                updated_at=bindparam("now"),
            )
            return statement.on_conflict_do_update(
                index_elements=["organization_id", "customer_id", "currency"],
                set_={"credit_minor": customer_balances.c.credit_minor},
            ).returning(*customer_balances.c)

        found = await self.fetch_row(
            self.query("locked", build), customer_id=customer_id, currency=currency, now=now
        )
        assert found is not None
        return found

    async def credit_of(self, customer_id: uuid.UUID, currency: str) -> int:
        """The customer's credit in `currency` as it stands (negative: owed),
        read without a lock or a write: a preview's view of the balance."""

        def build() -> Any:
            return select(customer_balances.c.credit_minor).where(
                customer_balances.c.organization_id == bindparam("organization_id"),
                customer_balances.c.customer_id == bindparam("customer_id"),
                customer_balances.c.currency == bindparam("currency"),
            )

        record = await self.query("credit_of", build).fetch_one(
            await self.connection(),
            **self._bound({"customer_id": customer_id, "currency": currency}),
        )
        return 0 if record is None else int(record[0])

    async def set_credit(self, row: CustomerBalance) -> None:
        def build() -> Any:
            return (
                update(customer_balances)
                .where(customer_balances.c.organization_id == bindparam("organization_id"))
                .where(customer_balances.c.customer_id == bindparam("customer_id"))
                .where(customer_balances.c.currency == bindparam("currency"))
                .values(credit_minor=bindparam("credit_minor"), updated_at=bindparam("updated_at"))
            )

        await self.query("set_credit", build).execute(
            await self.connection(),
            **self._bound(
                {
                    "customer_id": row.customer_id,
                    "currency": row.currency,
                    "credit_minor": row.credit_minor,
                    "updated_at": row.updated_at,
                }
            ),
        )


# ---- checkout ---------------------------------------------------------------


class CheckoutLinkRepository(TenantRepository[CheckoutLink]):
    table = checkout_links
    row_type = CheckoutLink
    resource = "checkout_link"


@dataclass(frozen=True)
class CheckoutSessionFilter(ListFilter):
    checkout_link_id: uuid.UUID | None = None
    status: str | None = None
    customer_id: uuid.UUID | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "checkout_link_id": table.c.checkout_link_id
            == bindparam("checkout_link_id", type_=Uuid),
            "status": table.c.status == bindparam("status", type_=Text),
            "customer_id": table.c.customer_id == bindparam("customer_id", type_=Uuid),
        }


class CheckoutSessionRepository(TenantRepository[CheckoutSession]):
    table = checkout_sessions
    row_type = CheckoutSession
    resource = "checkout_session"

    async def of_order(self, order_id: uuid.UUID) -> CheckoutSession | None:
        """The session whose confirmation made the one-time order, locked."""

        def build() -> Any:
            return (
                self.live()
                .where(checkout_sessions.c.order_id == bindparam("order_id"))
                .with_for_update()
            )

        return await self.fetch_row(self.query("of_order", build), order_id=order_id)


@dataclass(frozen=True)
class ProcessingKey:
    """A processing session the sweep looks at: its id, organization and
    expire time (its place in the keyset)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    expire_at: dt.datetime


@dataclass(frozen=True)
class SessionKey:
    """A checkout session found by its client secret: its id and the
    organization it belongs to."""

    id: uuid.UUID
    organization_id: uuid.UUID


_BY_SECRET = Query.of(
    select(checkout_sessions.c.id, checkout_sessions.c.organization_id).where(
        checkout_sessions.c.client_secret_hash == bindparam("client_secret_hash")
    )
)

_OPEN_PAST_EXPIRY = Query.of(
    select(checkout_sessions)
    .where(checkout_sessions.c.status == "open")
    .where(checkout_sessions.c.expire_at <= bindparam("now"))
    .order_by(checkout_sessions.c.expire_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)


_PURCHASES_PROCESSING_PAST = Query.of(
    select(
        checkout_sessions.c.id, checkout_sessions.c.organization_id, checkout_sessions.c.expire_at
    )
    .where(checkout_sessions.c.status == "processing")
    .where(checkout_sessions.c.subscription_id.is_(None))
    .where(checkout_sessions.c.order_id.is_not(None))
    .where(checkout_sessions.c.expire_at <= bindparam("before"))
    .where(
        tuple_(checkout_sessions.c.expire_at, checkout_sessions.c.id)
        > tuple_(bindparam("after_at", type_=Timestamp), bindparam("after_id", type_=Uuid))
    )
    .order_by(checkout_sessions.c.expire_at, checkout_sessions.c.id)
    .limit(bindparam("limit"))
)
# Before every session: the keyset's start.
_FIRST_KEY = (dt.datetime(1970, 1, 1, tzinfo=dt.UTC), uuid.UUID(int=0))


_PURGE_EXPIRED = Query.of(
    delete(checkout_sessions).where(
        checkout_sessions.c.id.in_(
            select(checkout_sessions.c.id)
            .where(checkout_sessions.c.status == "expired")
            .where(checkout_sessions.c.subscription_id.is_(None))
            .where(checkout_sessions.c.order_id.is_(None))
            .where(checkout_sessions.c.expired_at < bindparam("cutoff"))
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
)


class CheckoutSecrets(PlatformRepository[CheckoutSession]):
    """Checkout sessions across organizations: the public calls name none,
    only a session's client secret (its hash is unique across them all)."""

    table = checkout_sessions
    row_type = CheckoutSession
    resource = "checkout_session"

    async def find(self, client_secret_hash: bytes) -> SessionKey | None:
        record = await _BY_SECRET.fetch_one(
            await self.connection(), client_secret_hash=client_secret_hash
        )
        return None if record is None else SessionKey(record["id"], record["organization_id"])

    async def open_past_expiry(self, now: dt.datetime, limit: int) -> list[CheckoutSession]:
        """Open sessions whose expire time has passed, oldest first, locked
        (SKIP LOCKED: two sweeps never take the same one, and one a call is
        changing waits for the next round)."""
        records = await _OPEN_PAST_EXPIRY.fetch(await self.connection(), now=now, limit=limit)
        return [CheckoutSession(**dict(record)) for record in records]

    async def purchases_processing_past(
        self, before: dt.datetime, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
    ) -> list[ProcessingKey]:
        """Processing sessions of one-time purchases that expired before
        `before`, oldest first, from after `after` (keyset: one left
        processing is not read again in the same pass). Not locked: each is
        locked in its own transaction."""
        after_at, after_id = after or _FIRST_KEY
        records = await _PURCHASES_PROCESSING_PAST.fetch(
            await self.connection(),
            before=before,
            after_at=after_at,
            after_id=after_id,
            limit=limit,
        )
        return [ProcessingKey(r["id"], r["organization_id"], r["expire_at"]) for r in records]

    async def purge_expired(self, cutoff: dt.datetime, limit: int) -> int:
        """Deletes up to `limit` sessions that expired before `cutoff`
        having bought nothing; how many."""
        status = await _PURGE_EXPIRED.execute(await self.connection(), cutoff=cutoff, limit=limit)
        return affected_rows(status)


# ---- the workers' claims (platform-wide) ------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A row a worker claimed, and whose organization it belongs to."""

    id: uuid.UUID
    organization_id: uuid.UUID
    test_clock_id: uuid.UUID | None


def _claimed(records: list[Any]) -> list[Claimed]:
    return [Claimed(r["id"], r["organization_id"], r["test_clock_id"]) for r in records]


@dataclass(frozen=True)
class DueSubscription(Claimed):
    """A due subscription, claimed: its row as locked, and the frozen time
    of its test clock (None on the real clock)."""

    row: Subscription
    frozen_time: dt.datetime | None


_SUBSCRIPTION_COLUMNS = tuple(column.name for column in subscriptions.c)


# The row's fields are the table's columns in its order (checked here), so a
# claimed record (the table's columns first) builds its row by position.
if tuple(f.name for f in dataclasses.fields(Subscription)) != _SUBSCRIPTION_COLUMNS:
    raise TypeError("models.Subscription's fields must follow the subscriptions table's columns")
_SUBSCRIPTION_WIDTH = len(_SUBSCRIPTION_COLUMNS)


def _due(records: list[Any]) -> list[DueSubscription]:
    found: list[DueSubscription] = []
    for record in records:
        values = tuple(record.values())
        row = Subscription(*values[:_SUBSCRIPTION_WIDTH])
        frozen = values[_SUBSCRIPTION_WIDTH] if len(values) > _SUBSCRIPTION_WIDTH else None
        found.append(DueSubscription(row.id, row.organization_id, row.test_clock_id, row, frozen))
    return found


_DUE_REAL = Query.of(
    select(subscriptions)
    .where(subscriptions.c.next_action_at.is_not(None))
    .where(subscriptions.c.test_clock_id.is_(None))
    .where(subscriptions.c.next_action_at <= bindparam("now"))
    .order_by(subscriptions.c.next_action_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)

_DUE_ON_CLOCKS = Query.of(
    select(subscriptions, test_clocks.c.frozen_time.label("clock_frozen_time"))
    .join(
        test_clocks,
        (test_clocks.c.id == subscriptions.c.test_clock_id)
        & (test_clocks.c.organization_id == subscriptions.c.organization_id),
    )
    .where(test_clocks.c.status == "advancing")
    .where(subscriptions.c.next_action_at.is_not(None))
    .where(subscriptions.c.next_action_at <= test_clocks.c.frozen_time)
    .order_by(subscriptions.c.next_action_at)
    .limit(bindparam("limit"))
    .with_for_update(of=subscriptions, skip_locked=True)
)

_RETRIES_REAL = Query.of(
    select(orders.c.id, orders.c.organization_id, orders.c.test_clock_id)
    .where(orders.c.next_charge_at.is_not(None))
    .where(orders.c.test_clock_id.is_(None))
    .where(orders.c.next_charge_at <= bindparam("now"))
    .order_by(orders.c.next_charge_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)

_RETRIES_ON_CLOCKS = Query.of(
    select(orders.c.id, orders.c.organization_id, orders.c.test_clock_id)
    .join(
        test_clocks,
        (test_clocks.c.id == orders.c.test_clock_id)
        & (test_clocks.c.organization_id == orders.c.organization_id),
    )
    .where(test_clocks.c.status == "advancing")
    .where(orders.c.next_charge_at.is_not(None))
    .where(orders.c.next_charge_at <= test_clocks.c.frozen_time)
    .order_by(orders.c.next_charge_at)
    .limit(bindparam("limit"))
    .with_for_update(of=orders, skip_locked=True)
)

_DRAFTS = Query.of(
    select(orders.c.id, orders.c.organization_id, orders.c.test_clock_id)
    .where(orders.c.status == "draft")
    .order_by(orders.c.created_at)
    .limit(bindparam("limit"))
)

_TO_SEND = Query.of(
    select(
        payment_attempts.c.id, payment_attempts.c.organization_id, payment_attempts.c.test_clock_id
    )
    .where(payment_attempts.c.send_at.is_not(None))
    .where(payment_attempts.c.send_at <= bindparam("now"))
    # Real charges first: a test clock advanced years ahead queues thousands
    # of attempts, which must not hold up another merchant's live charge.
    .order_by(payment_attempts.c.test_clock_id.is_not(None), payment_attempts.c.send_at)
    .limit(bindparam("limit"))
)

_ADVANCING = Query.of(
    select(test_clocks.c.id, test_clocks.c.organization_id, test_clocks.c.id.label("test_clock_id"))
    .where(test_clocks.c.status == "advancing")
    .where(test_clocks.c.deleted_at.is_(None))
    .order_by(test_clocks.c.id)
)

_CLOCK_BUSY = Query.of(
    select(
        select(subscriptions.c.id)
        .where(subscriptions.c.test_clock_id == bindparam("clock"))
        .where(subscriptions.c.next_action_at <= bindparam("frozen"))
        .exists()
        | select(orders.c.id)
        .where(orders.c.test_clock_id == bindparam("clock"))
        .where(
            (orders.c.status == "draft")
            | and_(
                orders.c.next_charge_at.is_not(None), orders.c.next_charge_at <= bindparam("frozen")
            )
        )
        .exists()
        | select(payment_attempts.c.id)
        .where(payment_attempts.c.test_clock_id == bindparam("clock"))
        .where(
            (payment_attempts.c.status == "requested")
            | (payment_attempts.c.status == "pending")
            | (payment_attempts.c.status == "processing")
        )
        .exists()
    )
)


class WorkClaims(PlatformRepository[Any]):
    """What the workers claim across organizations. The claims that change
    state lock their rows (SKIP LOCKED), so two schedulers never take the
    same subscription or retry; the drafts and sends are read without a
    lock, and each is then re-checked under its own row lock."""

    table = subscriptions
    row_type = Subscription
    resource = "subscription"

    async def due_subscriptions(self, now: dt.datetime, limit: int) -> list[DueSubscription]:
        """Due subscriptions, locked (SKIP LOCKED), with their rows: a batched
        renewal works on (and changes) these rows without reading them again;
        the one-by-one path reads each row again under its lock."""
        connection = await self.connection()
        found = _due(await _DUE_REAL.fetch(connection, now=now, limit=limit))
        if len(found) < limit:
            found += _due(await _DUE_ON_CLOCKS.fetch(connection, limit=limit - len(found)))
        return found

    async def due_retries(self, now: dt.datetime, limit: int) -> list[Claimed]:
        connection = await self.connection()
        found = _claimed(await _RETRIES_REAL.fetch(connection, now=now, limit=limit))
        if len(found) < limit:
            found += _claimed(await _RETRIES_ON_CLOCKS.fetch(connection, limit=limit - len(found)))
        return found

    async def drafts(self, limit: int) -> list[Claimed]:
        return _claimed(await _DRAFTS.fetch(await self.connection(), limit=limit))

    async def attempts_to_send(self, now: dt.datetime, limit: int) -> list[Claimed]:
        return _claimed(await _TO_SEND.fetch(await self.connection(), now=now, limit=limit))

    async def advancing_clocks(self) -> list[Claimed]:
        return _claimed(await _ADVANCING.fetch(await self.connection()))


async def clock_busy(connection: Connection, clock_id: uuid.UUID, frozen: dt.datetime) -> bool:
    """Whether anything on the clock is still due by its frozen time."""
    record = await _CLOCK_BUSY.fetch_one(connection, clock=clock_id, frozen=frozen)
    assert record is not None
    return bool(record[0])


# ---- the batched renewals (platform-wide, keyed by organization) ------------


T = TypeVar("T")


def _of_pairs(first: Any, second: Any) -> Any:
    """`(organization_id, x) IN` the pairs given as two arrays: a batch spans
    organizations, and each row is matched within its own."""
    return tuple_(first, second).in_(
        select(
            func.unnest(cast(bindparam("organization_ids"), _IDS)),
            func.unnest(cast(bindparam("keys"), ARRAY(second.type))),
        )
    )


def _rows_of(row_type: Callable[..., T], records: list[Any]) -> list[T]:
    return [row_type(**dict(record)) for record in records]


_ITEMS_OF = Query.of(
    select(subscription_items)
    .where(_of_pairs(subscription_items.c.organization_id, subscription_items.c.subscription_id))
    .order_by(subscription_items.c.subscription_id, subscription_items.c.position)
)
_PRODUCTS_OF = Query.of(
    select(products).where(_of_pairs(products.c.organization_id, products.c.id))
)
_CUSTOMERS_OF = Query.of(
    select(customers)
    .where(_of_pairs(customers.c.organization_id, customers.c.id))
    .where(customers.c.deleted_at.is_(None))
)
_RATES_OF = Query.of(
    select(tax_rates)
    .where(_of_pairs(tax_rates.c.organization_id, tax_rates.c.country))
    .where(tax_rates.c.deleted_at.is_(None))
    # As TaxRateCopies.of_country: the rule that picks among a region's
    # copies then sees them in the same order on both paths.
    .order_by(tax_rates.c.source_updated_at, tax_rates.c.id)
)
_WAITING_OF = Query.of(
    select(pending_lines)
    .where(_of_pairs(pending_lines.c.organization_id, pending_lines.c.subscription_id))
    .where(pending_lines.c.order_id.is_(None))
    .order_by(pending_lines.c.subscription_id, pending_lines.c.id)
    .with_for_update()
)


def _lock_balances() -> Query:
    given = select(
        func.unnest(cast(bindparam("organization_id"), _IDS)),
        func.unnest(cast(bindparam("customer_id"), _IDS)),
        func.unnest(cast(bindparam("currency"), ARRAY(Text))),
        literal(0, BigInteger),
        func.unnest(cast(bindparam("updated_at"), ARRAY(customer_balances.c.updated_at.type))),
    )
    statement = insert(customer_balances).from_select(
        ["organization_id", "customer_id", "currency", "credit_minor", "updated_at"], given
    )
    return Query.of(
        statement.on_conflict_do_update(
            index_elements=["organization_id", "customer_id", "currency"],
            set_={"credit_minor": customer_balances.c.credit_minor},
        ).returning(*customer_balances.c)
    )


_LOCK_BALANCES = _lock_balances()
_HOLD_BALANCES = Query.of(
    select(customer_balances.c.organization_id)
    .where(
        tuple_(
            customer_balances.c.organization_id,
            customer_balances.c.customer_id,
            customer_balances.c.currency,
        ).in_(
            select(
                func.unnest(cast(bindparam("organization_id"), _IDS)),
                func.unnest(cast(bindparam("customer_id"), _IDS)),
                func.unnest(cast(bindparam("currency"), ARRAY(Text))),
            )
        )
    )
    # Locked in this order (the lock is taken above the sort).
    .order_by(
        customer_balances.c.organization_id,
        customer_balances.c.customer_id,
        customer_balances.c.currency,
    )
    .with_for_update()
)
_INSERT_ORDERS = bulk_insert(
    orders, on_conflict_do_nothing=["organization_id", "billing_key"], returning=["id"]
)
_INSERT_LINES = bulk_insert(order_lines)
_INSERT_ATTEMPTS = bulk_insert(payment_attempts)
_TAKE_PENDING = bulk_update(pending_lines, ["organization_id", "id"], ["order_id"])
_SET_BALANCES = bulk_update(
    customer_balances,
    ["organization_id", "customer_id", "currency"],
    ["credit_minor", "updated_at"],
)
RENEWED_FIELDS = (
    "period_number",
    "current_period_start",
    "current_period_end",
    "next_action_at",
    "latest_order_id",
    "discount_remaining_orders",
    "updated_at",
)
_RENEW_SUBSCRIPTIONS = bulk_update(subscriptions, ["organization_id", "id"], RENEWED_FIELDS)

BalanceKey = tuple[uuid.UUID, uuid.UUID, str]


class RenewalRows(PlatformRepository[Any]):
    """A batch of renewals' reads and writes, one statement each for the
    whole batch. Every read is keyed by (organization, id) pairs and every
    row written carries its own organization: the batch spans merchants,
    a row never crosses from one to another."""

    table = subscriptions
    row_type = Subscription
    resource = "subscription"

    async def _pairs(
        self, query: Query, row_type: Callable[..., T], pairs: Sequence[tuple[uuid.UUID, Any]]
    ) -> list[T]:
        if not pairs:
            return []
        records = await query.fetch(
            await self.connection(),
            organization_ids=[pair[0] for pair in pairs],
            keys=[pair[1] for pair in pairs],
        )
        return _rows_of(row_type, records)

    async def items_of(self, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> list[SubscriptionItem]:
        return await self._pairs(_ITEMS_OF, SubscriptionItem, pairs)

    async def products_of(self, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> list[ProductCopy]:
        return await self._pairs(_PRODUCTS_OF, ProductCopy, pairs)

    async def customers_of(self, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> list[CustomerCopy]:
        return await self._pairs(_CUSTOMERS_OF, CustomerCopy, pairs)

    async def tax_rates_of(self, pairs: list[tuple[uuid.UUID, str]]) -> list[TaxRateCopy]:
        return await self._pairs(_RATES_OF, TaxRateCopy, pairs)

    async def waiting_lines_of(self, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> list[PendingLine]:
        """The prorations waiting for the subscriptions' next orders, locked."""
        return await self._pairs(_WAITING_OF, PendingLine, pairs)

    async def hold_balances(self, keys: set[BalanceKey]) -> None:
        """Locks the existing balances of a whole claim, in key order, before
        any of its work: a round's one-by-one renewals lock theirs one at a
        time in claim order and keep them (a released savepoint keeps its
        locks), so two rounds sharing customers could otherwise lock two
        balances in opposite orders. A balance made new during the round is
        the one lock left out of order (two rounds making the same new
        balance at once): Postgres then ends one of them, whose rows are
        tried again; nothing is written twice."""
        if not keys:
            return
        ordered = sorted(keys, key=lambda key: (str(key[0]), str(key[1]), key[2]))
        await _HOLD_BALANCES.fetch(
            await self.connection(),
            organization_id=[key[0] for key in ordered],
            customer_id=[key[1] for key in ordered],
            currency=[key[2] for key in ordered],
        )

    async def lock_balances(
        self, keys: dict[BalanceKey, dt.datetime]
    ) -> dict[BalanceKey, CustomerBalance]:
        """The balances, locked (made at 0 if new, stamped with the given
        time), in key order: two batches lock shared balances in the same
        order; the scheduler has held the existing ones already
        (`hold_balances`), so this takes only new ones."""
        if not keys:
            return {}
        ordered = sorted(keys, key=lambda key: (str(key[0]), str(key[1]), key[2]))
        records = await _LOCK_BALANCES.fetch(
            await self.connection(),
            organization_id=[key[0] for key in ordered],
            customer_id=[key[1] for key in ordered],
            currency=[key[2] for key in ordered],
            updated_at=[keys[key] for key in ordered],
        )
        found = _rows_of(CustomerBalance, records)
        return {(row.organization_id, row.customer_id, row.currency): row for row in found}

    async def insert_orders(self, rows: list[Order]) -> set[uuid.UUID]:
        """Inserts the orders whose billing keys have none yet; the ids of
        those written."""
        records = await _INSERT_ORDERS.fetch(
            await self.connection(), **columns_of(map(vars, rows), orders)
        )
        return {record["id"] for record in records}

    async def insert_lines(self, rows: list[OrderLine]) -> None:
        await self._write(_INSERT_LINES, columns_of(map(vars, rows), order_lines), rows)

    async def insert_attempts(self, rows: list[PaymentAttempt]) -> None:
        await self._write(_INSERT_ATTEMPTS, columns_of(map(vars, rows), payment_attempts), rows)

    async def take_pending(self, rows: list[PendingLine]) -> None:
        await self._write(
            _TAKE_PENDING, columns_of(map(vars, rows), ("organization_id", "id", "order_id")), rows
        )

    async def set_balances(self, rows: list[CustomerBalance]) -> None:
        names = ("organization_id", "customer_id", "currency", "credit_minor", "updated_at")
        await self._write(_SET_BALANCES, columns_of(map(vars, rows), names), rows)

    async def renew_subscriptions(self, rows: list[Subscription]) -> None:
        names = ("organization_id", "id", *RENEWED_FIELDS)
        status = await _RENEW_SUBSCRIPTIONS.execute(
            await self.connection(), **columns_of(map(vars, rows), names)
        )
        if affected_rows(status) != len(rows):
            raise RuntimeError(f"{len(rows)} renewed subscriptions, {status} written")

    async def _write(self, query: Query, arrays: dict[str, list[Any]], rows: list[Any]) -> None:
        """Writes the rows; a row that matched nothing (an update of a row
        gone, a proration taken already) fails the batch, which then goes
        one by one, rather than leaving a proration to be billed again."""
        if not rows:
            return
        status = await query.execute(await self.connection(), **arrays)
        if affected_rows(status) != len(rows):
            raise RuntimeError(f"{len(rows)} rows to write, {status} written")
