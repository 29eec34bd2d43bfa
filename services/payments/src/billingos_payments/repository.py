"""Every query of the payments service, on the kit's repositories: bound to
one organization, or platform-wide where only Stripe's id is known (a
webhook names a PaymentIntent, not an organization). No commits, no rules."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Table,
    Uuid,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from billingos_kit.errors import AlreadyExists
from billingos_kit.pagination import ListFilter
from billingos_kit.repository import PlatformRepository, TenantRepository, UniqueRule
from billingos_kit.sql import affected_rows
from billingos_payments.models import (
    ConnectAccount,
    Customer,
    Payment,
    PaymentMethod,
    PaymentSettings,
    Refund,
    SetupIntent,
    StripeEvent,
    connect_accounts,
    customers,
    payment_methods,
    payment_settings,
    payments,
    refunds,
    setup_intents,
    stripe_events,
)
from billingos_payments.vocabulary import RefundStatus

# ---- customers (read copy + Stripe mapping) ---------------------------------


class CustomerCopies(TenantRepository[Customer]):
    table = customers
    row_type = Customer
    resource = "customer"

    async def remember(self, row: Customer) -> bool:
        """Inserts or refreshes the copy, unless it holds a newer state;
        True when it changed. The Stripe columns are never touched here."""

        def build() -> Any:
            statement = insert(customers).values(
                {column.name: bindparam(column.name) for column in customers.c}
            )
            return statement.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "email": statement.excluded.email,
                    "name": statement.excluded.name,
                    "deleted_at": func.coalesce(
                        customers.c.deleted_at, statement.excluded.deleted_at
                    ),
                    "source_updated_at": statement.excluded.source_updated_at,
                    "updated_at": statement.excluded.updated_at,
                },
                where=(customers.c.organization_id == bindparam("organization_id"))
                & (customers.c.source_updated_at < statement.excluded.source_updated_at),
            )

        values = self._values(row)
        status = await self.query("remember", build).execute(await self.connection(), **values)
        return affected_rows(status) > 0

    async def set_stripe(self, row: Customer, fields: tuple[str, ...]) -> None:
        await self.update(row, [*fields, "updated_at"])


# ---- setup intents ----------------------------------------------------------


class SetupIntentRepository(TenantRepository[SetupIntent]):
    table = setup_intents
    row_type = SetupIntent
    resource = "setup_intent"

    async def by_stripe_id(self, stripe_id: str, *, for_update: bool = False) -> SetupIntent | None:
        def build() -> Any:
            statement = self.live().where(
                setup_intents.c.stripe_setup_intent_id == bindparam("sid")
            )
            return statement.with_for_update() if for_update else statement

        return await self.fetch_row(self.query(("by_stripe_id", for_update), build), sid=stripe_id)


# ---- payment methods --------------------------------------------------------


@dataclass(frozen=True)
class PaymentMethodFilter(ListFilter):
    customer_id: uuid.UUID | None = None
    attached: bool | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "customer_id": table.c.customer_id == bindparam("customer_id", type_=Uuid),
            "attached": table.c.detached_at.is_(None) == bindparam("attached", type_=Boolean),
        }


class PaymentMethodRepository(TenantRepository[PaymentMethod]):
    table = payment_methods
    row_type = PaymentMethod
    resource = "payment_method"

    async def insert_once(self, row: PaymentMethod) -> PaymentMethod | None:
        """Records the card unless it is known already (by Stripe's id):
        the row inserted, or None when it was there."""

        def build() -> Any:
            statement = insert(payment_methods).values(
                {column.name: bindparam(column.name) for column in payment_methods.c}
            )
            return statement.on_conflict_do_nothing(
                index_elements=["stripe_payment_method_id"]
            ).returning(payment_methods.c.id)

        record = await self.query("insert_once", build).fetch_one(
            await self.connection(), **self._values(row)
        )
        return row if record is not None else None

    async def by_stripe_id(self, stripe_id: str) -> PaymentMethod | None:
        def build() -> Any:
            return self.live().where(payment_methods.c.stripe_payment_method_id == bindparam("pm"))

        return await self.fetch_row(self.query("by_stripe_id", build), pm=stripe_id)

    async def default_of(self, customer_id: uuid.UUID) -> PaymentMethod | None:
        def build() -> Any:
            return self.live().where(
                payment_methods.c.customer_id == bindparam("customer_id"),
                payment_methods.c.is_default.is_(True),
                payment_methods.c.detached_at.is_(None),
            )

        return await self.fetch_row(self.query("default_of", build), customer_id=customer_id)

    async def attached_of(self, customer_id: uuid.UUID) -> list[PaymentMethod]:
        """The customer's chargeable cards, newest first."""

        def build() -> Any:
            return (
                self.live()
                .where(
                    payment_methods.c.customer_id == bindparam("customer_id"),
                    payment_methods.c.detached_at.is_(None),
                )
                .order_by(payment_methods.c.id.desc())
            )

        return await self.fetch_rows(self.query("attached_of", build), customer_id=customer_id)


# ---- payments and refunds ---------------------------------------------------


@dataclass(frozen=True)
class PaymentFilter(ListFilter):
    customer_id: uuid.UUID | None = None
    order_id: uuid.UUID | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "customer_id": table.c.customer_id == bindparam("customer_id", type_=Uuid),
            "order_id": table.c.order_id == bindparam("order_id", type_=Uuid),
        }


class PaymentRepository(TenantRepository[Payment]):
    table = payments
    row_type = Payment
    resource = "payment"

    async def claim(self, row: Payment) -> bool:
        """Records the attempt unless (order, attempt number) is recorded
        already; True when this call recorded it."""

        def build() -> Any:
            statement = insert(payments).values(
                {column.name: bindparam(column.name) for column in payments.c}
            )
            return statement.on_conflict_do_nothing(
                index_elements=["organization_id", "order_id", "attempt_number"]
            ).returning(payments.c.id)

        record = await self.query("claim", build).fetch_one(
            await self.connection(), **self._values(row)
        )
        return record is not None

    async def attempt(
        self, order_id: uuid.UUID, attempt_number: int, *, for_update: bool = False
    ) -> Payment | None:
        def build() -> Any:
            statement = self.live().where(
                payments.c.order_id == bindparam("order_id"),
                payments.c.attempt_number == bindparam("attempt_number"),
            )
            return statement.with_for_update() if for_update else statement

        return await self.fetch_row(
            self.query(("attempt", for_update), build),
            order_id=order_id,
            attempt_number=attempt_number,
        )

    async def by_intent(self, stripe_id: str) -> Payment | None:
        """The attempt of a PaymentIntent, locked (webhooks apply to it)."""

        def build() -> Any:
            return (
                self.live()
                .where(payments.c.stripe_payment_intent_id == bindparam("pi"))
                .with_for_update()
            )

        return await self.fetch_row(self.query("by_intent", build), pi=stripe_id)


@dataclass(frozen=True)
class RefundFilter(ListFilter):
    payment_id: uuid.UUID | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {"payment_id": table.c.payment_id == bindparam("payment_id", type_=Uuid)}


class RefundRepository(TenantRepository[Refund]):
    table = refunds
    row_type = Refund
    resource = "refund"

    async def by_stripe_id(self, stripe_id: str, *, for_update: bool = False) -> Refund | None:
        def build() -> Any:
            statement = self.live().where(refunds.c.stripe_refund_id == bindparam("re"))
            return statement.with_for_update() if for_update else statement

        return await self.fetch_row(self.query(("by_stripe_id", for_update), build), re=stripe_id)

    async def by_idempotency_key(self, key: str) -> Refund | None:
        def build() -> Any:
            return self.live().where(refunds.c.idempotency_key == bindparam("key"))

        return await self.fetch_row(self.query("by_idempotency_key", build), key=key)

    async def of_payment(self, payment_id: uuid.UUID) -> list[Refund]:
        """Every refund of a payment, locked (the payment is locked first)."""

        def build() -> Any:
            return (
                self.live()
                .where(refunds.c.payment_id == bindparam("payment_id"))
                .order_by(refunds.c.id)
                .with_for_update()
            )

        return await self.fetch_rows(self.query("of_payment", build), payment_id=payment_id)


@dataclass(frozen=True)
class UnsentRefund:
    organization_id: uuid.UUID
    payment_id: uuid.UUID


class UnsentRefunds(PlatformRepository[Refund]):
    """Refunds recorded but never answered by Stripe, of every organization:
    what the sweep settles."""

    table = refunds
    row_type = Refund
    resource = "refund"

    async def older_than(self, before: dt.datetime, limit: int) -> list[UnsentRefund]:
        def build() -> Any:
            return (
                select(refunds.c.organization_id, refunds.c.payment_id)
                .where(
                    refunds.c.stripe_refund_id.is_(None),
                    refunds.c.status == RefundStatus.PENDING.value,
                    refunds.c.created_at < bindparam("before"),
                )
                .group_by(refunds.c.organization_id, refunds.c.payment_id)
                .order_by(func.min(refunds.c.created_at))  # the longest waiting first
                .limit(bindparam("limit"))
            )

        records = await self.query("older_than", build).fetch(
            await self.connection(), before=before, limit=limit
        )
        return [UnsentRefund(r["organization_id"], r["payment_id"]) for r in records]


# ---- Connect and settings ---------------------------------------------------


class ConnectAccountRepository(TenantRepository[ConnectAccount]):
    table = connect_accounts
    row_type = ConnectAccount
    resource = "connect_account"
    unique = (
        UniqueRule(
            "uq_connect_accounts_organization_id",
            lambda: AlreadyExists(
                "connect_account",
                "the organization has a connected account already",
                reason="CONNECT_ACCOUNT_ALREADY_EXISTS",
            ),
        ),
    )

    async def of_organization(self, *, for_update: bool = False) -> ConnectAccount | None:
        def build() -> Any:
            statement = self.live()
            return statement.with_for_update() if for_update else statement

        return await self.fetch_row(self.query(("of_organization", for_update), build))


class PaymentSettingsRepository(TenantRepository[PaymentSettings]):
    table = payment_settings
    row_type = PaymentSettings
    resource = "payment_settings"

    async def current(self) -> PaymentSettings | None:
        return await self.fetch_row(self.query("current", self.live))

    async def lock(self) -> None:
        await self.fetch_row(self.query("lock", lambda: self.live().with_for_update()))

    async def save(self, row: PaymentSettings) -> None:
        def build() -> Any:
            statement = insert(payment_settings).values(
                {column.name: bindparam(column.name) for column in payment_settings.c}
            )
            return statement.on_conflict_do_update(
                index_elements=["organization_id"],
                set_={
                    "application_fee_basis_points": statement.excluded.application_fee_basis_points,
                    "updated_at": statement.excluded.updated_at,
                },
            )

        await self.query("save", build).execute(await self.connection(), **self._values(row))


# ---- platform-wide lookups (webhooks name Stripe's ids only) ----------------


class OwnerOf(PlatformRepository[Any]):
    """Which organization a Stripe object belongs to, by its id."""

    table = payments
    row_type = Payment
    resource = "payment"

    async def _organization(self, table: Table, column: str, stripe_id: str) -> uuid.UUID | None:
        query = self.query(
            ("owner", table.name, column),
            lambda: select(table.c.organization_id).where(table.c[column] == bindparam("sid")),
        )
        record = await query.fetch_one(await self.connection(), sid=stripe_id)
        return None if record is None else record["organization_id"]

    async def of_payment_intent(self, stripe_id: str) -> uuid.UUID | None:
        return await self._organization(payments, "stripe_payment_intent_id", stripe_id)

    async def of_setup_intent(self, stripe_id: str) -> uuid.UUID | None:
        return await self._organization(setup_intents, "stripe_setup_intent_id", stripe_id)

    async def of_account(self, stripe_id: str) -> uuid.UUID | None:
        return await self._organization(connect_accounts, "stripe_account_id", stripe_id)


class StripeEventRepository(PlatformRepository[StripeEvent]):
    table = stripe_events
    row_type = StripeEvent
    resource = "stripe_event"

    async def insert_once(self, row: StripeEvent) -> bool:
        """Stores the event unless its id was stored before; True if new."""

        def build() -> Any:
            statement = insert(stripe_events).values(
                {column.name: bindparam(column.name) for column in stripe_events.c}
            )
            return statement.on_conflict_do_nothing(index_elements=["id"]).returning(
                stripe_events.c.id
            )

        record = await self.query("insert_once", build).fetch_one(
            await self.connection(), **self._values(row)
        )
        return record is not None

    async def claim_next(self, now: dt.datetime) -> StripeEvent | None:
        """The oldest unprocessed event due now (not waiting out a backoff),
        locked for this transaction; other replicas skip it."""

        def build() -> Any:
            return (
                select(stripe_events)
                .where(
                    stripe_events.c.processed_at.is_(None),
                    or_(
                        stripe_events.c.next_attempt_at.is_(None),
                        stripe_events.c.next_attempt_at <= bindparam("now"),
                    ),
                )
                .order_by(stripe_events.c.received_at, stripe_events.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )

        return await self.fetch_row(self.query("claim_next", build), now=now)

    async def mark(self, row: StripeEvent) -> None:
        def build() -> Any:
            return (
                update(stripe_events)
                .where(stripe_events.c.id == bindparam("where_id"))
                .values(
                    processed_at=bindparam("processed_at"),
                    outcome=bindparam("outcome"),
                    attempts=bindparam("attempts"),
                    last_error=bindparam("last_error"),
                    next_attempt_at=bindparam("next_attempt_at"),
                )
            )

        await self.query("mark", build).execute(
            await self.connection(),
            where_id=row.id,
            processed_at=row.processed_at,
            outcome=row.outcome,
            attempts=row.attempts,
            last_error=row.last_error,
            next_attempt_at=row.next_attempt_at,
        )
