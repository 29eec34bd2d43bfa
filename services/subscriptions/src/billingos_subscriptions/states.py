"""The current state of every entity the subscriptions context announces,
read from its tables: what seeds the latest-state stream for entities that
last changed before that stream existed (billingos_kit.snapshot)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from google.protobuf.message import Message
from sqlalchemy import select

from billingos_kit.db import Connection
from billingos_kit.repository import OnConnection
from billingos_kit.snapshot import StateSource, rows_as_states
from billingos_kit.sql import Query
from billingos_subscriptions import events
from billingos_subscriptions.checkout import CheckoutSettings
from billingos_subscriptions.messages import (
    checkout_link_message,
    checkout_session_message,
    order_message,
    seat_message,
    subscription_message,
)
from billingos_subscriptions.models import (
    CheckoutLink,
    CheckoutSession,
    Order,
    Subscription,
    SubscriptionSeat,
    checkout_links,
    checkout_sessions,
    orders,
    subscription_seats,
    subscriptions,
)
from billingos_subscriptions.repository import (
    AttemptRepository,
    ItemRepository,
    OrderLineRepository,
)

_SUBSCRIPTIONS = Query.of(select(subscriptions).order_by(subscriptions.c.id))
_SEATS = Query.of(select(subscription_seats).order_by(subscription_seats.c.id))
_ORDERS = Query.of(select(orders).where(orders.c.status != "draft").order_by(orders.c.id))


async def _subscription_states(connection: Connection) -> AsyncIterator[tuple[Message, uuid.UUID]]:
    async for record in _SUBSCRIPTIONS.cursor(connection):
        row = Subscription(**record)
        items = await ItemRepository(
            OnConnection(connection, row.organization_id)
        ).of_subscriptions([row.id])
        yield events.updated(subscription_message(row, items)), row.organization_id


async def _order_states(connection: Connection) -> AsyncIterator[tuple[Message, uuid.UUID]]:
    async for record in _ORDERS.cursor(connection):
        row = Order(**record)
        scope = OnConnection(connection, row.organization_id)
        lines = await OrderLineRepository(scope).of_orders([row.id])
        attempts = await AttemptRepository(scope).of_orders([row.id])
        yield events.order_updated(order_message(row, lines, attempts)), row.organization_id


async def _seat_states(connection: Connection) -> AsyncIterator[tuple[Message, uuid.UUID]]:
    async for record in _SEATS.cursor(connection):
        row = SubscriptionSeat(**record)
        message = seat_message(row)
        state = (
            events.seat_assigned(message)
            if row.revoked_at is None
            else events.seat_revoked(message)
        )
        yield state, row.organization_id


def _session_state(row: CheckoutSession) -> Message:
    message = checkout_session_message(row)
    if row.status == "expired":
        return events.checkout_expired(message)
    return events.checkout_created(message)


def state_sources(checkout: CheckoutSettings) -> list[StateSource]:
    def link_state(row: CheckoutLink) -> Message:
        return events.checkout_link_updated(checkout_link_message(row, checkout.link_url(row)), [])

    return [
        StateSource("subscription", _subscription_states),
        StateSource("order", _order_states),
        StateSource("subscription_seat", _seat_states),
        rows_as_states("checkout_link", checkout_links, CheckoutLink, link_state),
        rows_as_states("checkout", checkout_sessions, CheckoutSession, _session_state),
    ]
