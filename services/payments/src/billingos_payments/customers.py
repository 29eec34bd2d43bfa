"""Stripe customers: each BillingOS customer gets exactly one, made when
payments first hears of the customer (its `customer.created`, or its latest
state when payments starts later) or, failing that, when it is first needed.

Exactly one, though the Stripe stand-in ignores idempotency keys: the
customer's row is locked while Stripe is asked, and before creating one,
Stripe's customers with the same email are searched for our customer id in
their metadata. So a create whose answer was lost (a crash, a timeout) is
found again by the next attempt instead of made twice. The mapping is then
announced (`stripe_customer.created`); the customers service fills
`stripe_customer_id` from it.
"""

from __future__ import annotations

import uuid

from billingos.customers.v1 import customers_pb2
from billingos_kit.customer_directory import CustomerDirectory, updated_at_of
from billingos_kit.errors import NotFound
from billingos_payments import events
from billingos_payments.errors import from_stripe
from billingos_payments.models import Customer
from billingos_payments.repository import CustomerCopies
from billingos_payments.scope import WorkScope
from billingos_payments.stripe_gateway import StripeGateway

CUSTOMER_METADATA_KEY = "billingos_customer_id"
ORGANIZATION_METADATA_KEY = "billingos_organization_id"


def copy_of(
    customer: customers_pb2.Customer, scope: WorkScope, *, deleted: bool = False
) -> Customer | None:
    """The read-copy row for a customer message (None without a valid id)."""
    try:
        customer_id = uuid.UUID(customer.id)
    except ValueError:
        return None
    now = scope.clock.now()
    deleted_at = None
    if customer.HasField("delete_time"):
        deleted_at = customer.delete_time.ToDatetime()
    elif deleted:
        deleted_at = now
    return Customer(
        id=customer_id,
        organization_id=scope.organization_id,
        email=customer.email,
        name=customer.name,
        deleted_at=deleted_at.replace(tzinfo=now.tzinfo) if deleted_at else None,
        source_updated_at=updated_at_of(customer, now),
        stripe_customer_id=None,
        stripe_email=None,
        stripe_name=None,
        created_at=now,
        updated_at=now,
    )


class StripeCustomers:
    """The organization's customers as Stripe knows them."""

    def __init__(
        self, scope: WorkScope, stripe: StripeGateway, directory: CustomerDirectory
    ) -> None:
        self._scope = scope
        self._stripe = stripe
        self._directory = directory
        self._copies = CustomerCopies(scope)

    async def learn(self, copy: Customer) -> None:
        """Applies a customer's state (from its event): remembers it, then
        makes its Stripe customer or tells Stripe its new email and name."""
        await self._copies.remember(copy)
        current = await self._copies.get(copy.id, for_update=True)
        if current is None:
            return  # deleted: nothing more to tell Stripe
        if current.stripe_customer_id is None:
            await self._create(current)
        elif (current.stripe_email, current.stripe_name) != (current.email, current.name):
            await from_stripe(
                self._stripe.update_customer(
                    current.stripe_customer_id, current.email, current.name
                )
            )
            current.stripe_email, current.stripe_name = current.email, current.name
            current.updated_at = self._scope.clock.now()
            await self._copies.set_stripe(current, ("stripe_email", "stripe_name"))

    async def require(self, customer_id: uuid.UUID) -> Customer:
        """The live customer with its Stripe customer, made now if needed;
        locked for the rest of the transaction. NotFound if the organization
        has no such customer."""
        current = await self._copies.get(customer_id, for_update=True)
        if current is None:
            found = await self._directory.find(self._scope.organization_id, customer_id)
            copy = copy_of(found, self._scope) if found is not None else None
            if copy is not None and copy.id == customer_id:
                await self._copies.remember(copy)
                current = await self._copies.get(customer_id, for_update=True)
        if current is None:
            raise NotFound("customer", str(customer_id))
        if current.stripe_customer_id is None:
            await self._create(current)
        return current

    async def exists(self, customer_id: uuid.UUID) -> bool:
        """Whether the organization has this live customer: the read copy,
        or the customers service for one whose event has not arrived yet.
        Writes nothing (read-only calls use it) and never asks Stripe."""
        if await self._copies.get(customer_id) is not None:
            return True
        found = await self._directory.find(self._scope.organization_id, customer_id)
        copy = copy_of(found, self._scope) if found is not None else None
        return copy is not None and copy.id == customer_id and copy.deleted_at is None

    async def _create(self, customer: Customer) -> None:
        """Finds the Stripe customer an earlier attempt made, or makes it."""
        ours = str(customer.id)
        stripe_id: str | None = None
        if customer.email:
            for candidate in await from_stripe(self._stripe.customers_with_email(customer.email)):
                if (candidate.get("metadata") or {}).get(CUSTOMER_METADATA_KEY) == ours:
                    stripe_id = str(candidate["id"])
                    break
        if stripe_id is None:
            created = await from_stripe(
                self._stripe.create_customer(
                    customer.email,
                    customer.name,
                    {
                        CUSTOMER_METADATA_KEY: ours,
                        ORGANIZATION_METADATA_KEY: str(customer.organization_id),
                    },
                    idempotency_key=f"billingos-customer-{ours}",
                )
            )
            stripe_id = str(created["id"])
        customer.stripe_customer_id = stripe_id
        customer.stripe_email, customer.stripe_name = customer.email, customer.name
        customer.updated_at = self._scope.clock.now()
        await self._copies.set_stripe(
            customer, ("stripe_customer_id", "stripe_email", "stripe_name")
        )
        await self._scope.outbox.add(events.stripe_customer_created(customer))
