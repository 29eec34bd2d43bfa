"""Payment methods (payment_methods.proto): SetupIntents that save a card,
and the cards saved. Works in the caller's scope; raises domain errors;
knows no protobuf.

A card becomes known exactly once, when its SetupIntent has succeeded,
whichever comes first of Stripe's webhook and an explicit sync call: both
lock the SetupIntent's row, and the card's Stripe id is unique. The first
card of a customer is its default; a customer has at most one (a partial
unique index says so too). Whatever changes a customer's default (a new
card, set-default, detach) locks the customer's row first, then the cards:
one order for every path, so two of them (the merchant's API and the
customer's portal at once) wait for each other instead of deadlocking.
"""

from __future__ import annotations

import uuid
from typing import Any

from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.errors import FailedPrecondition, NotFound
from billingos_kit.ids import new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_payments import events
from billingos_payments.customers import StripeCustomers
from billingos_payments.errors import StripeDown, StripeSaidNo, from_stripe
from billingos_payments.models import PaymentMethod, SetupIntent
from billingos_payments.repository import (
    CustomerCopies,
    PaymentMethodFilter,
    PaymentMethodRepository,
    SetupIntentRepository,
)
from billingos_payments.scope import WorkScope
from billingos_payments.stripe_gateway import StripeGateway, StripeRefused, StripeUnavailable
from billingos_payments.vocabulary import SetupIntentStatus

SETUP_INTENT_METADATA_KEY = "billingos_setup_intent_id"


def setup_status(stripe_status: object, current: str) -> str:
    """Our status for Stripe's (an unknown one keeps what we had)."""
    try:
        return SetupIntentStatus(str(stripe_status)).value
    except ValueError:
        return current


class PaymentMethods:
    """The organization's SetupIntents and saved cards."""

    def __init__(
        self, scope: WorkScope, stripe: StripeGateway, directory: CustomerDirectory
    ) -> None:
        self._scope = scope
        self._stripe = stripe
        self._customers = StripeCustomers(scope, stripe, directory)
        self._copies = CustomerCopies(scope)
        self._intents = SetupIntentRepository(scope)
        self._methods = PaymentMethodRepository(scope)

    # ---- setup intents ---------------------------------------------------

    async def create_setup_intent(self, customer_id: uuid.UUID) -> SetupIntent:
        """A SetupIntent for the customer's next card (its Stripe customer is
        made first if it has none)."""
        customer = await self._customers.require(customer_id)
        assert customer.stripe_customer_id is not None  # require makes it
        intent_id = new_id(self._scope.clock)
        created = await from_stripe(
            self._stripe.create_setup_intent(
                customer.stripe_customer_id,
                {SETUP_INTENT_METADATA_KEY: str(intent_id)},
                idempotency_key=f"billingos-setup-intent-{intent_id}",
            )
        )
        now = self._scope.clock.now()
        row = SetupIntent(
            id=intent_id,
            organization_id=self._scope.organization_id,
            customer_id=customer.id,
            stripe_setup_intent_id=str(created["id"]),
            client_secret=str(created.get("client_secret") or ""),
            status=setup_status(created.get("status"), SetupIntentStatus.REQUIRES_PAYMENT_METHOD),
            payment_method_id=None,
            created_at=now,
            updated_at=now,
        )
        await self._intents.insert(row)
        return row

    async def get_setup_intent(self, intent_id: uuid.UUID) -> SetupIntent:
        return await self._intents.require(intent_id)

    async def sync_setup_intent(self, intent_id: uuid.UUID) -> SetupIntent:
        """Asks Stripe how the SetupIntent stands, and records its card."""
        row = await self._intents.require(intent_id, for_update=True)
        found = await from_stripe(self._stripe.setup_intent(row.stripe_setup_intent_id))
        return await self._apply(row, found)

    async def apply_setup_intent(self, stripe_intent: dict[str, Any]) -> SetupIntent | None:
        """Stripe's SetupIntent (from a webhook), applied to ours if we have it."""
        row = await self._intents.by_stripe_id(str(stripe_intent.get("id")), for_update=True)
        if row is None:
            return None
        # The event's copy may be older than Stripe's current one: ask.
        current = await from_stripe(self._stripe.setup_intent(row.stripe_setup_intent_id))
        return await self._apply(row, current)

    async def _apply(self, row: SetupIntent, stripe_intent: dict[str, Any]) -> SetupIntent:
        status = setup_status(stripe_intent.get("status"), row.status)
        changed = ["status"] if status != row.status else []
        row.status = status
        card = stripe_intent.get("payment_method")
        card_id = card.get("id") if isinstance(card, dict) else card
        if status == SetupIntentStatus.SUCCEEDED and card_id and row.payment_method_id is None:
            method = await self._record_card(row.customer_id, str(card_id))
            row.payment_method_id = method.id
            changed.append("payment_method_id")
        if changed:
            row.updated_at = self._scope.clock.now()
            await self._intents.update(row, [*changed, "updated_at"])
        return row

    async def _record_card(self, customer_id: uuid.UUID, stripe_id: str) -> PaymentMethod:
        known = await self._methods.by_stripe_id(stripe_id)
        if known is not None:
            return known
        customer = await self._copies.get(customer_id, for_update=True)
        if customer is None or customer.stripe_customer_id is None:
            raise NotFound("customer", str(customer_id))
        card_object = await from_stripe(self._stripe.payment_method(stripe_id))
        if not card_object.get("customer"):
            # Stripe attaches a SetupIntent's card to its customer; a stand-in
            # may not, and a card that is not attached cannot be charged.
            card_object = await from_stripe(
                self._stripe.attach_payment_method(stripe_id, customer.stripe_customer_id)
            )
        card = card_object.get("card") or {}
        now = self._scope.clock.now()
        row = PaymentMethod(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            customer_id=customer_id,
            stripe_payment_method_id=stripe_id,
            brand=str(card.get("brand") or ""),
            last4=str(card.get("last4") or ""),
            exp_month=int(card.get("exp_month") or 0),
            exp_year=int(card.get("exp_year") or 0),
            is_default=await self._methods.default_of(customer_id) is None,
            created_at=now,
            updated_at=now,
            detached_at=None,
        )
        inserted = await self._methods.insert_once(row)
        if inserted is None:
            again = await self._methods.by_stripe_id(stripe_id)
            if again is None:
                # Recorded already, for another organization: Stripe lets a
                # card belong to one customer only, so this SetupIntent cannot
                # have saved it for ours.
                raise FailedPrecondition(
                    "the SetupIntent's payment method cannot be saved for this customer",
                    reason="PAYMENT_METHOD_UNAVAILABLE",
                )
            return again
        await self._scope.outbox.add(events.payment_method_attached(row))
        return row

    # ---- saved cards -----------------------------------------------------

    async def get(self, method_id: uuid.UUID) -> PaymentMethod:
        return await self._methods.require(method_id)

    async def list_page(self, where: PaymentMethodFilter, page: PageRequest) -> Page[PaymentMethod]:
        """One page, newest first; changes nothing. Another organization's
        customer, or none, is NOT_FOUND, not an empty page."""
        if where.customer_id is not None and not await self._customers.exists(where.customer_id):
            raise NotFound("customer", str(where.customer_id))
        return await self._methods.page(where, page)

    async def chargeable(
        self, customer_id: uuid.UUID, method_id: uuid.UUID | None
    ) -> PaymentMethod | None:
        """The card to charge: the one named (the customer's, attached) or
        the customer's default; None when there is none."""
        if method_id is None:
            return await self._methods.default_of(customer_id)
        method = await self._methods.get(method_id)
        if method is None or method.customer_id != customer_id or method.detached_at is not None:
            return None
        return method

    async def set_default(self, method_id: uuid.UUID) -> PaymentMethod:
        """Makes the card its customer's default; announces both changes."""
        method = await self._locked(method_id)
        if method.detached_at is not None:
            raise FailedPrecondition(
                "a detached payment method cannot be the default",
                reason="PAYMENT_METHOD_DETACHED",
            )
        if method.is_default:
            return method
        now = self._scope.clock.now()
        previous = await self._methods.default_of(method.customer_id)
        if previous is not None:
            previous.is_default, previous.updated_at = False, now
            await self._methods.update(previous, ["is_default", "updated_at"])
            await self._scope.outbox.add(events.payment_method_updated(previous))
        method.is_default, method.updated_at = True, now
        await self._methods.update(method, ["is_default", "updated_at"])
        await self._scope.outbox.add(events.payment_method_updated(method))
        return method

    async def detach(self, method_id: uuid.UUID, *, promote_next: bool = False) -> PaymentMethod:
        """Detaches the card in Stripe, then here; detaching twice is the
        same as once. A detached default leaves the customer without one,
        unless `promote_next` (the portal's choice: a customer who removes
        the card renewals use expects the other card on file to be used)
        makes the customer's newest other card the default."""
        method = await self._locked(method_id)
        if method.detached_at is not None:
            return method
        was_default = method.is_default
        try:
            await self._stripe.detach_payment_method(method.stripe_payment_method_id)
        except StripeRefused as refused:
            # Already detached in Stripe (from its dashboard): ours follows.
            if refused.code not in ("payment_method_not_attached", "resource_missing"):
                raise StripeSaidNo(refused) from None
        except StripeUnavailable as error:
            raise StripeDown(str(error)) from None
        now = self._scope.clock.now()
        method.detached_at, method.is_default, method.updated_at = now, False, now
        await self._methods.update(method, ["detached_at", "is_default", "updated_at"])
        await self._scope.outbox.add(events.payment_method_detached(method))
        if was_default and promote_next:
            others = await self._methods.attached_of(method.customer_id)
            if others:
                await self.set_default(others[0].id)
        return method

    async def _locked(self, method_id: uuid.UUID) -> PaymentMethod:
        """The card, locked, after its customer's row (the order every
        change of a default takes; a card's customer never changes)."""
        method = await self._methods.require(method_id)
        await self._copies.get(method.customer_id, for_update=True)
        return await self._methods.require(method_id, for_update=True)
