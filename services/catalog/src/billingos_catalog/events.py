"""The events the catalog context publishes, built from rows. Each carries the
whole resource, so other contexts can keep a read copy; what each is (its
type, its subject, the entity whose state it carries) is declared on the
message in protos/billingos/catalog/v1/events.proto."""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from billingos.catalog.v1 import events_pb2
from billingos_catalog.messages import (
    discount_message,
    price_message,
    product_message,
    promotion_code_message,
    purchase_message,
    tax_rate_message,
    tax_settings_message,
)
from billingos_catalog.models import Discount, Price, PromotionCode, Purchase, TaxRate
from billingos_catalog.views import ProductView, TaxSettingsView


def _mask(changed: list[str]) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=changed)


def product_created(view: ProductView) -> events_pb2.ProductCreatedEvent:
    return events_pb2.ProductCreatedEvent(product=product_message(view))


def product_updated(view: ProductView, changed: list[str]) -> events_pb2.ProductUpdatedEvent:
    return events_pb2.ProductUpdatedEvent(product=product_message(view), update_mask=_mask(changed))


def product_archived(view: ProductView) -> events_pb2.ProductArchivedEvent:
    return events_pb2.ProductArchivedEvent(product=product_message(view))


def price_created(price: Price) -> events_pb2.PriceCreatedEvent:
    return events_pb2.PriceCreatedEvent(price=price_message(price))


def price_updated(price: Price, changed: list[str]) -> events_pb2.PriceUpdatedEvent:
    return events_pb2.PriceUpdatedEvent(price=price_message(price), update_mask=_mask(changed))


def price_archived(price: Price) -> events_pb2.PriceArchivedEvent:
    return events_pb2.PriceArchivedEvent(price=price_message(price))


def discount_created(discount: Discount) -> events_pb2.DiscountCreatedEvent:
    return events_pb2.DiscountCreatedEvent(discount=discount_message(discount))


def discount_updated(discount: Discount, changed: list[str]) -> events_pb2.DiscountUpdatedEvent:
    return events_pb2.DiscountUpdatedEvent(
        discount=discount_message(discount), update_mask=_mask(changed)
    )


def discount_deleted(discount: Discount) -> events_pb2.DiscountDeletedEvent:
    return events_pb2.DiscountDeletedEvent(discount=discount_message(discount))


def promotion_code_created(code: PromotionCode) -> events_pb2.PromotionCodeCreatedEvent:
    return events_pb2.PromotionCodeCreatedEvent(promotion_code=promotion_code_message(code))


def promotion_code_updated(
    code: PromotionCode, changed: list[str]
) -> events_pb2.PromotionCodeUpdatedEvent:
    return events_pb2.PromotionCodeUpdatedEvent(
        promotion_code=promotion_code_message(code), update_mask=_mask(changed)
    )


def purchase_recorded(purchase: Purchase) -> events_pb2.PurchaseRecordedEvent:
    return events_pb2.PurchaseRecordedEvent(purchase=purchase_message(purchase))


def purchase_updated(purchase: Purchase) -> events_pb2.PurchaseUpdatedEvent:
    return events_pb2.PurchaseUpdatedEvent(
        purchase=purchase_message(purchase), update_mask=_mask(["abandon_time"])
    )


def tax_rate_created(rate: TaxRate) -> events_pb2.TaxRateCreatedEvent:
    return events_pb2.TaxRateCreatedEvent(tax_rate=tax_rate_message(rate))


def tax_rate_updated(rate: TaxRate, changed: list[str]) -> events_pb2.TaxRateUpdatedEvent:
    return events_pb2.TaxRateUpdatedEvent(
        tax_rate=tax_rate_message(rate), update_mask=_mask(changed)
    )


def tax_rate_deleted(rate: TaxRate) -> events_pb2.TaxRateDeletedEvent:
    return events_pb2.TaxRateDeletedEvent(tax_rate=tax_rate_message(rate))


def tax_settings_updated(
    settings: TaxSettingsView, changed: list[str]
) -> events_pb2.TaxSettingsUpdatedEvent:
    return events_pb2.TaxSettingsUpdatedEvent(
        tax_settings=tax_settings_message(settings), update_mask=_mask(changed)
    )
