"""Purchases (purchases.proto): what the billing engine tells the catalog a
customer bought. It is the catalog's one signal that a price is used (its
tax behaviour is then fixed: amounts already charged were charged as it
said) and that a customer has made a purchase (first-purchase promotion
codes no longer apply to them).

A seam: nothing announces purchases yet, so the engine calls
`PurchaseAdminService.RecordPurchase` (internal, never routed). When the
subscriptions context announces its purchases as events, a consumer here
will record them the same way instead. Works in the caller's scope; raises
domain errors; knows no protobuf."""

from __future__ import annotations

import uuid

from billingos_catalog import events
from billingos_catalog.discount_rules import redemption_reference
from billingos_catalog.drafts import PurchaseDraft
from billingos_catalog.models import Price, Purchase
from billingos_catalog.products import announce_prices
from billingos_catalog.repository import (
    KnownCustomers,
    PriceRepository,
    ProductRepository,
    PurchaseRepository,
)
from billingos_kit.errors import InvalidArgument
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.validation import Violations

MAX_PRICES_PER_PURCHASE = 100


class PurchaseService:
    """Purchases of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._purchases = PurchaseRepository(scope)
        self._prices = PriceRepository(scope)
        self._products = ProductRepository(scope)
        self._customers = KnownCustomers(scope)

    async def record(self, draft: PurchaseDraft) -> Purchase:
        """Records the purchase and marks its prices used; the same reference
        again returns the first purchase and changes nothing. The customer
        must be a live customer and each price one of this organization's.
        Announces `purchase.recorded`, and `price.updated` (mask
        `first_use_time`) for each price used for the first time, with its
        product's new state."""
        try:
            reference = redemption_reference(draft.reference)
        except InvalidArgument:
            raise InvalidArgument("purchase.reference", "must be 1 to 256 characters") from None
        customer_id = canonical_id(draft.customer_id)
        violations = Violations()
        if customer_id is None:
            violations.add("purchase.customer_id", "must be a customer id (canonical UUID form)")
        price_ids = _price_ids(violations, draft.price_ids)
        violations.raise_if_any()
        assert customer_id is not None
        earlier = await self._purchases.find(reference)
        if earlier is not None:
            return earlier
        if await self._customers.get(customer_id) is None:
            raise self._customers.not_found(str(customer_id))
        known = {price.id for price in await self._prices.of_ids(price_ids)}
        for index, price_id in enumerate(price_ids):
            if price_id not in known:
                violations.add(f"purchase.price_ids[{index}]", "no such price")
        violations.raise_if_any()
        now = self._scope.clock.now()
        purchase = Purchase(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            reference=reference,
            customer_id=customer_id,
            price_ids=list(dict.fromkeys(price_ids)),
            purchased_at=now,
        )
        await self._purchases.insert(purchase)
        await self._scope.outbox.add(events.purchase_recorded(purchase))
        await self._announce_used(await self._prices.mark_used(purchase.price_ids, now))
        return purchase

    async def _announce_used(self, used: list[Price]) -> None:
        for price in used:
            await self._scope.outbox.add(events.price_updated(price, ["first_use_time"]))
        product_ids = sorted({price.product_id for price in used if price.archived_at is None})
        for product_id in product_ids:
            product = await self._products.require(product_id, for_update=True)
            await announce_prices(self._scope, self._products, self._prices, product)


def _price_ids(violations: Violations, raw_ids: tuple[str, ...]) -> list[uuid.UUID]:
    if not 1 <= len(raw_ids) <= MAX_PRICES_PER_PURCHASE:
        violations.add("purchase.price_ids", f"must name 1 to {MAX_PRICES_PER_PURCHASE} prices")
        return []
    parsed: list[uuid.UUID] = []
    for index, raw in enumerate(raw_ids):
        price_id = canonical_id(raw)
        if price_id is None:
            violations.add(
                f"purchase.price_ids[{index}]", "must be a price id (canonical UUID form)"
            )
        else:
            parsed.append(price_id)
    return parsed
