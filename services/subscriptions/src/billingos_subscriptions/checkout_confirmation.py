"""A checkout session's payment and confirmation: its buyer and card, then
its subscription or one-time purchase, exactly once.

Starting the payment (the page, when the customer pays) gives the session
its buyer and a SetupIntent. The buyer is the customer the merchant named,
else a new customer made from the email, name and billing address typed,
never an existing one found by the email: an anonymous page must not put
cards or subscriptions on someone else's customer (Stripe Checkout makes a
new customer too). Every remote step carries an idempotency key of the
session's, so a rollback and a retry make no second customer or SetupIntent.

Confirming (after Stripe.js has confirmed the SetupIntent) syncs the intent
and, the first time, makes the subscription with its card, the session's
discount (only an allowed one), trial and the reference `checkout:<id>`;
the subscriptions table's unique `checkout_session_id` holds one per session
whoever confirms twice. A one-time product's price makes its purchase's
order instead (purchases.py), once per session by its billing key. After a
failed first payment the same subscription (still incomplete) gets the new
card and its first order a new attempt, or the purchase's order a new
attempt on the new card: one order, however many cards are tried.

The session is completed when nothing is due now (a trial, a zero total) or
when the first payment succeeds; a failed one opens it again with the error
(checkout_outcome.py, called by the engine as the payment is applied)."""

from __future__ import annotations

import hashlib
import uuid

from billingos.customers.v1 import customers_pb2
from billingos.payments.v1 import payment_methods_pb2, payments_pb2
from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_kit.errors import FailedPrecondition, InvalidArgument
from billingos_subscriptions import events
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.checkout import (
    SESSION,
    CheckoutSessions,
    is_confirmed,
    refuse_unless_open,
)
from billingos_subscriptions.checkout_outcome import complete
from billingos_subscriptions.clients import BuyersClient, PaymentsClient
from billingos_subscriptions.messages import address_message, trial_message
from billingos_subscriptions.models import CheckoutSession, Order, Subscription
from billingos_subscriptions.purchases import OneTime, PurchaseRequest
from billingos_subscriptions.subscriptions import Subscriptions
from billingos_subscriptions.vocabulary import (
    AttemptStatus,
    CheckoutSessionStatus,
    OrderStatus,
    SubscriptionStatus,
)

# SetupIntents that still wait for the customer's card.
_AWAITING_CARD = frozenset(
    {
        payment_methods_pb2.SETUP_INTENT_STATUS_REQUIRES_PAYMENT_METHOD,
        payment_methods_pb2.SETUP_INTENT_STATUS_REQUIRES_ACTION,
    }
)
# SetupIntents (and customers made) one session may ask for: each start
# after changed details or a decline makes more at Stripe and in the
# merchant's customer list.
MAX_PAYMENT_STARTS = 5
# Subscriptions whose checkout is done at once: nothing was due now.
_STARTED = frozenset({SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE})


def _done(row: CheckoutSession) -> bool:
    status = CheckoutSessionStatus(row.status)
    return status in (CheckoutSessionStatus.PROCESSING, CheckoutSessionStatus.COMPLETED)


class CheckoutConfirmation:
    def __init__(
        self,
        sessions: CheckoutSessions,
        subscriptions: Subscriptions,
        payments: PaymentsClient,
        buyers: BuyersClient,
    ) -> None:
        self._sessions = sessions
        self._subscriptions = subscriptions
        self._billing: Billing = subscriptions.billing
        self._scope = subscriptions.billing.scope
        self._payments = payments
        self._buyers = buyers

    # ---- starting the payment -----------------------------------------------------

    async def start_payment(self, session_id: uuid.UUID) -> tuple[CheckoutSession, str]:
        """The open session with its buyer and a SetupIntent waiting for a
        card; returns it with the intent's client secret."""
        row = await self._sessions.sessions.require(session_id, for_update=True)
        refuse_unless_open(row, self._scope.clock.now())
        organization_id = self._scope.organization_id
        changed: list[str] = []
        if not is_confirmed(row):
            # Quoted anew first: a price archived since refuses here, before
            # a customer or a SetupIntent is made for nothing. (A confirmed
            # session's subscription keeps what it bought.)
            await self._sessions.requote(row, row.price_id, row.seats)
            changed.append("totals")
        if row.customer_id is None:
            row.customer_id = await self._make_buyer(row)
            row.customer_made = True
            changed += ["customer_id", "customer_made"]
        intent = None
        if row.setup_intent_id is not None:
            intent = await self._payments.setup_intent(organization_id, row.setup_intent_id)
            if intent is not None and intent.status not in _AWAITING_CARD:
                intent = None  # used (its card failed) or canceled: a new one
        if intent is None:
            if row.payment_starts >= MAX_PAYMENT_STARTS:
                raise FailedPrecondition(
                    "this checkout has taken as many cards as it may; open a new one",
                    reason="CHECKOUT_PAYMENT_LIMIT",
                )
            row.payment_starts += 1
            # Named by the customer and the count: a retry after a rollback
            # (the count not saved) asks for the same intent, never another
            # customer's.
            intent = await self._payments.create_setup_intent(
                organization_id,
                row.customer_id,
                f"checkout:{row.id}:setup-intent:{row.customer_id}:{row.payment_starts}",
            )
            row.setup_intent_id = uuid.UUID(intent.id)
            changed += ["setup_intent_id", "payment_starts"]
        row.updated_at = self._scope.clock.now()
        await self._sessions.sessions.update(row, [*changed, "updated_at"])
        return row, intent.client_secret

    async def _make_buyer(self, row: CheckoutSession) -> uuid.UUID:
        if not row.customer_email:
            raise InvalidArgument(f"{SESSION}.customer_email", "is required to pay")
        customer = customers_pb2.Customer(email=row.customer_email, name=row.customer_name)
        address = address_message(row.billing_address)
        if address is not None:
            customer.billing_address.CopyFrom(address)
        made = await self._buyers.create(
            self._scope.organization_id,
            customer,
            # Named by the details: a retry after a rollback finds the same
            # customer, and changed details make another (never a key reused
            # with a different body).
            f"checkout:{row.id}:customer:{_details_digest(customer)}",
        )
        return uuid.UUID(made.id)

    # ---- authenticating ------------------------------------------------------------

    async def authentication_secret(self, row: CheckoutSession) -> str:
        """The client secret of the first payment's PaymentIntent while it
        waits for the customer's authentication (3-D Secure) and the session
        is processing, for the page to confirm with Stripe.js; "" otherwise.
        Payments learns the outcome from Stripe (its webhook) and the engine
        applies it as any payment's."""
        if CheckoutSessionStatus(row.status) is not CheckoutSessionStatus.PROCESSING:
            return ""
        if row.order_id is None:
            return ""
        attempts = await self._billing.attempts.of_orders([row.order_id])
        latest = max(attempts, key=lambda attempt: attempt.attempt_number, default=None)
        if (
            latest is None
            or AttemptStatus(latest.status) is not AttemptStatus.REQUIRES_ACTION
            or latest.payment_id is None
        ):
            return ""
        payment = await self._payments.payment(self._scope.organization_id, latest.payment_id)
        if payment is None or payment.status != payments_pb2.PAYMENT_STATUS_REQUIRES_ACTION:
            return ""
        return payment.client_secret

    # ---- confirming ---------------------------------------------------------------

    async def confirm(self, session_id: uuid.UUID) -> CheckoutSession:
        """Makes the session's subscription or purchase with its saved card
        (or, after a failed payment, retries its order with the new card). A
        processing or completed session is answered as it is."""
        row = await self._sessions.sessions.require(session_id, for_update=True)
        if _done(row):
            return row
        now = self._scope.clock.now()
        refuse_unless_open(row, now)
        if row.setup_intent_id is None or row.customer_id is None:
            raise FailedPrecondition(
                "start the payment first (:start-payment), then confirm the card with Stripe",
                reason="CHECKOUT_PAYMENT_NOT_STARTED",
            )
        intent = await self._payments.setup_intent(
            self._scope.organization_id, row.setup_intent_id, sync=True
        )
        if (
            intent is None
            or intent.status != payment_methods_pb2.SETUP_INTENT_STATUS_SUCCEEDED
            or not intent.payment_method_id
        ):
            raise FailedPrecondition(
                "the card is not saved yet: confirm the SetupIntent with Stripe.js first",
                reason="PAYMENT_METHOD_REQUIRED",
            )
        card_id = uuid.UUID(intent.payment_method_id)
        made = await self._make_or_retry(row, card_id)
        if isinstance(made, Subscription):
            row.subscription_id = made.id
            row.order_id = made.latest_order_id
            started = SubscriptionStatus(made.status) in _STARTED
        else:
            row.order_id = made.id
            started = OrderStatus(made.status) is OrderStatus.PAID
        row.payment_error = None
        row.updated_at = now
        await self._sessions.sessions.update(
            row, ["subscription_id", "order_id", "payment_error", "totals", "updated_at"]
        )
        if started:
            await complete(self._scope, row, now)
        else:
            row.status = CheckoutSessionStatus.PROCESSING.value
            await self._sessions.sessions.update(row, ["status"])
        return row

    async def _make_or_retry(
        self, row: CheckoutSession, card_id: uuid.UUID
    ) -> Subscription | Order:
        """The first confirmation makes the subscription or the purchase (the
        quote refreshed first, so a price archived since is refused); a
        confirmation after a decline retries what the first made."""
        if row.subscription_id is not None:
            return await self._retry_with(row, card_id)
        if row.order_id is not None:
            return await self._sessions.purchases.retry_with(row.order_id, card_id, field=SESSION)
        bought = await self._sessions.requote(row, row.price_id, row.seats)
        if isinstance(bought, OneTime):
            return await self._buy(row, bought, card_id)
        return await self._subscribe(row, card_id)

    async def _buy(self, row: CheckoutSession, bought: OneTime, card_id: uuid.UUID) -> Order:
        """The session's one-time purchase, made as its quote was: the same
        price, code (only an allowed discount's) and customer."""
        assert row.customer_id is not None
        return await self._sessions.purchases.buy(
            PurchaseRequest(
                customer_id=row.customer_id,
                bought=bought,
                payment_method_id=card_id,
                reference=f"checkout:{row.id}",
                discount_code=row.discount_code,
                allowed_discount_ids=frozenset(str(d) for d in row.allowed_discount_ids),
                field=SESSION,
            )
        )

    async def _subscribe(self, row: CheckoutSession, card_id: uuid.UUID) -> Subscription:
        """The session's subscription, made as its quote was: the same price,
        seats, code (only an allowed discount's), trial and customer."""
        price = await self._subscriptions.catalog.price(row.price_id)
        assert price is not None  # requote found it
        assert row.customer_id is not None
        request = subscriptions_pb2.CreateSubscriptionRequest(
            subscription=subscriptions_pb2.Subscription(
                customer_id=str(row.customer_id),
                product_id=price.product_id,
                price_id=str(row.price_id),
                seats=row.seats,
                payment_method_id=str(card_id),
            ),
            promotion_code=row.discount_code,
            skip_trial=row.skip_trial and row.trial_interval is None,
        )
        trial = trial_message(row.trial_interval, row.trial_count)
        if trial is not None:
            request.trial.CopyFrom(trial)
        return await self._subscriptions.create(
            request,
            checkout_session_id=row.id,
            reference=f"checkout:{row.id}",
            allowed_discounts=frozenset(str(d) for d in row.allowed_discount_ids),
        )

    async def _retry_with(self, row: CheckoutSession, card_id: uuid.UUID) -> Subscription:
        """The session's incomplete subscription charged anew on the new card:
        its first order's next attempt (never a second order)."""
        assert row.subscription_id is not None
        billing = self._billing
        sub = await billing.subscriptions.require(row.subscription_id, for_update=True)
        if SubscriptionStatus(sub.status) is not SubscriptionStatus.INCOMPLETE:
            # Ended unpaid (incomplete_expired) while the session stayed open.
            raise FailedPrecondition(
                "the checkout session's subscription has ended; open a new checkout",
                reason="CHECKOUT_SESSION_EXPIRED",
            )
        now = await billing.now_for(sub.test_clock_id)
        if sub.payment_method_id != card_id:
            sub.payment_method_id = card_id
            sub.updated_at = now
            await billing.subscriptions.update(sub, ["payment_method_id", "updated_at"])
            await billing.announce(sub, events.updated)
        assert sub.latest_order_id is not None
        order = await billing.orders.require(sub.latest_order_id, for_update=True)
        if not await billing.in_flight(order):
            await billing.retry_now(order, sub, now)
        return sub


def _details_digest(customer: customers_pb2.Customer) -> str:
    return hashlib.sha256(customer.SerializeToString(deterministic=True)).hexdigest()[:32]
