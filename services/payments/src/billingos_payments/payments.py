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

import uuid
from typing import Any

from billingos_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.validation import Violations
from billingos_payments import events
from billingos_payments.customers import StripeCustomers
from billingos_payments.declines import retry_can_succeed
from billingos_payments.directory import CustomerDirectory
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
from billingos_payments.scope import WorkScope
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

PAYMENT_METADATA_KEY = "billingos_payment_id"
REFUND_METADATA_KEY = "billingos_refund_id"
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


class Charges:
    """The organization's charge attempts."""

    def __init__(
        self, scope: WorkScope, stripe: StripeGateway, directory: CustomerDirectory
    ) -> None:
        self._scope = scope
        self._stripe = stripe
        self._directory = directory
        self._payments = PaymentRepository(scope)

    async def charge(self, call: CallScope, draft: ChargeDraft) -> Payment:
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
        await call.unit_of_work.commit_and_continue()
        return await self._resume(call, draft.order_id, draft.attempt_number)

    async def _resume(self, call: CallScope, order_id: uuid.UUID, attempt: int) -> Payment:
        payment = await self._payments.attempt(order_id, attempt, for_update=True)
        assert payment is not None  # committed above
        if PaymentStatus(payment.status) is not PaymentStatus.PENDING:
            return payment
        if payment.stripe_payment_intent_id is None:
            intent = await self._create_intent(payment)
            if intent is None:
                return payment  # failed before Stripe could charge; recorded
            # Durable before it is confirmed (step 2); then locked again.
            await call.unit_of_work.commit_and_continue()
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
            except StripeRefused:
                # Confirmed meanwhile (a twin, or a lost answer): how is it now?
                intent = await from_stripe(self._stripe.payment_intent(str(intent["id"])))
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
        webhook, in any order): a final status never changes again, and each
        status is announced once, when it is reached."""
        if PaymentStatus(payment.status).final:
            return
        stripe_status = str(intent.get("status") or "")
        status = _INTENT_STATUSES.get(stripe_status)
        error = intent.get("last_payment_error") or {}
        if stripe_status in ("requires_payment_method", "canceled") or declined is not None:
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
    """Refunds of the organization's payments."""

    def __init__(self, scope: WorkScope, stripe: StripeGateway) -> None:
        self._scope = scope
        self._stripe = stripe
        self._payments = PaymentRepository(scope)
        self._refunds = RefundRepository(scope)

    async def create(self, call: CallScope, draft: RefundDraft) -> Refund:
        """Refunds `draft.amount_minor` (everything left when None) of a
        succeeded payment; announces `refund.created`."""
        if len(draft.reason) > MAX_REASON_LENGTH:
            raise InvalidArgument(
                "refund.reason", f"must be at most {MAX_REASON_LENGTH} characters"
            )
        payment = await self._payments.require(draft.payment_id, for_update=True)
        if PaymentStatus(payment.status) is not PaymentStatus.SUCCEEDED:
            raise FailedPrecondition(
                "only a succeeded payment can be refunded", reason="PAYMENT_NOT_SUCCEEDED"
            )
        left = payment.amount_minor - payment.amount_refunded_minor
        amount = left if draft.amount_minor is None else draft.amount_minor
        if draft.amount_minor is not None:
            if draft.currency and draft.currency.upper() != payment.currency:
                raise InvalidArgument(
                    "refund.amount.currency", f"must be the payment's currency, {payment.currency}"
                )
            if amount <= 0:
                raise InvalidArgument("refund.amount.amount_minor", "must be greater than 0")
        if amount > left or amount <= 0:
            raise FailedPrecondition(
                f"{amount} is more than the {left} left to refund of this payment",
                reason="REFUND_EXCEEDS_REFUNDABLE",
                metadata={"refundable_minor": str(left)},
            )
        wire = _refund_wire(amount, payment.currency)
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
            created_at=now,
            updated_at=now,
        )
        await self._refunds.insert(refund)
        payment.amount_refunded_minor += amount  # reserved: no twin can pass it
        payment.updated_at = now
        await self._payments.update(payment, ["amount_refunded_minor", "updated_at"])
        await call.unit_of_work.commit_and_continue()
        assert payment.stripe_payment_intent_id is not None  # it succeeded
        try:
            made = await self._stripe.create_refund(
                payment.stripe_payment_intent_id,
                wire,
                {REFUND_METADATA_KEY: str(refund.id)},
                idempotency_key=f"billingos-refund-{refund.id}",
            )
        except StripeUnavailable as error:
            raise StripeDown(f"{error}; refund {refund.id} stays pending") from None
        except StripeRefused as refused:
            await self._settle(refund, payment, RefundStatus.FAILED)
            # Kept though the call fails: the reservation goes back for good.
            await call.unit_of_work.commit_and_continue()
            raise FailedPrecondition(
                f"Stripe refused the refund: {refused.message}", reason="STRIPE_REFUSED"
            ) from None
        refund.stripe_refund_id = str(made["id"])
        await self._settle(refund, payment, _refund_status(made.get("status")))
        await self._scope.outbox.add(events.refund_created(refund))
        return refund

    async def _settle(self, refund: Refund, payment: Payment, status: RefundStatus) -> None:
        """Records Stripe's answer; a failed refund gives its reservation back."""
        refund.status = status
        refund.updated_at = self._scope.clock.now()
        await self._refunds.update(refund, ["stripe_refund_id", "status", "updated_at"])
        if status in (RefundStatus.FAILED, RefundStatus.CANCELED):
            locked = await self._payments.require(payment.id, for_update=True)
            locked.amount_refunded_minor -= refund.amount_minor
            locked.updated_at = refund.updated_at
            await self._payments.update(locked, ["amount_refunded_minor", "updated_at"])

    async def apply_stripe_refund(self, stripe_refund: dict[str, Any]) -> Refund | None:
        """Stripe's refund (from a webhook): its status, once it changes."""
        refund = await self._refunds.by_stripe_id(str(stripe_refund.get("id")), for_update=True)
        if refund is None:
            return None
        status = _refund_status(stripe_refund.get("status"))
        if status.value == refund.status or RefundStatus(refund.status) in (
            RefundStatus.FAILED,
            RefundStatus.CANCELED,
        ):
            return refund
        payment = await self._payments.require(refund.payment_id)
        await self._settle(refund, payment, status)
        return refund

    async def get(self, refund_id: uuid.UUID) -> Refund:
        return await self._refunds.require(refund_id)

    async def list_page(self, where: RefundFilter, page: PageRequest) -> Page[Refund]:
        if where.payment_id is not None:
            await self._payments.require(where.payment_id)  # another's: NOT_FOUND
        return await self._refunds.page(where, page)


def _refund_wire(amount_minor: int, currency: str) -> int:
    """Stripe's wire amount for a refund (no charge minimum applies)."""
    try:
        return stripe_refund_amount(amount_minor, currency).amount
    except UnchargeableAmount as problem:
        raise InvalidArgument(
            "refund.amount.amount_minor", problem.message, reason=problem.reason
        ) from None


def _refund_status(value: object) -> RefundStatus:
    text = str(value or "")
    if text in ("succeeded",):
        return RefundStatus.SUCCEEDED
    if text in ("failed",):
        return RefundStatus.FAILED
    if text in ("canceled",):
        return RefundStatus.CANCELED
    return RefundStatus.PENDING
