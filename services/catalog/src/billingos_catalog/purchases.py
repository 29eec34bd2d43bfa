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

import datetime as dt
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
    TaxSettingsRepository,
)
from billingos_catalog.tax_rules import frozen_tax_behavior
from billingos_catalog.vocabulary import TaxBehavior
from billingos_kit.errors import InvalidArgument
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.validation import Violations
from billingos_kit.workscope import WorkScope

MAX_PRICES_PER_PURCHASE = 100


class PurchaseService:
    """Purchases of the scope's organization."""

    def __init__(self, scope: WorkScope) -> None:
        self._scope = scope
        self._purchases = PurchaseRepository(scope)
        self._prices = PriceRepository(scope)
        self._products = ProductRepository(scope)
        self._customers = KnownCustomers(scope)
        self._settings = TaxSettingsRepository(scope)

    async def record(self, draft: PurchaseDraft) -> Purchase:
        """Records the purchase and marks its prices used; the same reference
        again (concurrently too) returns the first purchase and changes
        nothing, if it names the same customer and prices: otherwise it is
        refused (PURCHASE_REFERENCE_REUSED), a reference names one purchase.
        The customer must be a live customer and each price one of this
        organization's. A price used for the first time has its tax
        behaviour frozen (tax_rules.frozen_tax_behavior). Announces
        `purchase.recorded`, and `price.updated` (mask `first_use_time`, and
        `tax_behavior` when it was frozen from the default) for each price
        used for the first time, with its product's new state."""
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
        price_ids = list(dict.fromkeys(price_ids))
        earlier = await self._purchases.find(reference)
        if earlier is not None:
            same = _same_purchase(earlier, customer_id, price_ids)
            if same.abandoned_at is not None:
                return await self._stand_again(reference)
            return same
        if await self._customers.get(customer_id) is None:
            raise self._customers.not_found(str(customer_id))
        found = await self._prices.of_ids(price_ids)
        known = {price.id for price in found}
        for index, price_id in enumerate(draft.price_ids):
            if canonical_id(price_id) not in known:
                violations.add(f"purchase.price_ids[{index}]", "no such price")
        violations.raise_if_any()
        # Products first, then prices, each in id order (as every price path).
        products = await self._products.lock_in_order([price.product_id for price in found])
        locked = await self._prices.of_ids(price_ids, for_update=True)
        now = self._scope.clock.now()
        purchase = Purchase(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            reference=reference,
            customer_id=customer_id,
            price_ids=price_ids,
            purchased_at=now,
        )
        if not await self._purchases.insert_new(purchase):
            # Another call with this reference committed while this one waited.
            recorded = await self._purchases.find(reference)
            assert recorded is not None
            return _same_purchase(recorded, customer_id, price_ids)
        await self._scope.outbox.add(events.purchase_recorded(purchase))
        unused = [price for price in locked if price.first_used_at is None]
        await self._mark_used(unused, now)
        # A product's state holds its active prices, which have just changed.
        for product_id in sorted(
            {price.product_id for price in unused if price.archived_at is None}
        ):
            await announce_prices(self._scope, self._products, self._prices, products[product_id])
        return purchase

    async def _stand_again(self, reference: str) -> Purchase:
        """An abandoned purchase recorded again under its reference (an
        Idempotency-Key reused after its subscription ended unstarted): it is
        the customer's purchase again, announced as `purchase.updated`."""
        purchase = await self._purchases.find(reference, for_update=True)
        assert purchase is not None  # a purchase is never deleted
        if purchase.abandoned_at is not None:
            purchase.abandoned_at = None
            await self._purchases.update(purchase, ["abandoned_at"])
            await self._scope.outbox.add(events.purchase_updated(purchase))
        return purchase

    async def abandon(self, reference: str) -> Purchase | None:
        """Marks the purchase recorded under `reference` abandoned (it was
        never paid for) and announces `purchase.updated`; one abandoned
        already, or none recorded, is left as it is."""
        purchase = await self._purchases.find(reference, for_update=True)
        if purchase is None or purchase.abandoned_at is not None:
            return None
        purchase.abandoned_at = self._scope.clock.now()
        await self._purchases.update(purchase, ["abandoned_at"])
        await self._scope.outbox.add(events.purchase_updated(purchase))
        return purchase

    async def _mark_used(self, unused: list[Price], now: dt.datetime) -> None:
        """Sets each price's first use and freezes its tax behaviour: from now
        on neither the organization's default nor a rate's `inclusive` can
        change what its amounts meant."""
        settings = await self._settings.current()
        default = TaxBehavior(
            settings.default_tax_behavior if settings else TaxBehavior.UNSPECIFIED
        )
        for price in unused:
            frozen = frozen_tax_behavior(TaxBehavior(price.tax_behavior), default)
            mask = ["first_use_time"]
            if frozen != price.tax_behavior:
                price.tax_behavior = frozen
                mask.append("tax_behavior")
            price.first_used_at = now
            price.updated_at = now
            await self._prices.update(price, ["first_used_at", "tax_behavior", "updated_at"])
            await self._scope.outbox.add(events.price_updated(price, mask))


def _same_purchase(
    earlier: Purchase, customer_id: uuid.UUID, price_ids: list[uuid.UUID]
) -> Purchase:
    """The purchase a reference names, if this call asks for the same one."""
    if earlier.customer_id != customer_id:
        raise InvalidArgument(
            "purchase.customer_id",
            f"reference {earlier.reference!r} is already the purchase of another customer; "
            "a reference names one purchase (use a new one)",
            reason="PURCHASE_REFERENCE_REUSED",
        )
    if set(earlier.price_ids) != set(price_ids):
        raise InvalidArgument(
            "purchase.price_ids",
            f"reference {earlier.reference!r} is already a purchase of other prices; "
            "a reference names one purchase (use a new one)",
            reason="PURCHASE_REFERENCE_REUSED",
        )
    return earlier


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
