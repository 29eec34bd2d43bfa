"""A product's benefits (products.proto's AttachProductBenefit and
DetachProductBenefit): the entitlements context's benefits that customers of
the product are granted, kept on the product (`benefit_ids`, in attach
order) so its state, and so its state stream, carries them.

The entitlements context owns benefits; the catalog names only benefits its
read copy (consumers.py) knows as live benefits of the product's
organization. Anything else (unknown, another organization's, deleted) is
the same NOT_FOUND on `benefit_id`, so no organization learns another's ids.
The copy follows the entitlements events, so a benefit created a moment ago
may not be attachable yet: NOT_FOUND is the honest answer until it is.

A deleted benefit is detached from every product of its organization by the
consumer of the copy, in its transaction (`benefit_deleted`). Lock order,
so no path deadlocks another: the benefit's copy row first (attach holds it
shared, a deletion reaching the copy holds it exclusively), then products,
in id order (as every price path locks them, before prices).

Works in a call's or an event handler's scope; raises domain errors; knows
no protobuf."""

from __future__ import annotations

import uuid

from billingos_catalog import events
from billingos_catalog.errors import BenefitLimitReached, BenefitNotFound
from billingos_catalog.models import Product
from billingos_catalog.products import with_prices
from billingos_catalog.repository import KnownBenefits, PriceRepository, ProductRepository
from billingos_catalog.views import ProductView
from billingos_kit.workscope import WorkScope

# What a product's state (and every event carrying it) may grow to.
MAX_BENEFITS_PER_PRODUCT = 50
# The mask of every product.updated a benefit change announces.
BENEFITS_PATH = "benefit_ids"
# A missing, deleted or foreign benefit: one answer for all three.
UNKNOWN_BENEFIT = (
    "no such benefit in this organization (a benefit created a moment ago may take up "
    "to a second to be attachable)"
)


class ProductBenefits:
    """The benefit lists of the scope's organization's products."""

    def __init__(self, scope: WorkScope) -> None:
        self._scope = scope
        self._products = ProductRepository(scope)
        self._prices = PriceRepository(scope)
        self._benefits = KnownBenefits(scope)

    async def attach(self, product_id: uuid.UUID, benefit_id: uuid.UUID) -> ProductView:
        """Adds the benefit at the end of the product's list (an archived
        product too: a merchant prepares it before selling it) and announces
        `product.updated` (mask `benefit_ids`). Already listed: the product
        as it is, no event. BenefitNotFound unless the copy knows a live
        benefit of this organization; BenefitLimitReached past the limit."""
        if await self._benefits.share_live(benefit_id) is None:
            raise BenefitNotFound(str(benefit_id), UNKNOWN_BENEFIT)
        product = await self._products.require(product_id, for_update=True)
        if benefit_id in product.benefit_ids:
            return await self._view(product)
        if len(product.benefit_ids) >= MAX_BENEFITS_PER_PRODUCT:
            raise BenefitLimitReached(MAX_BENEFITS_PER_PRODUCT)
        return await self._change(product, [*product.benefit_ids, benefit_id])

    async def detach(self, product_id: uuid.UUID, benefit_id: uuid.UUID) -> ProductView:
        """Removes the benefit from the product's list and announces
        `product.updated` (mask `benefit_ids`); BenefitNotFound if the
        product does not list it (whether the benefit exists or not). A
        retry with the call's Idempotency-Key replays the first answer."""
        product = await self._products.require(product_id, for_update=True)
        if benefit_id not in product.benefit_ids:
            raise BenefitNotFound(str(benefit_id), "is not attached to this product")
        return await self._change(product, [b for b in product.benefit_ids if b != benefit_id])

    async def benefit_deleted(self, benefit_id: uuid.UUID) -> list[ProductView]:
        """Detaches a deleted benefit from every product of the organization
        that lists it, each announced by `product.updated`; returns those
        products. Idempotent by itself: once detached, no product lists it,
        so a redelivered or replayed deletion changes nothing (and attach
        refuses a deleted benefit, so none can list it again). The caller
        has written the deletion into the copy first, in this transaction:
        that holds the copy's row, so an attach still running finishes
        first and its product is found here."""
        listing = await self._products.lock_listing_benefit(benefit_id)
        now = self._scope.clock.now()
        for product in listing:
            product.benefit_ids = [b for b in product.benefit_ids if b != benefit_id]
            product.updated_at = now
            await self._products.update(product, [BENEFITS_PATH, "updated_at"])
        views = await with_prices(self._prices, listing)
        for view in views:
            await self._scope.outbox.add(events.product_updated(view, [BENEFITS_PATH]))
        return views

    async def _change(self, product: Product, benefit_ids: list[uuid.UUID]) -> ProductView:
        """Writes the product's new list (the row is locked) with a new
        update time, so read copies keeping the newer state take it."""
        product.benefit_ids = benefit_ids
        product.updated_at = self._scope.clock.now()
        await self._products.update(product, [BENEFITS_PATH, "updated_at"])
        view = await self._view(product)
        await self._scope.outbox.add(events.product_updated(view, [BENEFITS_PATH]))
        return view

    async def _view(self, product: Product) -> ProductView:
        return (await with_prices(self._prices, [product]))[0]
