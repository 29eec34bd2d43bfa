"""The current state of every entity the payments context announces, read
from its tables: what seeds the latest-state stream for entities that last
changed before that stream existed (billingos_kit.snapshot). Rows that have
announced nothing yet (a customer without its Stripe customer, a payment
still pending) have no state to seed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import Table, select

from billingos_kit.db import Connection
from billingos_kit.snapshot import StateSource
from billingos_kit.sql import Query
from billingos_payments import events
from billingos_payments.models import (
    ConnectAccount,
    Customer,
    Payment,
    PaymentMethod,
    Refund,
    connect_accounts,
    customers,
    payment_methods,
    payment_settings,
    payments,
    refunds,
)
from billingos_payments.vocabulary import RefundStatus

RowT = TypeVar("RowT")


def _announced(
    entity: str, table: Table, row_type: Callable[..., RowT], state: Callable[[RowT], Any]
) -> StateSource:
    query = Query.of(select(table).order_by(table.c.id))

    async def states(connection: Connection) -> AsyncIterator[tuple[Message, uuid.UUID]]:
        async for record in query.cursor(connection):
            row = row_type(**record)
            message = state(row)
            if message is not None:
                yield message, record["organization_id"]

    return StateSource(entity, states)


def stripe_customer_state(customer: Customer) -> Message | None:
    return events.stripe_customer_created(customer) if customer.stripe_customer_id else None


def refund_state(row: Refund) -> Message | None:
    """A refund Stripe has, or one settled without it; none while unsent."""
    if row.stripe_refund_id is None and RefundStatus(row.status) is RefundStatus.PENDING:
        return None
    return events.refund_updated(row)


def payment_method_state(row: PaymentMethod) -> Message:
    if row.detached_at is not None:
        return events.payment_method_detached(row)
    return events.payment_method_attached(row)


_FEES = Query.of(select(payment_settings))


async def _account_states(connection: Connection) -> AsyncIterator[tuple[Message, uuid.UUID]]:
    fees = {
        record["organization_id"]: record["application_fee_basis_points"]
        for record in await _FEES.fetch(connection)
    }
    query = Query.of(select(connect_accounts).order_by(connect_accounts.c.id))
    async for record in query.cursor(connection):
        row = ConnectAccount(**record)
        yield events.account_updated(row, fees.get(row.organization_id, 0)), row.organization_id


def state_sources() -> list[StateSource]:
    return [
        _announced("stripe_customer", customers, Customer, stripe_customer_state),
        _announced("payment_method", payment_methods, PaymentMethod, payment_method_state),
        _announced("payment", payments, Payment, events.payment_outcome),
        _announced("refund", refunds, Refund, refund_state),
        StateSource("connect_account", _account_states),
    ]
