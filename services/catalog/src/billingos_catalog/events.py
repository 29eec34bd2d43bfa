"""The events the catalog context publishes, built from rows. Each carries the
whole resource, so other contexts can keep a read copy; what each is (its
type, its subject, the entity whose state it carries) is declared on the
message in protos/billingos/catalog/v1/events.proto."""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from billingos.catalog.v1 import events_pb2
from billingos_catalog.messages import discount_message, price_message, product_message
from billingos_catalog.models import Discount, Price
from billingos_catalog.views import ProductView


def product_created(view: ProductView) -> events_pb2.ProductCreatedEvent:
    return events_pb2.ProductCreatedEvent(product=product_message(view))


def product_updated(view: ProductView, changed: list[str]) -> events_pb2.ProductUpdatedEvent:
    return events_pb2.ProductUpdatedEvent(
        product=product_message(view), update_mask=field_mask_pb2.FieldMask(paths=changed)
    )


def product_archived(view: ProductView) -> events_pb2.ProductArchivedEvent:
    return events_pb2.ProductArchivedEvent(product=product_message(view))


def price_created(price: Price) -> events_pb2.PriceCreatedEvent:
    return events_pb2.PriceCreatedEvent(price=price_message(price))


def price_archived(price: Price) -> events_pb2.PriceArchivedEvent:
    return events_pb2.PriceArchivedEvent(price=price_message(price))


def discount_created(discount: Discount) -> events_pb2.DiscountCreatedEvent:
    return events_pb2.DiscountCreatedEvent(discount=discount_message(discount))


def discount_updated(discount: Discount, changed: list[str]) -> events_pb2.DiscountUpdatedEvent:
    return events_pb2.DiscountUpdatedEvent(
        discount=discount_message(discount), update_mask=field_mask_pb2.FieldMask(paths=changed)
    )


def discount_deleted(discount: Discount) -> events_pb2.DiscountDeletedEvent:
    return events_pb2.DiscountDeletedEvent(discount=discount_message(discount))
