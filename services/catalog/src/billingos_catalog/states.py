"""The current state of every entity the catalog context announces, read
from its tables: what seeds the latest-state stream for entities that last
changed before that stream existed (billingos_kit.snapshot)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from google.protobuf.message import Message

from billingos_catalog import events
from billingos_catalog.models import (
    Discount,
    Price,
    Product,
    PromotionCode,
    Purchase,
    TaxRate,
    TaxSettings,
    discounts,
    prices,
    promotion_codes,
    purchases,
    tax_rates,
    tax_settings,
)
from billingos_catalog.products import with_prices
from billingos_catalog.repository import EveryProduct, PriceRepository
from billingos_catalog.views import ProductView, TaxSettingsView
from billingos_catalog.vocabulary import TaxBehavior
from billingos_kit.db import Connection
from billingos_kit.repository import OnConnection
from billingos_kit.snapshot import StateSource, rows_as_states

# Products are read with their active prices, this many at a time (one
# price query per batch, within one organization).
PRODUCT_BATCH = 200


def product_state(view: ProductView) -> Message:
    """The event that leaves a read copy holding this product as it is now."""
    if view.product.archived_at is None:
        return events.product_created(view)
    return events.product_archived(view)


def price_state(price: Price) -> Message:
    return (
        events.price_created(price) if price.archived_at is None else events.price_archived(price)
    )


def discount_state(discount: Discount) -> Message:
    if discount.deleted_at is None:
        return events.discount_created(discount)
    return events.discount_deleted(discount)


def purchase_state(purchase: Purchase) -> Message:
    if purchase.abandoned_at is None:
        return events.purchase_recorded(purchase)
    return events.purchase_updated(purchase)


def promotion_code_state(code: PromotionCode) -> Message:
    if code.archived_at is None:
        return events.promotion_code_created(code)
    return events.promotion_code_updated(code, ["archived"])


def tax_rate_state(rate: TaxRate) -> Message:
    return (
        events.tax_rate_created(rate) if rate.deleted_at is None else events.tax_rate_deleted(rate)
    )


def tax_settings_state(settings: TaxSettings) -> Message:
    view = TaxSettingsView(
        settings.organization_id, TaxBehavior(settings.default_tax_behavior), settings.updated_at
    )
    return events.tax_settings_updated(view, ["default_tax_behavior"])


async def product_states(connection: Connection) -> AsyncIterator[tuple[Message, uuid.UUID]]:
    """Every product with its active prices, as its product event carries it."""
    batch: list[Product] = []
    async for product in EveryProduct(OnConnection(connection)).stream():
        if batch and (
            batch[0].organization_id != product.organization_id or len(batch) >= PRODUCT_BATCH
        ):
            for view in await _views(connection, batch):
                yield product_state(view), view.product.organization_id
            batch = []
        batch.append(product)
    for view in await _views(connection, batch):
        yield product_state(view), view.product.organization_id


async def _views(connection: Connection, batch: list[Product]) -> list[ProductView]:
    if not batch:
        return []
    scope = OnConnection(connection, batch[0].organization_id)
    return await with_prices(PriceRepository(scope), batch)


def state_sources() -> list[StateSource]:
    return [
        StateSource("product", product_states),
        rows_as_states("price", prices, Price, price_state),
        rows_as_states("discount", discounts, Discount, discount_state),
        rows_as_states("promotion_code", promotion_codes, PromotionCode, promotion_code_state),
        rows_as_states("purchase", purchases, Purchase, purchase_state),
        rows_as_states("tax_rate", tax_rates, TaxRate, tax_rate_state),
        rows_as_states("tax_settings", tax_settings, TaxSettings, tax_settings_state),
    ]
