"""Charges and refunds (payments.proto). Works in the caller's scope; raises
domain errors; knows no protobuf.

A charge can never happen twice, though the Stripe stand-in ignores
idempotency keys, because of the order in which things become durable:

1. The attempt row, keyed by (order, attempt number), is committed before
   Stripe hears of it. Asking for the same attempt again (a retry, a crash
   and restart, a concurrent twin) finds that row and resumes it.
2. Under the row's lock, the PaymentIntent is created *unconfirmed* (it moves
   no money) and its id is committed before it is confirmed.
3. It is then confirmed off-session, and what Stripe answers is recorded.

An attempt interrupted anywhere is recovered by asking for it again:
- before 2 committed: no PaymentIntent id is recorded, so one is created.
  If the interrupted run had already created one, that one was never
  confirmed and can never charge (real Stripe also returns it again for the
  same idempotency key);
- after 2: the recorded PaymentIntent is retrieved and, if it was never
  confirmed, confirmed; if it was (the answer was lost), its outcome is
  recorded. A PaymentIntent succeeds at most once, so one id is one charge.
Stripe unreachable or answering 5xx leaves the attempt PENDING (retryable);
the caller gets UNAVAILABLE and asks again.

Refunds lock the payment and reserve their amount in the same committed
step as their own row, so concurrent refunds can never exceed what was paid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from typing import Any

from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from billingos_kit.idempotency import IdempotencyKeyReused
from billingos_kit.ids import new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.validation import Violations
from billingos_payments import events
from billingos_payments.customers import StripeCustomers
from billingos_payments.declines import retry_can_succeed
from billingos_payments.drafts import ChargeDraft, RefundDraft
from billingos_payments.errors import StripeDown, from_stripe
from billingos_payments.models import Payment, Refund
from billingos_payments.payment_methods import PaymentMethods
from billingos_payments.repository import (
    ConnectAccountRepository,
    PaymentFilter,
    PaymentRepository,
    PaymentSettingsRepository,
    RefundFilter,
    RefundRepository,
)
from billingos_payments.scope import Checkpoint, WorkScope
from billingos_payments.stripe_gateway import (
    CardDeclined,
    StripeGateway,
    StripeRefused,
    StripeUnavailable,
)
from billingos_payments.vocabulary import PaymentStatus, RefundStatus
from billingos_pricing.currencies import UnknownCurrency, normalize_currency
from billingos_pricing.stripe_amounts import (
    UnchargeableAmount,
    from_stripe_amount,
    stripe_amount,
    stripe_refund_amount,
)

log = logging.getLogger(__name__)

PAYMENT_METADATA_KEY = "billingos_payment_id"
REFUND_METADATA_KEY = "billingos_refund_id"
# Why a refund Stripe never received was canceled.
NEVER_REACHED_STRIPE = "never_reached_stripe"
# Why an unsent refund was failed: a refund made outside BillingOS took its room.
EXCEEDED_AT_STRIPE = "refunded_elsewhere"
MAX_ATTEMPT_NUMBER = 1000
MAX_REASON_LENGTH = 500
BASIS_POINTS = 10_000

# Stripe's PaymentIntent statuses, as ours.
_INTENT_STATUSES = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "processing": PaymentStatus.PROCESSING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "requires_capture": PaymentStatus.PROCESSING,
    "requires_confirmation": PaymentStatus.PENDING,
}


def chargeable_amount(amount_minor: int, currency: str, at: str) -> tuple[str, int]:
    """The currency (upper case) and Stripe's wire amount, or the error that
    names the field and why (AMOUNT_BELOW_MINIMUM: carry it forward)."""
    try:
        code = normalize_currency(currency)
    except UnknownCurrency:
        raise InvalidArgument(f"{at}.currency", "must be an ISO 4217 code, e.g. USD") from None
    try:
        return code, stripe_amount(amount_minor, code).amount
    except UnchargeableAmount as problem:
        raise InvalidArgument(
            f"{at}.amount_minor", problem.message, reason=problem.reason
        ) from None


# The failure code of an attempt given up before it settled (CancelOrderPayment).
CANCELED = "canceled"


class Charges:
    """The organization's charge attempts."""

    def __init__(
        self, scope: WorkScope, stripe: StripeGateway, directory: CustomerDirectory
    ) -> None:
        self._scope = scope
        self._stripe = stripe
        self._directory = directory
        self._payments = PaymentRepository(scope)

    async def charge(self, checkpoint: Checkpoint, draft: ChargeDraft) -> Payment:
        """The attempt (order, attempt number): made now, or the one made
        before, resumed where it stopped."""
        violations = Violations()
        if not 1 <= draft.attempt_number <= MAX_ATTEMPT_NUMBER:
            violations.add("attempt_number", f"must be 1 to {MAX_ATTEMPT_NUMBER}")
        violations.raise_if_any()
        currency, _wire = chargeable_amount(draft.amount_minor, draft.currency, "amount")
        existing = await self._payments.attempt(draft.order_id, draft.attempt_number)
        if existing is None:
            now = self._scope.clock.now()
            row = Payment(
                id=new_id(self._scope.clock),
                organization_id=self._scope.organization_id,
                customer_id=draft.customer_id,
                order_id=draft.order_id,
                attempt_number=draft.attempt_number,
                amount_minor=draft.amount_minor,
                currency=currency,
                payment_method_id=draft.payment_method_id,
                stripe_payment_intent_id=None,
                status=PaymentStatus.PENDING,
                failure_code=None,
                decline_code=None,
                failure_message=None,
                retryable=True,
                client_secret=None,
                application_fee_minor=None,
                destination_account=None,
                amount_refunded_minor=0,
                created_at=now,
                updated_at=now,
            )
            if not await self._payments.claim(row):
                existing = await self._payments.attempt(draft.order_id, draft.attempt_number)
        if existing is not None:
            _same_attempt(existing, draft, currency)
        # Durable before Stripe hears of it (step 1).
        await checkpoint.commit_and_continue()
        return await self._resume(checkpoint, draft.order_id, draft.attempt_number)

    async def _resume(self, checkpoint: Checkpoint, order_id: uuid.UUID, attempt: int) -> Payment:
        payment = await self._payments.attempt(order_id, attempt, for_update=True)
        assert payment is not None  # committed above
        if PaymentStatus(payment.status) is not PaymentStatus.PENDING:
            return payment
        if payment.stripe_payment_intent_id is None:
            intent = await self._create_intent(payment)
            if intent is None:
                return payment  # failed before Stripe could charge; recorded
            # Durable before it is confirmed (step 2); then locked again.
            await checkpoint.commit_and_continue()
            locked = await self._payments.attempt(order_id, attempt, for_update=True)
            assert locked is not None
            payment = locked
            if PaymentStatus(payment.status) is not PaymentStatus.PENDING:
                return payment  # a twin finished it meanwhile
        else:
            intent = await from_stripe(
                self._stripe.payment_intent(payment.stripe_payment_intent_id)
            )
        declined: CardDeclined | None = None
        if intent.get("status") == "requires_confirmation":
            try:
                intent = await self._stripe.confirm_payment_intent(
                    str(intent["id"]), idempotency_key=f"billingos-payment-{payment.id}-confirm"
                )
            except CardDeclined as decline:
                declined = decline
                intent = await from_stripe(self._stripe.payment_intent(str(intent["id"])))
            except StripeUnavailable as error:
                raise StripeDown(str(error)) from None
            except StripeRefused as refused:
                # Confirmed meanwhile (a twin, or a lost answer): how is it now?
                intent = await from_stripe(self._stripe.payment_intent(str(intent["id"])))
                if intent.get("status") == "requires_confirmation":
                    # Still unconfirmed: Stripe refuses this charge itself,
                    # and asking again would be refused again.
                    await self._fail(payment, refused.code, "", refused.message, retryable=False)
                    await self._close(payment)
                    return payment
        await self.apply_intent(payment, intent, declined)
        return payment

    async def _create_intent(self, payment: Payment) -> dict[str, Any] | None:
        """Creates the attempt's unconfirmed PaymentIntent; None when the
        attempt failed before one could be made (recorded as FAILED)."""
        try:
            customer = await StripeCustomers(self._scope, self._stripe, self._directory).require(
                payment.customer_id
            )
        except NotFound:
            await self._fail(payment, "customer_not_found", "", "the customer does not exist")
            return None
        method = await PaymentMethods(self._scope, self._stripe, self._directory).chargeable(
            payment.customer_id, payment.payment_method_id
        )
        if method is None:
            what = (
                "the payment method named is not one of the customer's attached cards"
                if payment.payment_method_id is not None
                else "the customer has no default payment method"
            )
            await self._fail(payment, "no_payment_method", "", what)
            return None
        wire = stripe_amount(payment.amount_minor, payment.currency)
        destination, fee_wire = await self._destination(wire.amount)
        assert customer.stripe_customer_id is not None
        try:
            intent = await self._stripe.create_payment_intent(
                amount=wire.amount,
                currency=wire.currency,
                customer=customer.stripe_customer_id,
                payment_method=method.stripe_payment_method_id,
                metadata={
                    PAYMENT_METADATA_KEY: str(payment.id),
                    "billingos_order_id": str(payment.order_id),
                    "billingos_attempt": str(payment.attempt_number),
                },
                idempotency_key=f"billingos-payment-{payment.id}-create",
                destination=destination,
                application_fee=fee_wire,
            )
        except StripeUnavailable as error:
            raise StripeDown(str(error)) from None
        except StripeRefused as refused:
            await self._fail(payment, refused.code, "", refused.message, retryable=False)
            return None
        payment.stripe_payment_intent_id = str(intent["id"])
        payment.payment_method_id = method.id
        payment.destination_account = destination
        payment.application_fee_minor = (
            from_stripe_amount(fee_wire, payment.currency) if fee_wire is not None else None
        )
        payment.updated_at = self._scope.clock.now()
        await self._payments.update(
            payment,
            [
                "stripe_payment_intent_id",
                "payment_method_id",
                "destination_account",
                "application_fee_minor",
                "updated_at",
            ],
        )
        return intent

    async def _destination(self, wire_amount: int) -> tuple[str | None, int | None]:
        """The organization's connected account and the platform's fee (in
        Stripe's units, rounded down), when the account can take charges."""
        account = await ConnectAccountRepository(self._scope).of_organization()
        if account is None or not account.charges_enabled:
            return None, None
        settings = await PaymentSettingsRepository(self._scope).current()
        basis_points = settings.application_fee_basis_points if settings else 0
        return account.stripe_account_id, wire_amount * basis_points // BASIS_POINTS

    async def apply_intent(
        self, payment: Payment, intent: dict[str, Any], declined: CardDeclined | None = None
    ) -> None:
        """Records where Stripe's PaymentIntent stands (from a call or a
        webhook, in any order): each status is announced once, when it is
        reached. A failed attempt's PaymentIntent is canceled at Stripe, so
        nothing can confirm it later; should it succeed all the same (its
        cancel failed and a customer confirmed it), that is recorded and
        announced, never dropped: money moved. Nothing else changes a final
        status."""
        stripe_status = str(intent.get("status") or "")
        current = PaymentStatus(payment.status)
        if current is PaymentStatus.SUCCEEDED or (
            current is PaymentStatus.FAILED and stripe_status != "succeeded"
        ):
            return
        if current is PaymentStatus.FAILED:
            log.error(
                "a payment recorded as failed succeeded at Stripe; recorded as succeeded",
                extra={"payment": str(payment.id), "payment_intent": intent.get("id")},
            )
            payment.failure_code = payment.decline_code = payment.failure_message = None
            payment.retryable = False
        status = _INTENT_STATUSES.get(stripe_status)
        error = intent.get("last_payment_error") or {}
        # The status read back wins over the exception: a decline reported
        # for a PaymentIntent that reads back succeeded is no failure.
        if stripe_status in ("requires_payment_method", "canceled") or (
            declined is not None and stripe_status != "succeeded"
        ):
            status = PaymentStatus.FAILED
        if status is None or status.value == payment.status:
            return
        if status is PaymentStatus.FAILED:
            code = str(error.get("code") or (declined.code if declined else "") or stripe_status)
            decline = str(error.get("decline_code") or (declined.decline_code if declined else ""))
            message = str(
                error.get("message")
                or (declined.message if declined else "")
                or f"the PaymentIntent is {stripe_status}"
            )
            payment.failure_code, payment.decline_code = code, decline or None
            payment.failure_message = message
            payment.retryable = retry_can_succeed(code, decline)
        if status is PaymentStatus.REQUIRES_ACTION:
            payment.client_secret = str(intent.get("client_secret") or "") or None
        if status is PaymentStatus.SUCCEEDED:
            payment.retryable = False  # nothing to retry
        payment.status = status
        payment.updated_at = self._scope.clock.now()
        await self._payments.update(
            payment,
            [
                "status",
                "failure_code",
                "decline_code",
                "failure_message",
                "retryable",
                "client_secret",
                "updated_at",
            ],
        )
        announced = events.payment_outcome(payment)
        if announced is not None:
            await self._scope.outbox.add(announced)
        if status is PaymentStatus.FAILED and stripe_status != "canceled":
            await self._close(payment)

    async def cancel(self, order_id: uuid.UUID, attempt_number: int) -> Payment:
        """Gives up an attempt that still waits (for the customer's 3-D
        Secure, or to reach Stripe): canceled at Stripe, recorded FAILED and
        announced; a settled one as it is; one Stripe reports succeeded is
        recorded so (money moved)."""
        payment = await self._payments.attempt(order_id, attempt_number, for_update=True)
        if payment is None:
            raise NotFound("payment", f"{order_id}/{attempt_number}")
        if PaymentStatus(payment.status) in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
            return payment
        if payment.stripe_payment_intent_id is None:
            # Never reached Stripe: a charge resumed later finds it failed.
            await self._fail(
                payment,
                CANCELED,
                "",
                "the attempt was canceled before it was charged",
                retryable=False,
            )
            return payment
        try:
            intent = await self._stripe.cancel_payment_intent(payment.stripe_payment_intent_id)
        except StripeUnavailable as error:
            raise StripeDown(str(error)) from None
        except StripeRefused:
            # Not cancelable any more (succeeded, processing): as it is now.
            intent = await from_stripe(
                self._stripe.payment_intent(payment.stripe_payment_intent_id)
            )
        await self.apply_intent(payment, intent)
        return payment

    async def _close(self, payment: Payment) -> None:
        """Cancels a failed attempt's PaymentIntent at Stripe, so no one can
        confirm it afterwards (a retry is a new attempt with its own). Best
        effort: if Stripe cannot be asked now, a late success is still
        recorded (apply_intent)."""
        if payment.stripe_payment_intent_id is None:
            return
        try:
            await self._stripe.cancel_payment_intent(payment.stripe_payment_intent_id)
        except (StripeUnavailable, StripeRefused) as error:
            log.warning(
                "the failed attempt's PaymentIntent could not be canceled",
                extra={"payment": str(payment.id), "error": repr(error)},
            )

    async def _fail(
        self, payment: Payment, code: str, decline: str, message: str, *, retryable: bool = True
    ) -> None:
        payment.status = PaymentStatus.FAILED
        payment.failure_code, payment.decline_code = code, decline or None
        payment.failure_message = message
        payment.retryable = retryable and retry_can_succeed(code, decline)
        payment.updated_at = self._scope.clock.now()
        await self._payments.update(
            payment,
            [
                "status",
                "failure_code",
                "decline_code",
                "failure_message",
                "retryable",
                "updated_at",
            ],
        )
        announced = events.payment_outcome(payment)
        assert announced is not None
        await self._scope.outbox.add(announced)

    async def get(self, payment_id: uuid.UUID) -> Payment:
        return await self._payments.require(payment_id)

    async def list_page(self, where: PaymentFilter, page: PageRequest) -> Page[Payment]:
        return await self._payments.page(where, page)


def _same_attempt(existing: Payment, draft: ChargeDraft, currency: str) -> None:
    """An attempt asked for again must be the same charge."""
    if (
        existing.customer_id != draft.customer_id
        or existing.amount_minor != draft.amount_minor
        or existing.currency != currency
    ):
        raise FailedPrecondition(
            f"attempt {draft.attempt_number} of this order was made for another customer or "
            "amount; a new charge needs a new attempt number",
            reason="PAYMENT_ATTEMPT_MISMATCH",
        )


class Refunds:
    """Refunds of the organization's payments, and what Stripe knows of them.

    Every path that changes a payment's refunds locks the payment first and
    its refunds after, so they serialize per payment and never deadlock.
    `amount_refunded_minor` is the sum of the payment's refunds that have
    not failed or been canceled; `_settle` keeps it so on every change."""

    def __init__(self, scope: WorkScope, stripe: StripeGateway) -> None:
        self._scope = scope
        self._stripe = stripe
        self._payments = PaymentRepository(scope)
        self._refunds = RefundRepository(scope)

    async def create(self, checkpoint: Checkpoint, draft: RefundDraft) -> Refund:
        """Refunds `draft.amount_minor` (everything left when None) of a
        succeeded payment; announces `refund.created` once Stripe has it.

        The refund is committed, with its amount reserved, before Stripe is
        asked. Asked again with the same Idempotency-Key after an
        interruption, it is finished (found at Stripe, or sent), never made
        twice, and answers as the first run would have; one never sent is
        settled by the sweep (refund_sweep.py)."""
        if len(draft.reason) > MAX_REASON_LENGTH:
            raise InvalidArgument(
                "refund.reason", f"must be at most {MAX_REASON_LENGTH} characters"
            )
        key = checkpoint.idempotency_key
        digest = _request_digest(draft)
        if key is not None:
            earlier = await self._refunds.by_idempotency_key(key)
            if earlier is not None:
                if earlier.request_digest != digest:
                    raise IdempotencyKeyReused()
                return _answer(await self._finish_earlier(earlier))
        payment = await self._payments.require(draft.payment_id, for_update=True)
        if PaymentStatus(payment.status) is not PaymentStatus.SUCCEEDED:
            raise FailedPrecondition(
                "only a succeeded payment can be refunded", reason="PAYMENT_NOT_SUCCEEDED"
            )
        left = payment.amount_minor - payment.amount_refunded_minor
        amount = left if draft.amount_minor is None else draft.amount_minor
        if draft.amount_minor is not None:
            _check_refund_currency(draft.currency, payment.currency)
            if amount <= 0:
                raise InvalidArgument("refund.amount.amount_minor", "must be greater than 0")
        if amount > left or amount <= 0:
            raise FailedPrecondition(
                "nothing is left to refund of this payment"
                if left == 0
                else f"{amount} is more than the {left} left to refund of this payment",
                reason="REFUND_EXCEEDS_REFUNDABLE",
                metadata={"refundable_minor": str(left)},
            )
        _refund_wire(amount, payment.currency)  # refundable at Stripe at all?
        now = self._scope.clock.now()
        refund = Refund(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            payment_id=payment.id,
            amount_minor=amount,
            currency=payment.currency,
            reason=draft.reason,
            stripe_refund_id=None,
            status=RefundStatus.PENDING,
            failure_reason=None,
            idempotency_key=key,
            request_digest=digest if key is not None else None,
            created_at=now,
            updated_at=now,
        )
        await self._refunds.insert(refund)
        payment.amount_refunded_minor += amount  # reserved: no twin can pass it
        payment.updated_at = now
        await self._payments.update(payment, ["amount_refunded_minor", "updated_at"])
        # Durable before Stripe hears of it; a twin with the key waits meanwhile.
        await checkpoint.commit_and_continue()
        payment = await self._payments.require(payment.id, for_update=True)
        sent = await self._send(payment, refund, has_key=key is not None)
        if RefundStatus(sent.status).final_failure:
            # Kept though the call fails: the reservation goes back for good.
            await checkpoint.commit_and_continue()
        return _answer(sent)

    async def _finish_earlier(self, earlier: Refund) -> Refund:
        """An earlier run of this call: settled, or finished now. It may have
        reached Stripe with the answer lost, so Stripe is looked at first."""
        if earlier.stripe_refund_id is not None or RefundStatus(earlier.status).final:
            return earlier
        payment = await self._payments.require(earlier.payment_id, for_update=True)
        await self.reconcile(payment)
        refund = await self._refunds.require(earlier.id, for_update=True)
        if refund.stripe_refund_id is not None or RefundStatus(refund.status).final:
            return refund
        return await self._send(payment, refund, has_key=True)

    async def _send(self, payment: Payment, refund: Refund, *, has_key: bool) -> Refund:
        """Asks Stripe for the refund (the payment locked) and records the
        answer: the Stripe id and status, or the refusal (its amount given
        back). Stripe unreachable leaves it pending: StripeDown."""
        assert payment.stripe_payment_intent_id is not None  # it succeeded
        try:
            made = await self._stripe.create_refund(
                payment.stripe_payment_intent_id,
                _refund_wire(refund.amount_minor, refund.currency),
                {REFUND_METADATA_KEY: str(refund.id)},
                idempotency_key=f"billingos-refund-{refund.id}",
            )
        except StripeUnavailable as error:
            then = (
                "ask again with the same Idempotency-Key to finish it; if you do not, it is"
                if has_key
                else "without an Idempotency-Key a retry is a new refund, so this one is"
            )
            raise StripeDown(
                f"{error}; refund {refund.id} is kept pending: {then} canceled, its amount "
                "refundable again, once found never to have reached Stripe"
            ) from None
        except StripeRefused as refused:
            await self._settle(payment, refund, RefundStatus.FAILED, refused.message)
            return refund
        status = _refund_status(made.get("status"))
        await self._settle(
            payment, refund, status, _failure_of(made), stripe_refund_id=str(made["id"])
        )
        return refund

    async def reconcile(
        self, payment: Payment, *, unsent_before: dt.datetime | None = None
    ) -> None:
        """Brings the payment's refunds in line with Stripe's (the payment
        locked), in this order:

        1. each of ours Stripe has takes Stripe's status; one whose answer was
           lost is found by our id in its metadata (Stripe's record wins,
           even over our own cancel of it);
        2. with `unsent_before`, ours older than that which Stripe never
           received are canceled, their amount refundable again;
        3. refunds made elsewhere (Stripe's dashboard) are recorded. Should
           one not fit beside our unsent refunds, those are failed: Stripe
           would refuse them now (it has refunded that money already)."""
        if payment.stripe_payment_intent_id is None:
            return
        at_stripe = await from_stripe(self._stripe.refunds_of(payment.stripe_payment_intent_id))
        ours = await self._refunds.of_payment(payment.id)
        by_stripe_id = {r.stripe_refund_id: r for r in ours if r.stripe_refund_id}
        by_our_id = {str(r.id): r for r in ours}
        outside: list[dict[str, Any]] = []
        for found in sorted(at_stripe, key=lambda r: int(r.get("created") or 0)):
            stripe_id = str(found.get("id") or "")
            status = _refund_status(found.get("status"))
            mine = by_stripe_id.get(stripe_id)
            if mine is not None:
                # Failed and canceled are Stripe's last word; succeeded is not
                # (a refund to a closed card fails days later).
                if status.value != mine.status and not RefundStatus(mine.status).final_failure:
                    await self._settle(payment, mine, status, _failure_of(found))
                continue
            metadata = found.get("metadata") or {}
            claimed = by_our_id.get(str(metadata.get(REFUND_METADATA_KEY) or ""))
            if claimed is not None and claimed.stripe_refund_id is None:
                await self._take_stripe_amount(payment, claimed, found)
                by_stripe_id[stripe_id] = claimed
                await self._settle(
                    payment, claimed, status, _failure_of(found), stripe_refund_id=stripe_id
                )
                continue
            if claimed is not None:
                log.error(
                    "a second Stripe refund carries one of our refund ids; recorded apart",
                    extra={"refund": str(claimed.id), "stripe_refund": stripe_id},
                )
            outside.append(found)
        unsent = [
            r
            for r in ours
            if r.stripe_refund_id is None and RefundStatus(r.status) is RefundStatus.PENDING
        ]
        if unsent_before is not None:
            for refund in [r for r in unsent if r.created_at < unsent_before]:
                await self._settle(payment, refund, RefundStatus.CANCELED, NEVER_REACHED_STRIPE)
                unsent.remove(refund)
        for found in outside:
            await self._learn(payment, found, unsent)

    async def _learn(self, payment: Payment, found: dict[str, Any], unsent: list[Refund]) -> None:
        """A refund made outside BillingOS: recorded, so what is refundable
        stays true, and announced. Our unsent refunds, newest first, give way
        to it if both cannot fit."""
        status = _refund_status(found.get("status"))
        amount = from_stripe_amount(int(found.get("amount") or 0), payment.currency)
        counted = not status.final_failure
        if counted:
            while unsent and payment.amount_refunded_minor + amount > payment.amount_minor:
                await self._settle(payment, unsent.pop(), RefundStatus.FAILED, EXCEEDED_AT_STRIPE)
            if payment.amount_refunded_minor + amount > payment.amount_minor:
                raise RefundsOutOfStep(payment.id)
        now = self._scope.clock.now()
        refund = Refund(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            payment_id=payment.id,
            amount_minor=amount,
            currency=payment.currency,
            reason=str(found.get("reason") or "") or "refunded outside BillingOS",
            stripe_refund_id=str(found["id"]),
            status=status,
            failure_reason=_failure_of(found) if status.final_failure else None,
            idempotency_key=None,
            request_digest=None,
            created_at=now,
            updated_at=now,
        )
        await self._refunds.insert(refund)
        if counted:
            payment.amount_refunded_minor += amount
            payment.updated_at = now
            await self._payments.update(payment, ["amount_refunded_minor", "updated_at"])
        await self._scope.outbox.add(events.refund_created(refund))

    async def _take_stripe_amount(
        self, payment: Payment, claimed: Refund, found: dict[str, Any]
    ) -> None:
        """Stripe's refund with our id is for its own amount: that is what
        went back, and what the payment counts (it should never differ)."""
        amount = from_stripe_amount(int(found.get("amount") or 0), payment.currency)
        if amount == claimed.amount_minor:
            return
        log.error(
            "Stripe's refund with our id is for another amount; Stripe's is recorded",
            extra={"refund": str(claimed.id), "ours": claimed.amount_minor, "stripe": amount},
        )
        if not RefundStatus(claimed.status).final_failure:
            payment.amount_refunded_minor += amount - claimed.amount_minor
            if payment.amount_refunded_minor > payment.amount_minor:
                raise RefundsOutOfStep(payment.id)
            await self._payments.update(payment, ["amount_refunded_minor", "updated_at"])
        claimed.amount_minor = amount

    async def _settle(
        self,
        payment: Payment,
        refund: Refund,
        status: RefundStatus,
        failure_reason: str | None,
        *,
        stripe_refund_id: str | None = None,
    ) -> None:
        """Records a refund's new status (and Stripe id, once known) with the
        payment locked, moving its amount into or out of what the payment
        has refunded as the status starts or stops counting. Announces
        `refund.created` the first time the refund is announced at all (it
        was pending and unknown to Stripe until now), `refund.updated` after."""
        first = refund.stripe_refund_id is None and refund.status == RefundStatus.PENDING.value
        was_counted = not RefundStatus(refund.status).final_failure
        counted = not status.final_failure
        if stripe_refund_id is not None:
            refund.stripe_refund_id = stripe_refund_id
        refund.status = status
        refund.failure_reason = failure_reason if status.final_failure else None
        refund.updated_at = self._scope.clock.now()
        if counted != was_counted:
            payment.amount_refunded_minor += (
                refund.amount_minor if counted else -refund.amount_minor
            )
            if payment.amount_refunded_minor > payment.amount_minor:
                raise RefundsOutOfStep(payment.id)
            payment.updated_at = refund.updated_at
            await self._payments.update(payment, ["amount_refunded_minor", "updated_at"])
        await self._refunds.update(
            refund, ["stripe_refund_id", "amount_minor", "status", "failure_reason", "updated_at"]
        )
        announce = events.refund_created if first else events.refund_updated
        await self._scope.outbox.add(announce(refund))

    async def get(self, refund_id: uuid.UUID) -> Refund:
        return await self._refunds.require(refund_id)

    async def list_page(self, where: RefundFilter, page: PageRequest) -> Page[Refund]:
        if where.payment_id is not None:
            await self._payments.require(where.payment_id)  # another's: NOT_FOUND
        return await self._refunds.page(where, page)


class RefundsOutOfStep(Aborted):
    """Stripe shows more refunded than this payment can hold: retried once
    Stripe's records and ours settle (a refund of ours in flight)."""

    def __init__(self, payment_id: uuid.UUID) -> None:
        super().__init__(
            f"payment {payment_id}: Stripe's refunds and ours exceed what was paid; "
            "try again shortly",
            reason="REFUNDS_OUT_OF_STEP",
        )


def _answer(refund: Refund) -> Refund:
    """What CreateRefund answers for the refund it made or finished: the
    refund, or why no money went back (the same on every retry)."""
    status = RefundStatus(refund.status)
    if status is RefundStatus.FAILED:
        raise FailedPrecondition(
            f"the refund failed: {refund.failure_reason or 'Stripe refused it'}",
            reason="REFUND_FAILED",
            metadata={"refund_id": str(refund.id)},
        )
    if status is RefundStatus.CANCELED:
        raise FailedPrecondition(
            f"the refund was canceled ({refund.failure_reason or 'at Stripe'}); its amount "
            "is refundable again: ask with a new Idempotency-Key",
            reason="REFUND_CANCELED",
            metadata={"refund_id": str(refund.id)},
        )
    return refund


def _request_digest(draft: RefundDraft) -> str:
    """The request a refund's Idempotency-Key was first used with: a retry
    with the key must ask for the same (the kit's stored-response check
    never ran for a call that failed midway)."""
    given = "" if draft.amount_minor is None else f"{draft.amount_minor} {draft.currency}"
    text = "\x00".join((str(draft.payment_id), given, draft.reason))
    return hashlib.sha256(text.encode()).hexdigest()


def _check_refund_currency(given: str, payment_currency: str) -> None:
    if not given:
        raise InvalidArgument(
            "refund.amount.currency",
            f"is required with an amount: the payment's, {payment_currency}",
        )
    try:
        code = normalize_currency(given)
    except UnknownCurrency:
        raise InvalidArgument(
            "refund.amount.currency", "must be an ISO 4217 code, e.g. USD"
        ) from None
    if code != payment_currency:
        raise InvalidArgument(
            "refund.amount.currency", f"must be the payment's currency, {payment_currency}"
        )


def _failure_of(stripe_refund: dict[str, Any]) -> str | None:
    reason = stripe_refund.get("failure_reason")
    return str(reason) if reason else None


def _refund_wire(amount_minor: int, currency: str) -> int:
    """Stripe's wire amount for a refund (no charge minimum applies)."""
    try:
        return stripe_refund_amount(amount_minor, currency).amount
    except UnchargeableAmount as problem:
        raise InvalidArgument(
            "refund.amount.amount_minor", problem.message, reason=problem.reason
        ) from None


def _refund_status(value: object) -> RefundStatus:
    """Stripe's refund status as ours (`requires_action` and `pending` wait)."""
    return {
        "succeeded": RefundStatus.SUCCEEDED,
        "failed": RefundStatus.FAILED,
        "canceled": RefundStatus.CANCELED,
    }.get(str(value or ""), RefundStatus.PENDING)
