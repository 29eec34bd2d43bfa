"""The customer portal's cards (customer_portal.proto): what a customer does
with its own saved cards, with a customer session token. The kit has
verified the token and bound the call to the session's organization; every
row here is also bounded by the session's customer
(`CallScope.portal_customer_id`): another customer's card or SetupIntent is
NOT_FOUND, as another organization's is. No request names a customer.

The work itself is payment_methods.py's, the merchant API's own: the same
SetupIntent, the same single recording of its card, the same default and
detach rules. The portal adds one choice: removing the default card makes
the customer's newest other card the default (`promote_next`). Removing
the last card is allowed, as Stripe allows it, live subscription or not:
the next charge then fails for want of a card (`no_payment_method`), dunning
follows, and a new card retries the customer's unpaid orders at once.
Refusing it would keep a card the customer wants gone (a lost or stolen
one) on file, and payments cannot see subscriptions to know.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.errors import NotFound, Unavailable
from billingos_kit.grpc.scope import CallScope
from billingos_kit.pagination import Page, page_request
from billingos_payments.models import PaymentMethod, SetupIntent
from billingos_payments.payment_methods import PaymentMethods
from billingos_payments.repository import (
    PaymentMethodFilter,
    PaymentMethodRepository,
    SetupIntentRepository,
)
from billingos_payments.stripe_gateway import StripeGateway


@dataclass(frozen=True)
class StripeJs:
    """What the portal's page gives Stripe.js (settings
    `stripe_publishable_key`, `stripe_js_url`)."""

    publishable_key: str
    js_url: str

    def require(self) -> None:
        """A page cannot confirm a SetupIntent without the key: refused
        before a SetupIntent is made that nothing could use."""
        if not self.publishable_key:
            raise Unavailable(
                "this deployment has no Stripe publishable key to save cards with "
                "(BILLINGOS_PAYMENTS_STRIPE_PUBLISHABLE_KEY or STRIPE_PUBLISHABLE_KEY)",
                reason="STRIPE_PUBLISHABLE_KEY_UNSET",
            )


class PortalPaymentMethods:
    """The session's customer's SetupIntents and cards."""

    def __init__(
        self,
        scope: CallScope,
        stripe: StripeGateway,
        directory: CustomerDirectory,
        stripe_js: StripeJs,
    ) -> None:
        self._customer_id = scope.portal_customer_id
        self._stripe_js = stripe_js
        self._methods = PaymentMethods(scope, stripe, directory)
        self._cards = PaymentMethodRepository(scope)
        self._intents = SetupIntentRepository(scope)

    async def list_page(self, page_size: int, page_token: str) -> Page[PaymentMethod]:
        """One page of the customer's attached cards, newest first. A
        customer payments has not heard of yet has none (nobody is asked)."""
        where = PaymentMethodFilter(customer_id=self._customer_id, attached=True)
        return await self._cards.page(where, page_request(page_size, page_token, where))

    async def create_setup_intent(self) -> SetupIntent:
        self._stripe_js.require()
        return await self._methods.create_setup_intent(self._customer_id)

    async def sync_setup_intent(self, intent_id: uuid.UUID) -> SetupIntent:
        await self._own_intent(intent_id)
        return await self._methods.sync_setup_intent(intent_id)

    async def set_default(self, method_id: uuid.UUID) -> PaymentMethod:
        await self._own_card(method_id)
        return await self._methods.set_default(method_id)

    async def detach(self, method_id: uuid.UUID) -> PaymentMethod:
        await self._own_card(method_id)
        return await self._methods.detach(method_id, promote_next=True)

    async def _own_card(self, method_id: uuid.UUID) -> None:
        # A card's customer never changes, so this read needs no lock.
        found = await self._cards.get(method_id)
        if found is None or found.customer_id != self._customer_id:
            raise NotFound("payment_method", str(method_id))

    async def _own_intent(self, intent_id: uuid.UUID) -> None:
        found = await self._intents.get(intent_id)
        if found is None or found.customer_id != self._customer_id:
            raise NotFound("setup_intent", str(intent_id))
