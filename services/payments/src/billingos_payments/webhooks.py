"""Stripe's webhooks (webhooks.proto): received, then processed apart.

Receiving does the least that makes the event safe: the signature and its
timestamp are checked on the raw body (a missing, wrong or stale signature
is refused and nothing is stored), and the event is stored once by Stripe's
event id, as Stripe sent it (JSONB). The answer goes back at once.

Processing (`WebhookProcessor`, a worker of the service) takes stored events
oldest first, several at a time (`FOR UPDATE SKIP LOCKED`, so replicas share
the work), each in a savepoint of its own. Every handler reads the object's
current state from Stripe or compares versions before it applies anything,
so duplicates and out-of-order deliveries change nothing. Unknown types are
stored and marked ignored. An event whose processing fails is retried on
the next rounds and given up (marked failed, kept) after MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from billingos_kit.clock import Clock
from billingos_kit.db import Connection, Database
from billingos_kit.errors import InvalidArgument
from billingos_kit.outbox import Outbox
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_payments.connect import ConnectAccounts
from billingos_payments.directory import CustomerDirectory
from billingos_payments.models import StripeEvent
from billingos_payments.payment_methods import PaymentMethods
from billingos_payments.payments import Charges, Refunds
from billingos_payments.repository import OwnerOf, PaymentRepository, StripeEventRepository
from billingos_payments.signatures import BadSignature, verify
from billingos_payments.stripe_gateway import StripeGateway
from billingos_payments.vocabulary import WebhookOutcome

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
SOURCE = "payments"


class WebhookRefused(InvalidArgument):
    def __init__(self, why: str) -> None:
        super().__init__("Stripe-Signature", why, reason="WEBHOOK_SIGNATURE_INVALID")


@dataclass(frozen=True)
class Received:
    event_id: str
    duplicate: bool


async def receive(
    connection: Connection,
    body: bytes,
    signature: str,
    *,
    secret: str,
    clock: Clock,
    tolerance: dt.timedelta,
) -> Received:
    """Verifies and stores one Stripe event (once per event id)."""
    try:
        verify(body, signature, secret, now=clock.now(), tolerance=tolerance)
    except BadSignature as refused:
        raise WebhookRefused(str(refused)) from None
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidArgument("body", "must be a Stripe event in JSON") from None
    event_id = payload.get("id") if isinstance(payload, dict) else None
    event_type = payload.get("type") if isinstance(payload, dict) else None
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise InvalidArgument("body", "must be a Stripe event with an id and a type")
    created = payload.get("created")
    row = StripeEvent(
        id=event_id,
        type=event_type,
        payload=payload,
        stripe_created=created if isinstance(created, int) else 0,
        received_at=clock.now(),
        processed_at=None,
        outcome=None,
        attempts=0,
        last_error=None,
    )
    stored = await StripeEventRepository(OnConnection(connection)).insert_once(row)
    return Received(event_id, duplicate=not stored)


@dataclass(frozen=True)
class _OrganizationScope:
    """An organization's work inside the processor's transaction."""

    connection_now: Connection
    organization_id: uuid.UUID
    clock: Clock
    outbox: Outbox

    async def connection(self) -> Connection:
        return self.connection_now


class WebhookProcessor:
    def __init__(
        self,
        database: Database,
        tables: KitTables,
        clock: Clock,
        stripe: StripeGateway,
        directory: CustomerDirectory,
        *,
        batch_size: int,
        poll_seconds: float = 0.5,
    ) -> None:
        self._database = database
        self._tables = tables
        self._clock = clock
        self._stripe = stripe
        self._directory = directory
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                done = await self.process_batch()
            except Exception:
                log.exception("processing Stripe events failed; retrying")
                done = 0
            if done < self._batch_size:
                self.wake.clear()
                waits = [
                    asyncio.ensure_future(self.wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                await asyncio.wait(waits, timeout=self._poll_seconds, return_when="FIRST_COMPLETED")
                for waiting in waits:
                    waiting.cancel()

    async def process_batch(self) -> int:
        """Processes up to one batch of stored events; how many it finished."""
        finished = 0
        async with self._database.transaction() as connection:
            events = StripeEventRepository(OnConnection(connection))
            for event in await events.claim_unprocessed(self._batch_size):
                event.attempts += 1
                try:
                    async with connection.transaction():  # a savepoint per event
                        outcome = await self._apply(connection, event)
                    event.processed_at, event.outcome, event.last_error = (
                        self._clock.now(),
                        outcome,
                        None,
                    )
                    finished += 1
                except Exception as error:
                    log.warning(
                        "a Stripe event could not be processed",
                        extra={"stripe_event": event.id, "type": event.type},
                        exc_info=True,
                    )
                    event.last_error = f"{type(error).__name__}: {error}"[:1000]
                    if event.attempts >= MAX_ATTEMPTS:
                        event.processed_at, event.outcome = self._clock.now(), WebhookOutcome.FAILED
                        finished += 1
                await events.mark(event)
        return finished

    async def _apply(self, connection: Connection, event: StripeEvent) -> str:
        data = event.payload.get("data")
        found = data.get("object") if isinstance(data, dict) else None
        if not isinstance(found, dict):
            return WebhookOutcome.IGNORED
        kind = event.type.split(".", 1)[0]
        owner = OwnerOf(OnConnection(connection))
        stripe_id = str(found.get("id") or "")
        if kind == "payment_intent":
            organization = await owner.of_payment_intent(stripe_id)
        elif kind == "setup_intent":
            organization = await owner.of_setup_intent(stripe_id)
        elif event.type == "account.updated":
            organization = await owner.of_account(stripe_id)
        elif kind in ("refund", "charge") and found.get("object") == "refund":
            organization = await owner.of_refund(stripe_id)
        else:
            return WebhookOutcome.IGNORED
        if organization is None:
            return WebhookOutcome.IGNORED  # not one of ours (or never confirmed)
        scope = _OrganizationScope(
            connection,
            organization,
            self._clock,
            Outbox(
                _constant(connection),
                self._tables,
                self._clock,
                SOURCE,
                organization,
                transactional=True,
            ),
        )
        if kind == "payment_intent":
            payment = await PaymentRepository(scope).by_intent(stripe_id)
            if payment is None:
                return WebhookOutcome.IGNORED
            current = await self._stripe.payment_intent(stripe_id)
            await Charges(scope, self._stripe, self._directory).apply_intent(payment, current)
        elif kind == "setup_intent":
            await PaymentMethods(scope, self._stripe, self._directory).apply_setup_intent(found)
        elif event.type == "account.updated":
            await ConnectAccounts(scope, self._stripe).apply_account(found, event.stripe_created)
        else:
            await Refunds(scope, self._stripe).apply_stripe_refund(found)
        return WebhookOutcome.APPLIED


def _constant(connection: Connection) -> Any:
    async def give() -> Connection:
        return connection

    return give
