"""Conversions both ways: request messages to domain inputs (with the
violations a message alone can show), rows to API messages (for the servicers
and the events). The vocabularies' proto enums are mapped here, by codecs
checked against the StrEnums at import."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from billingos.catalog.v1 import (
    discounts_pb2,
    products_pb2,
    promotion_codes_pb2,
    public_pb2,
    purchases_pb2,
    taxes_pb2,
)
from billingos.common.v1 import address_pb2, money_pb2
from billingos_catalog.decimals import plain
from billingos_catalog.drafts import (
    BillingAddress,
    DiscountDraft,
    DiscountLookup,
    Order,
    PeriodSpec,
    PriceDraft,
    ProductDraft,
    PromotionCodeDraft,
    PurchaseDraft,
    RedemptionDraft,
    TaxRateDraft,
    TierDraft,
    UsageDraft,
)
from billingos_catalog.models import (
    Discount,
    DiscountRedemption,
    Price,
    PromotionCode,
    Purchase,
    TaxRate,
)
from billingos_catalog.views import ProductView, TaxSettingsView
from billingos_catalog.vocabulary import (
    AmountType,
    DiscountDuration,
    Ineligibility,
    Interval,
    PackageRounding,
    TaxBehavior,
    TierMode,
)
from billingos_kit.ids import parse_id
from billingos_kit.protoconv import MetadataReader, metadata_to_proto, timestamp
from billingos_kit.vocabulary import EnumCodec
from billingos_pricing.amounts import SeatTier

INTERVAL_CODEC = EnumCodec(Interval, products_pb2.Interval, "INTERVAL_")
TIER_MODE_CODEC = EnumCodec(TierMode, products_pb2.TierMode, "TIER_MODE_")
ROUNDING_CODEC = EnumCodec(PackageRounding, products_pb2.PackageRounding, "PACKAGE_ROUNDING_")


class _TaxBehaviorCodec:
    """TaxBehavior both ways. Not an EnumCodec: TAX_BEHAVIOR_UNSPECIFIED is a
    value a caller chooses (the organization's default), not a missing one.
    Checked against the proto enum at import, as EnumCodec is."""

    def __init__(self) -> None:
        self._to_proto: dict[TaxBehavior, int] = {
            m: int(products_pb2.TaxBehavior.Value(f"TAX_BEHAVIOR_{m.name}")) for m in TaxBehavior
        }
        self._from_proto: dict[int, TaxBehavior] = {
            number: member for member, number in self._to_proto.items()
        }
        if len(self._from_proto) != len(products_pb2.TaxBehavior.keys()):
            raise TypeError("TaxBehavior does not name every TAX_BEHAVIOR_ value")

    def to_proto(self, value: TaxBehavior) -> products_pb2.TaxBehavior.ValueType:
        return products_pb2.TaxBehavior.ValueType(self._to_proto[value])

    def from_proto(self, number: int) -> TaxBehavior | None:
        """The member, or None for a number this build does not know."""
        return self._from_proto.get(number)


TAX_BEHAVIOR_CODEC = _TaxBehaviorCodec()
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


MeteredMessage = (
    products_pb2.MeteredUnitAmount
    | products_pb2.MeteredTiersAmount
    | products_pb2.MeteredPackageAmount
    | products_pb2.MeteredPercentageAmount
    | products_pb2.MeteredGraduatedPercentageAmount
)


def _optional(message: Message, field: str) -> int | None:
    return int(getattr(message, field)) if message.HasField(field) else None


def price_draft(
    message: products_pb2.Price, at: str = "price", metadata: MetadataReader | None = None
) -> PriceDraft:
    """The price a request gives (at the request path `at`): the amounts of
    its oneof, nothing else, and the fields that may change over its life.
    Its metadata's problems go to `metadata` when given (a product's reader),
    else are raised here."""
    reader = metadata or MetadataReader()
    draft = PriceDraft(
        currency=message.currency,
        recurring=_period_if(message.HasField("recurring"), message.recurring),
        lookup_key=message.lookup_key,
        nickname=message.nickname,
        metadata=reader.read(message.metadata, f"{at}.metadata"),
        tax_behavior=TAX_BEHAVIOR_CODEC.from_proto(message.tax_behavior),
        archived=message.archived,
    )
    if metadata is None:
        reader.raise_if_any()
    kind = message.WhichOneof("amount")
    return draft if kind is None else _with_amounts(draft, message, AmountType(kind))


def _with_amounts(draft: PriceDraft, message: products_pb2.Price, kind: AmountType) -> PriceDraft:
    """The draft with the amounts of the price's type."""
    if kind is AmountType.FIXED:
        return replace(draft, amount_type=kind, amount_minor=message.fixed.amount_minor)
    if kind is AmountType.CUSTOM:
        custom = message.custom
        return replace(
            draft,
            amount_type=kind,
            minimum_amount_minor=custom.minimum_amount_minor,
            maximum_amount_minor=_optional(custom, "maximum_amount_minor"),
            preset_amount_minor=_optional(custom, "preset_amount_minor"),
        )
    if kind is AmountType.SEAT_BASED:
        seats = message.seat_based
        return replace(
            draft,
            amount_type=kind,
            tier_mode=TIER_MODE_CODEC.from_proto(seats.tier_mode),
            tiers=tuple(
                SeatTier(
                    tier.from_seats,
                    tier.to_seats if tier.HasField("to_seats") else None,
                    tier.amount_per_seat_minor,
                )
                for tier in seats.tiers
            ),
            minimum_seats=_optional(seats, "minimum_seats"),
            maximum_seats=_optional(seats, "maximum_seats"),
        )
    if kind.metered:
        return _with_metered(replace(draft, amount_type=kind), getattr(message, kind.value))
    return replace(draft, amount_type=kind)


def _with_metered(draft: PriceDraft, metered: MeteredMessage) -> PriceDraft:
    draft = replace(
        draft,
        meter_id=metered.meter_id,
        cap_amount_minor=_optional(metered, "cap_amount_minor"),
        minimum_spend_minor=_optional(metered, "minimum_spend_minor"),
    )
    if isinstance(metered, products_pb2.MeteredUnitAmount):
        return replace(draft, unit_amount=metered.unit_amount)
    if isinstance(metered, products_pb2.MeteredTiersAmount):
        tiers = tuple(
            TierDraft(up_to=t.up_to, unit_amount=t.unit_amount, flat_fee_minor=t.flat_fee_minor)
            for t in metered.tiers
        )
        return replace(
            draft,
            tier_mode=TIER_MODE_CODEC.from_proto(metered.tier_mode),
            usage=UsageDraft(tiers=tiers),
        )
    if isinstance(metered, products_pb2.MeteredPackageAmount):
        usage = UsageDraft(
            package_size=metered.package_size,
            amount_per_package=metered.amount_per_package,
            rounding=ROUNDING_CODEC.from_proto(metered.rounding),
            free_units=metered.free_units,
        )
        return replace(draft, usage=usage)
    if isinstance(metered, products_pb2.MeteredPercentageAmount):
        usage = UsageDraft(
            rate=metered.rate,
            fixed_fee_per_event=metered.fixed_fee_per_event,
            per_event_minimum=metered.per_event_minimum,
            per_event_maximum=metered.per_event_maximum,
        )
        return replace(draft, usage=usage)
    tiers = tuple(
        TierDraft(up_to=t.up_to, rate=t.rate, flat_fee_minor=t.flat_fee_minor)
        for t in metered.tiers
    )
    return replace(draft, usage=UsageDraft(tiers=tiers))


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
        prices=tuple(
            price_draft(price, f"product.prices[{index}]", metadata)
            for index, price in enumerate(message.prices)
        ),
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
        duration_in_months=message.duration_in_months,
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


def order(
    request: discounts_pb2.ValidateDiscountRequest | discounts_pb2.RedeemDiscountRequest,
) -> Order:
    moment = None
    if isinstance(request, discounts_pb2.ValidateDiscountRequest) and request.HasField("time"):
        moment = _moment(request.time)
    customer_id = parse_id(request.customer_id, "customer_id") if request.customer_id else None
    return Order(
        parse_id(request.product_id, "product_id"),
        request.currency,
        moment,
        customer_id,
        request.order_amount_minor,
    )


def redemption_draft(request: discounts_pb2.RedeemDiscountRequest) -> RedemptionDraft:
    code_id = request.promotion_code_id
    return RedemptionDraft(
        request.reference,
        order(request),
        parse_id(code_id, "promotion_code_id") if code_id else None,
    )


def promotion_code_draft(message: promotion_codes_pb2.PromotionCode) -> PromotionCodeDraft:
    metadata = MetadataReader()
    minimum = message.minimum_amount if message.HasField("minimum_amount") else None
    draft = PromotionCodeDraft(
        code=message.code,
        archived=message.archived,
        max_redemptions=_optional(message, "max_redemptions"),
        expires_at=_moment(message.expire_time) if message.HasField("expire_time") else None,
        first_purchase_only=message.first_purchase_only,
        customer_id=message.customer_id,
        minimum_amount=(minimum.currency, minimum.amount_minor) if minimum is not None else None,
        metadata=metadata.read(message.metadata, "promotion_code.metadata"),
    )
    metadata.raise_if_any()
    return draft


def purchase_draft(message: purchases_pb2.Purchase) -> PurchaseDraft:
    return PurchaseDraft(message.reference, message.customer_id, tuple(message.price_ids))


def tax_rate_draft(message: taxes_pb2.TaxRate) -> TaxRateDraft:
    metadata = MetadataReader()
    draft = TaxRateDraft(
        display_name=message.display_name,
        country=message.country,
        region=message.region,
        percentage=message.percentage,
        inclusive=message.inclusive,
        metadata=metadata.read(message.metadata, "tax_rate.metadata"),
    )
    metadata.raise_if_any()
    return draft


def billing_address(message: address_pb2.Address) -> BillingAddress:
    return BillingAddress(country=message.country, state=message.state)


# ---- rows to messages ---------------------------------------------------------


def period_message(interval: str | None, count: int | None) -> products_pb2.Period | None:
    if interval is None:
        return None
    return products_pb2.Period(
        interval=products_pb2.Interval.ValueType(INTERVAL_CODEC.to_proto(Interval(interval))),
        count=count or 1,
    )


def price_message(price: Price, *, public: bool = False) -> products_pb2.Price:
    """The price as the API shows it; `public`: as public pages do, without
    what the merchant keeps to itself (nickname, metadata, first use)."""
    message = products_pb2.Price(
        id=str(price.id),
        organization_id=str(price.organization_id),
        product_id=str(price.product_id),
        currency=price.currency,
        recurring=period_message(price.recurring_interval, price.recurring_count),
        archived=price.archived_at is not None,
        create_time=timestamp(price.created_at),
        update_time=timestamp(price.updated_at),
        lookup_key=price.lookup_key or "",
        tax_behavior=TAX_BEHAVIOR_CODEC.to_proto(TaxBehavior(price.tax_behavior)),
    )
    if not public:
        message.nickname = price.nickname
        for key, value in metadata_to_proto(price.metadata).items():
            message.metadata[key].CopyFrom(value)
        first_use = timestamp(price.first_used_at)
        if first_use is not None:
            message.first_use_time.CopyFrom(first_use)
    _set_amounts(message, price)
    return message


def _set_amounts(message: products_pb2.Price, price: Price) -> None:
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
    elif kind.metered:
        _set_metered(getattr(message, kind.value), price)
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
        if price.minimum_seats is not None:
            message.seat_based.minimum_seats = price.minimum_seats
        if price.maximum_seats is not None:
            message.seat_based.maximum_seats = price.maximum_seats


def _set_metered(metered: MeteredMessage, price: Price) -> None:
    metered.meter_id = str(price.meter_id)
    if price.cap_amount_minor is not None:
        metered.cap_amount_minor = price.cap_amount_minor
    if price.minimum_spend_minor is not None:
        metered.minimum_spend_minor = price.minimum_spend_minor
    if isinstance(metered, products_pb2.MeteredUnitAmount):
        metered.unit_amount = plain(price.unit_amount) or ""
    elif isinstance(metered, products_pb2.MeteredTiersAmount):
        mode = TierMode(price.tier_mode or TierMode.VOLUME)
        metered.tier_mode = products_pb2.TierMode.ValueType(TIER_MODE_CODEC.to_proto(mode))
        for tier in price.usage_tiers or []:
            metered.tiers.add(
                up_to=tier["up_to"] or "",
                unit_amount=_empty_for_zero(tier["unit_amount"]),
                flat_fee_minor=tier["flat_fee_minor"],
            )
    elif isinstance(metered, products_pb2.MeteredPackageAmount):
        rounding = PackageRounding(price.package_rounding or PackageRounding.UP)
        metered.package_size = price.package_size or 0
        metered.amount_per_package = plain(price.amount_per_package) or ""
        metered.rounding = products_pb2.PackageRounding.ValueType(ROUNDING_CODEC.to_proto(rounding))
        metered.free_units = _empty_for_zero(plain(price.free_units))
    elif isinstance(metered, products_pb2.MeteredPercentageAmount):
        metered.rate = plain(price.percentage_rate) or ""
        metered.fixed_fee_per_event = _empty_for_zero(plain(price.fixed_fee_per_event))
        metered.per_event_minimum = plain(price.per_event_minimum) or ""
        metered.per_event_maximum = plain(price.per_event_maximum) or ""
    else:
        for tier in price.usage_tiers or []:
            metered.tiers.add(
                up_to=tier["up_to"] or "", rate=tier["rate"], flat_fee_minor=tier["flat_fee_minor"]
            )


def _empty_for_zero(text: str | None) -> str:
    """What the API writes as empty for 0 (a fee, free units, a tier's unit
    amount), as the request may have written it."""
    return "" if text in (None, "0") else str(text)


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
        benefit_ids=[str(benefit_id) for benefit_id in product.benefit_ids],
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
        prices=[price_message(price, public=True) for price in view.prices],
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
        duration_in_months=discount.duration_in_months or 0,
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
        promotion_code_id=_text(redemption.promotion_code_id),
        release_time=timestamp(redemption.released_at),
    )


def promotion_code_message(code: PromotionCode) -> promotion_codes_pb2.PromotionCode:
    message = promotion_codes_pb2.PromotionCode(
        id=str(code.id),
        organization_id=str(code.organization_id),
        discount_id=str(code.discount_id),
        code=code.code,
        archived=code.archived_at is not None,
        redemption_count=code.redemption_count,
        expire_time=timestamp(code.expires_at),
        first_purchase_only=code.first_purchase_only,
        customer_id=_text(code.customer_id),
        metadata=metadata_to_proto(code.metadata),
        create_time=timestamp(code.created_at),
        update_time=timestamp(code.updated_at),
    )
    if code.max_redemptions is not None:
        message.max_redemptions = code.max_redemptions
    if code.minimum_amount_minor is not None and code.minimum_amount_currency is not None:
        message.minimum_amount.CopyFrom(
            money_pb2.Money(
                amount_minor=code.minimum_amount_minor, currency=code.minimum_amount_currency
            )
        )
    return message


def purchase_message(purchase: Purchase) -> purchases_pb2.Purchase:
    return purchases_pb2.Purchase(
        id=str(purchase.id),
        organization_id=str(purchase.organization_id),
        reference=purchase.reference,
        customer_id=str(purchase.customer_id),
        price_ids=[str(price_id) for price_id in purchase.price_ids],
        purchase_time=timestamp(purchase.purchased_at),
        abandon_time=timestamp(purchase.abandoned_at),
    )


def tax_rate_message(rate: TaxRate) -> taxes_pb2.TaxRate:
    return taxes_pb2.TaxRate(
        id=str(rate.id),
        organization_id=str(rate.organization_id),
        display_name=rate.display_name,
        country=rate.country,
        region=rate.region,
        percentage=plain(rate.percentage) or "0",
        inclusive=rate.inclusive,
        metadata=metadata_to_proto(rate.metadata),
        create_time=timestamp(rate.created_at),
        update_time=timestamp(rate.updated_at),
    )


def tax_settings_message(settings: TaxSettingsView) -> taxes_pb2.TaxSettings:
    return taxes_pb2.TaxSettings(
        id=str(settings.organization_id),
        default_tax_behavior=TAX_BEHAVIOR_CODEC.to_proto(settings.default_tax_behavior),
        update_time=timestamp(settings.updated_at),
    )


def _text(value: object | None) -> str:
    return "" if value is None else str(value)


def _money(amounts: Mapping[str, int]) -> Sequence[money_pb2.Money]:
    return [money_pb2.Money(amount_minor=amounts[c], currency=c) for c in sorted(amounts)]
