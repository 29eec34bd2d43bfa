"""Conversions both ways: request messages to domain inputs (with the
violations a message alone can show), rows to API messages (for the servicers
and the events). The vocabularies' proto enums are mapped here, by codecs
checked against the StrEnums at import."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from google.protobuf import timestamp_pb2

from billingos.catalog.v1 import discounts_pb2, products_pb2, public_pb2
from billingos.common.v1 import money_pb2
from billingos_catalog.drafts import (
    DiscountDraft,
    DiscountLookup,
    PeriodSpec,
    PriceDraft,
    ProductDraft,
    Purchase,
    RedemptionDraft,
)
from billingos_catalog.models import Discount, DiscountRedemption, Price
from billingos_catalog.views import ProductView
from billingos_catalog.vocabulary import (
    AmountType,
    DiscountDuration,
    Ineligibility,
    Interval,
    TierMode,
)
from billingos_kit.ids import parse_id
from billingos_kit.protoconv import MetadataReader, metadata_to_proto, timestamp
from billingos_kit.vocabulary import EnumCodec
from billingos_pricing.amounts import SeatTier

INTERVAL_CODEC = EnumCodec(Interval, products_pb2.Interval, "INTERVAL_")
TIER_MODE_CODEC = EnumCodec(TierMode, products_pb2.TierMode, "TIER_MODE_")
DURATION_CODEC = EnumCodec(DiscountDuration, discounts_pb2.DiscountDuration, "DISCOUNT_DURATION_")
INELIGIBILITY_CODEC = EnumCodec(
    Ineligibility, discounts_pb2.DiscountIneligibility, "DISCOUNT_INELIGIBILITY_"
)


def _check_amount_types() -> None:
    """AmountType's values are the fields of Price's `amount` oneof, exactly."""
    oneof = products_pb2.Price.DESCRIPTOR.oneofs_by_name["amount"]
    fields = {field.name for field in oneof.fields}
    if fields != set(AmountType):
        raise TypeError(f"AmountType {sorted(AmountType)} is not Price.amount's {sorted(fields)}")


_check_amount_types()

# ---- requests to domain inputs ----------------------------------------------


def period_spec(message: products_pb2.Period) -> PeriodSpec:
    return PeriodSpec(INTERVAL_CODEC.from_proto(message.interval), message.count)


def _period_if(given: bool, message: products_pb2.Period) -> PeriodSpec | None:
    return period_spec(message) if given else None


def price_draft(message: products_pb2.Price) -> PriceDraft:
    """The price a request gives; the amounts of its oneof, nothing else."""
    kind = message.WhichOneof("amount")
    recurring = _period_if(message.HasField("recurring"), message.recurring)
    if kind is None:
        return PriceDraft(message.currency, recurring)
    amount_type = AmountType(kind)
    if amount_type is AmountType.FIXED:
        return PriceDraft(
            message.currency, recurring, amount_type, amount_minor=message.fixed.amount_minor
        )
    if amount_type is AmountType.CUSTOM:
        custom = message.custom
        return PriceDraft(
            message.currency,
            recurring,
            amount_type,
            minimum_amount_minor=custom.minimum_amount_minor,
            maximum_amount_minor=(
                custom.maximum_amount_minor if custom.HasField("maximum_amount_minor") else None
            ),
            preset_amount_minor=(
                custom.preset_amount_minor if custom.HasField("preset_amount_minor") else None
            ),
        )
    if amount_type is AmountType.METERED_UNIT:
        metered = message.metered_unit
        return PriceDraft(
            message.currency,
            recurring,
            amount_type,
            unit_amount=metered.unit_amount,
            meter_id=metered.meter_id,
            cap_amount_minor=(
                metered.cap_amount_minor if metered.HasField("cap_amount_minor") else None
            ),
        )
    if amount_type is AmountType.SEAT_BASED:
        seats = message.seat_based
        return PriceDraft(
            message.currency,
            recurring,
            amount_type,
            tier_mode=TIER_MODE_CODEC.from_proto(seats.tier_mode),
            tiers=tuple(
                SeatTier(
                    tier.from_seats,
                    tier.to_seats if tier.HasField("to_seats") else None,
                    tier.amount_per_seat_minor,
                )
                for tier in seats.tiers
            ),
        )
    return PriceDraft(message.currency, recurring, amount_type)


def product_draft(message: products_pb2.Product) -> ProductDraft:
    metadata = MetadataReader()
    draft = ProductDraft(
        name=message.name,
        description=message.description,
        recurring=_period_if(message.HasField("recurring"), message.recurring),
        trial=_period_if(message.HasField("trial"), message.trial),
        metadata=metadata.read(message.metadata, "product.metadata"),
        public_metadata=metadata.read(message.public_metadata, "product.public_metadata"),
        archived=message.archived,
        prices=tuple(price_draft(price) for price in message.prices),
    )
    metadata.raise_if_any()
    return draft


def _moment(message: timestamp_pb2.Timestamp) -> dt.datetime:
    return message.ToDatetime(tzinfo=dt.UTC)


def discount_draft(message: discounts_pb2.Discount) -> DiscountDraft:
    metadata = MetadataReader()
    effect = message.WhichOneof("effect")
    draft = DiscountDraft(
        name=message.name,
        code=message.code,
        basis_points=message.percent_off.basis_points if effect == "percent_off" else None,
        amounts_off=(
            tuple((m.currency, m.amount_minor) for m in message.amount_off.amounts)
            if effect == "amount_off"
            else None
        ),
        duration=DURATION_CODEC.from_proto(message.duration),
        duration_in_intervals=message.duration_in_intervals,
        max_redemptions=message.max_redemptions if message.HasField("max_redemptions") else None,
        starts_at=_moment(message.start_time) if message.HasField("start_time") else None,
        ends_at=_moment(message.end_time) if message.HasField("end_time") else None,
        product_ids=tuple(message.product_ids),
        metadata=metadata.read(message.metadata, "discount.metadata"),
    )
    metadata.raise_if_any()
    return draft


def discount_lookup(request: discounts_pb2.ValidateDiscountRequest) -> DiscountLookup:
    discount_id = parse_id(request.discount_id, "discount_id") if request.discount_id else None
    return DiscountLookup(code=request.code, discount_id=discount_id)


def purchase(
    request: discounts_pb2.ValidateDiscountRequest | discounts_pb2.RedeemDiscountRequest,
) -> Purchase:
    moment = None
    if isinstance(request, discounts_pb2.ValidateDiscountRequest) and request.HasField("time"):
        moment = _moment(request.time)
    return Purchase(parse_id(request.product_id, "product_id"), request.currency, moment)


def redemption_draft(request: discounts_pb2.RedeemDiscountRequest) -> RedemptionDraft:
    customer_id = parse_id(request.customer_id, "customer_id") if request.customer_id else None
    return RedemptionDraft(request.reference, purchase(request), customer_id)


# ---- rows to messages ---------------------------------------------------------


def period_message(interval: str | None, count: int | None) -> products_pb2.Period | None:
    if interval is None:
        return None
    return products_pb2.Period(
        interval=products_pb2.Interval.ValueType(INTERVAL_CODEC.to_proto(Interval(interval))),
        count=count or 1,
    )


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
    kind = AmountType(price.amount_type)
    if kind is AmountType.FIXED:
        message.fixed.amount_minor = price.amount_minor or 0
    elif kind is AmountType.FREE:
        message.free.SetInParent()
    elif kind is AmountType.CUSTOM:
        message.custom.minimum_amount_minor = price.minimum_amount_minor or 0
        if price.maximum_amount_minor is not None:
            message.custom.maximum_amount_minor = price.maximum_amount_minor
        if price.preset_amount_minor is not None:
            message.custom.preset_amount_minor = price.preset_amount_minor
    elif kind is AmountType.METERED_UNIT:
        message.metered_unit.unit_amount = _plain(price.unit_amount)
        message.metered_unit.meter_id = str(price.meter_id)
        if price.cap_amount_minor is not None:
            message.metered_unit.cap_amount_minor = price.cap_amount_minor
    elif kind is AmountType.SEAT_BASED:
        mode = TierMode(price.tier_mode or TierMode.VOLUME)
        message.seat_based.tier_mode = products_pb2.TierMode.ValueType(
            TIER_MODE_CODEC.to_proto(mode)
        )
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
        metadata=metadata_to_proto(product.metadata),
        public_metadata=metadata_to_proto(product.public_metadata),
        archived=product.archived_at is not None,
        prices=[price_message(price) for price in view.prices],
        create_time=timestamp(product.created_at),
        update_time=timestamp(product.updated_at),
    )


def public_product_message(view: ProductView) -> public_pb2.PublicProduct:
    """A product as public pages show it: no metadata, no archived prices."""
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
    duration = DURATION_CODEC.to_proto(DiscountDuration(discount.duration))
    message = discounts_pb2.Discount(
        id=str(discount.id),
        organization_id=str(discount.organization_id),
        name=discount.name,
        code=discount.code or "",
        duration=discounts_pb2.DiscountDuration.ValueType(duration),
        duration_in_intervals=discount.duration_in_intervals or 0,
        redemption_count=discount.redemption_count,
        start_time=timestamp(discount.starts_at),
        end_time=timestamp(discount.ends_at),
        product_ids=[str(p) for p in discount.product_ids],
        metadata=metadata_to_proto(discount.metadata),
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


def ineligibility_value(
    reason: Ineligibility | None,
) -> discounts_pb2.DiscountIneligibility.ValueType:
    if reason is None:
        return discounts_pb2.DISCOUNT_INELIGIBILITY_UNSPECIFIED
    return discounts_pb2.DiscountIneligibility.ValueType(INELIGIBILITY_CODEC.to_proto(reason))


def redemption_message(redemption: DiscountRedemption) -> discounts_pb2.DiscountRedemption:
    return discounts_pb2.DiscountRedemption(
        id=str(redemption.id),
        discount_id=str(redemption.discount_id),
        reference=redemption.reference,
        customer_id=str(redemption.customer_id) if redemption.customer_id else "",
        redeem_time=timestamp(redemption.redeemed_at),
    )


def _money(amounts: Mapping[str, int]) -> Sequence[money_pb2.Money]:
    return [money_pb2.Money(amount_minor=amounts[c], currency=c) for c in sorted(amounts)]


def _plain(value: object) -> str:
    """A Decimal as plain text without trailing zeros ("0.0125", never "1.25E-2")."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
