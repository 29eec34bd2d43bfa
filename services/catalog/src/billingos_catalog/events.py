"""The events the catalog context publishes, through the call's outbox. Each
carries the whole resource, so other contexts can keep a read copy."""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from billingos.catalog.v1 import events_pb2
from billingos_catalog.messages import discount_message, price_message, product_message
from billingos_catalog.models import Discount, Price
from billingos_catalog.views import ProductView
from billingos_kit.outbox import Outbox


async def product_created(outbox: Outbox, view: ProductView) -> None:
    await outbox.add(
        "product.created",
        view.product.organization_id,
        events_pb2.ProductCreatedEvent(product=product_message(view)),
    )


async def product_updated(outbox: Outbox, view: ProductView, changed: list[str]) -> None:
    await outbox.add(
        "product.updated",
        view.product.organization_id,
        events_pb2.ProductUpdatedEvent(
            product=product_message(view), update_mask=field_mask_pb2.FieldMask(paths=changed)
        ),
    )


async def product_archived(outbox: Outbox, view: ProductView) -> None:
    await outbox.add(
        "product.archived",
        view.product.organization_id,
        events_pb2.ProductArchivedEvent(product=product_message(view)),
    )


async def price_created(outbox: Outbox, price: Price) -> None:
    await outbox.add(
        "price.created",
        price.organization_id,
        events_pb2.PriceCreatedEvent(price=price_message(price)),
    )


async def price_archived(outbox: Outbox, price: Price) -> None:
    await outbox.add(
        "price.archived",
        price.organization_id,
        events_pb2.PriceArchivedEvent(price=price_message(price)),
    )


async def discount_created(outbox: Outbox, discount: Discount) -> None:
    await outbox.add(
        "discount.created",
        discount.organization_id,
        events_pb2.DiscountCreatedEvent(discount=discount_message(discount)),
    )


async def discount_updated(outbox: Outbox, discount: Discount, changed: list[str]) -> None:
    await outbox.add(
        "discount.updated",
        discount.organization_id,
        events_pb2.DiscountUpdatedEvent(
            discount=discount_message(discount),
            update_mask=field_mask_pb2.FieldMask(paths=changed),
        ),
    )


async def discount_deleted(outbox: Outbox, discount: Discount) -> None:
    await outbox.add(
        "discount.deleted",
        discount.organization_id,
        events_pb2.DiscountDeletedEvent(discount=discount_message(discount)),
    )
