"""Rows to API messages, shared by the servicers and the events."""

from __future__ import annotations

from collections.abc import Sequence

from billingos.catalog.v1 import discounts_pb2, products_pb2, public_pb2
from billingos.common.v1 import money_pb2
from billingos_catalog.models import Discount, DiscountRedemption, Price
from billingos_catalog.views import ProductView
from billingos_kit.protoconv import metadata_to_proto, timestamp

INTERVAL_TO_PROTO = {
    "day": products_pb2.INTERVAL_DAY,
    "week": products_pb2.INTERVAL_WEEK,
    "month": products_pb2.INTERVAL_MONTH,
    "year": products_pb2.INTERVAL_YEAR,
}
INTERVAL_FROM_PROTO = {value: key for key, value in INTERVAL_TO_PROTO.items()}
TIER_MODE_TO_PROTO = {
    "volume": products_pb2.TIER_MODE_VOLUME,
    "graduated": products_pb2.TIER_MODE_GRADUATED,
}
TIER_MODE_FROM_PROTO = {value: key for key, value in TIER_MODE_TO_PROTO.items()}
DURATION_TO_PROTO = {
    "once": discounts_pb2.DISCOUNT_DURATION_ONCE,
    "repeating": discounts_pb2.DISCOUNT_DURATION_REPEATING,
    "forever": discounts_pb2.DISCOUNT_DURATION_FOREVER,
}
DURATION_FROM_PROTO = {value: key for key, value in DURATION_TO_PROTO.items()}


def period_message(interval: str | None, count: int | None) -> products_pb2.Period | None:
    if interval is None:
        return None
    return products_pb2.Period(interval=INTERVAL_TO_PROTO[interval], count=count or 1)


def price_message(price: Price) -> products_pb2.Price:
    message = products_pb2.Price(
        id=str(price.id),
        organization_id=str(price.organization_id),
        product_id=str(price.product_id),
        currency=price.currency,
        recurring=period_message(price.recurring_interval, price.recurring_count),
        archived=price.archived_at is not None,
        create_time=timestamp(price.created_at),
    )
    if price.amount_type == "fixed":
        message.fixed.amount_minor = price.amount_minor or 0
    elif price.amount_type == "free":
        message.free.SetInParent()
    elif price.amount_type == "custom":
        message.custom.minimum_amount_minor = price.minimum_amount_minor or 0
        if price.maximum_amount_minor is not None:
            message.custom.maximum_amount_minor = price.maximum_amount_minor
        if price.preset_amount_minor is not None:
            message.custom.preset_amount_minor = price.preset_amount_minor
    elif price.amount_type == "metered_unit":
        message.metered_unit.unit_amount = _plain(price.unit_amount)
        message.metered_unit.meter_id = str(price.meter_id)
        if price.cap_amount_minor is not None:
            message.metered_unit.cap_amount_minor = price.cap_amount_minor
    elif price.amount_type == "seat_based":
        message.seat_based.tier_mode = TIER_MODE_TO_PROTO[price.tier_mode or "volume"]
        for tier in price.seat_tiers or []:
            added = message.seat_based.tiers.add(
                from_seats=tier["from_seats"], amount_per_seat_minor=tier["amount_per_seat_minor"]
            )
            if tier["to_seats"] is not None:
                added.to_seats = tier["to_seats"]
    return message


def product_message(view: ProductView) -> products_pb2.Product:
    product = view.product
    return products_pb2.Product(
        id=str(product.id),
        organization_id=str(product.organization_id),
        name=product.name,
        description=product.description,
        recurring=period_message(product.recurring_interval, product.recurring_count),
        trial=period_message(product.trial_interval, product.trial_count),
        metadata=metadata_to_proto(product.metadata_),
        public_metadata=metadata_to_proto(product.public_metadata),
        archived=product.archived_at is not None,
        prices=[price_message(price) for price in view.prices],
        create_time=timestamp(product.created_at),
        update_time=timestamp(product.updated_at),
    )


def public_product_message(view: ProductView) -> public_pb2.PublicProduct:
    product = view.product
    return public_pb2.PublicProduct(
        id=str(product.id),
        name=product.name,
        description=product.description,
        recurring=period_message(product.recurring_interval, product.recurring_count),
        trial=period_message(product.trial_interval, product.trial_count),
        public_metadata=metadata_to_proto(product.public_metadata),
        prices=[price_message(price) for price in view.prices],
    )


def discount_message(discount: Discount) -> discounts_pb2.Discount:
    message = discounts_pb2.Discount(
        id=str(discount.id),
        organization_id=str(discount.organization_id),
        name=discount.name,
        code=discount.code or "",
        duration=DURATION_TO_PROTO[discount.duration],
        duration_in_intervals=discount.duration_in_intervals or 0,
        redemption_count=discount.redemption_count,
        start_time=timestamp(discount.starts_at),
        end_time=timestamp(discount.ends_at),
        product_ids=[str(p) for p in discount.product_ids],
        metadata=metadata_to_proto(discount.metadata_),
        create_time=timestamp(discount.created_at),
        update_time=timestamp(discount.updated_at),
    )
    if discount.max_redemptions is not None:
        message.max_redemptions = discount.max_redemptions
    if discount.basis_points is not None:
        message.percent_off.basis_points = discount.basis_points
    else:
        message.amount_off.amounts.extend(_money(discount.amounts_off or {}))
    return message


def redemption_message(redemption: DiscountRedemption) -> discounts_pb2.DiscountRedemption:
    return discounts_pb2.DiscountRedemption(
        id=str(redemption.id),
        discount_id=str(redemption.discount_id),
        reference=redemption.reference,
        customer_id=str(redemption.customer_id) if redemption.customer_id else "",
        redeem_time=timestamp(redemption.redeemed_at),
    )


def _money(amounts: dict[str, int]) -> Sequence[money_pb2.Money]:
    return [money_pb2.Money(amount_minor=amounts[c], currency=c) for c in sorted(amounts)]


def _plain(value: object) -> str:
    """A Decimal as plain text without trailing zeros ("0.0125", never "1.25E-2")."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
