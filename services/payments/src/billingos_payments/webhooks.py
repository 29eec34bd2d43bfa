"""Stripe's webhooks (webhooks.proto): received, then processed apart.

Receiving does the least that makes the event safe: the signature and its
timestamp are checked on the raw body (a missing, wrong or stale signature
is refused and nothing is stored), and the event is stored once by Stripe's
event id, as Stripe sent it (JSONB). The answer goes back at once.

Processing (`WebhookProcessor`, a worker of the service) takes stored events
oldest first, one transaction each (`FOR UPDATE SKIP LOCKED`, so replicas
share the work). Every handler reads the object's current state from Stripe
before it applies anything, so duplicates and out-of-order deliveries change
nothing. Unknown types are stored and marked ignored. An event whose
processing fails waits a doubling delay (`retry_delay`) before its next
attempt and is given up (marked failed, kept) after MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from billingos_kit.clock import Clock
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.db import Connection, Database
from billingos_kit.errors import InvalidArgument, Unavailable
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.workscope import OrganizationWork
from billingos_payments.connect import ConnectAccounts
from billingos_payments.models import StripeEvent
from billingos_payments.payment_methods import PaymentMethods
from billingos_payments.payments import Charges, Refunds, RefundsOutOfStep
from billingos_payments.repository import OwnerOf, PaymentRepository, StripeEventRepository
from billingos_payments.signatures import BadSignature, verify
from billingos_payments.stripe_gateway import StripeGateway
from billingos_payments.vocabulary import WebhookOutcome

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
MAX_EVENT_ID_LENGTH = 255
RETRY_BASE = dt.timedelta(seconds=5)
RETRY_CAP = dt.timedelta(hours=1)
SOURCE = "payments"
# Events that can change a PaymentIntent's refunds (refunds made with us or
# in Stripe's dashboard); other charge.* events change nothing we keep.
REFUND_EVENTS = frozenset(
    {
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.refunded",
        "charge.refund.updated",
    }
)


class WebhookRefused(InvalidArgument):
    def __init__(self, why: str) -> None:
        super().__init__("Stripe-Signature", why, reason="WEBHOOK_SIGNATURE_INVALID")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _event_payload(body: bytes) -> dict[str, Any]:
    """The event as Postgres can store it (JSONB): strict JSON (no NaN or
    Infinity), no NUL and no lone surrogate anywhere, not absurdly deep.
    Anything else is refused with a 400, never a 500 Stripe would retry."""
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
        # Re-encoded as Postgres will: lone surrogates fail here.
        stored = json.dumps(payload, ensure_ascii=False).encode()
    except (UnicodeError, ValueError, RecursionError):
        raise InvalidArgument("body", "must be a Stripe event in JSON") from None
    if not isinstance(payload, dict):
        raise InvalidArgument("body", "must be a Stripe event in JSON")
    if b"\\u0000" in stored:
        raise InvalidArgument("body", "must not contain NUL characters")
    return payload


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
    if not secret:
        # Ours to fix, not the sender's: a 5xx, so Stripe keeps the event and
        # retries it once the secret is configured.
        raise Unavailable(
            "no webhook signing secret is configured (STRIPE_WEBHOOK_SECRET)",
            reason="WEBHOOK_SECRET_UNSET",
        )
    try:
        verify(body, signature, secret, now=clock.now(), tolerance=tolerance)
    except BadSignature as refused:
        raise WebhookRefused(str(refused)) from None
    payload = _event_payload(body)
    event_id = payload.get("id")
    event_type = payload.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise InvalidArgument("body", "must be a Stripe event with an id and a type")
    if len(event_id) > MAX_EVENT_ID_LENGTH or len(event_type) > MAX_EVENT_ID_LENGTH:
        raise InvalidArgument("body", "has an event id or type longer than Stripe's")
    created = payload.get("created")
    row = StripeEvent(
        id=event_id,
        type=event_type,
        payload=payload,
        stripe_created=created if isinstance(created, int) and 0 <= created < 2**62 else 0,
        received_at=clock.now(),
        processed_at=None,
        outcome=None,
        attempts=0,
        last_error=None,
    )
    stored = await StripeEventRepository(OnConnection(connection)).insert_once(row)
    return Received(event_id, duplicate=not stored)


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
        """Processes up to `batch_size` due events, each in its own
        transaction (a slow Stripe answer holds one event, not a batch);
        how many it took."""
        for taken in range(self._batch_size):
            if not await self._process_next():
                return taken
        return self._batch_size

    async def _process_next(self) -> bool:
        async with self._database.transaction() as connection:
            events = StripeEventRepository(OnConnection(connection))
            event = await events.claim_next(self._clock.now())
            if event is None:
                return False
            event.attempts += 1
            try:
                async with connection.transaction():  # its effects, undone on failure
                    outcome = await self._apply(connection, event)
                event.processed_at, event.outcome = self._clock.now(), outcome
                event.last_error = event.next_attempt_at = None
            except Exception as error:
                log.warning(
                    "a Stripe event could not be processed",
                    extra={"stripe_event": event.id, "type": event.type},
                    exc_info=not isinstance(error, RefundsOutOfStep),
                )
                event.last_error = f"{type(error).__name__}: {error}"[:1000]
                if event.attempts >= MAX_ATTEMPTS:
                    event.processed_at, event.outcome = self._clock.now(), WebhookOutcome.FAILED
                    event.next_attempt_at = None
                else:
                    event.next_attempt_at = self._clock.now() + retry_delay(event.attempts)
            await events.mark(event)
            return True

    async def _apply(self, connection: Connection, event: StripeEvent) -> str:
        data = event.payload.get("data")
        found = data.get("object") if isinstance(data, dict) else None
        if not isinstance(found, dict):
            return WebhookOutcome.IGNORED
        kind = event.type.split(".", 1)[0]
        owner = OwnerOf(OnConnection(connection))
        stripe_id = str(found.get("id") or "")
        object_type = found.get("object")
        # Refunds and refunded charges are read by their PaymentIntent: a
        # refund whose answer we lost, or one made in Stripe's dashboard,
        # has no Stripe id of ours yet.
        refunded_intent = (
            str(found.get("payment_intent") or "")
            if object_type in ("refund", "charge") and event.type in REFUND_EVENTS
            else ""
        )
        if kind == "payment_intent":
            organization = await owner.of_payment_intent(stripe_id)
        elif kind == "setup_intent":
            organization = await owner.of_setup_intent(stripe_id)
        elif event.type == "account.updated":
            organization = await owner.of_account(stripe_id)
        elif refunded_intent:
            organization = await owner.of_payment_intent(refunded_intent)
        else:
            return WebhookOutcome.IGNORED
        if organization is None:
            return WebhookOutcome.IGNORED  # not one of ours (or never confirmed)
        scope = OrganizationWork(connection, organization, self._clock, self._tables, SOURCE)
        # Each handler reads the object as Stripe has it now, not the event's
        # copy: duplicates and out-of-order deliveries then change nothing.
        if kind == "payment_intent":
            payment = await PaymentRepository(scope).by_intent(stripe_id)
            if payment is None:
                return WebhookOutcome.IGNORED
            current = await self._stripe.payment_intent(stripe_id)
            await Charges(scope, self._stripe, self._directory).apply_intent(payment, current)
        elif kind == "setup_intent":
            await PaymentMethods(scope, self._stripe, self._directory).apply_setup_intent(found)
        elif event.type == "account.updated":
            await ConnectAccounts(scope, self._stripe).apply_account(stripe_id)
        else:
            payment = await PaymentRepository(scope).by_intent(refunded_intent)
            if payment is None:
                return WebhookOutcome.IGNORED
            await Refunds(scope, self._stripe).reconcile(payment)
        return WebhookOutcome.APPLIED


def retry_delay(attempts: int) -> dt.timedelta:
    """How long a failed event waits before its next attempt: doubling from
    RETRY_BASE, at most RETRY_CAP (MAX_ATTEMPTS spans a few hours)."""
    delay: dt.timedelta = RETRY_BASE * 2 ** (attempts - 1)
    return min(delay, RETRY_CAP)
