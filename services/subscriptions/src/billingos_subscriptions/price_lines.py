"""What a bought price charges, from the catalog's Price message (the
subscription's snapshot) through billingos_pricing's models: a static
price's amount for a period, a metered price's amount for a quantity. The
arithmetic is the pricing package's; this module only reads the message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from billingos.catalog.v1 import products_pb2
from billingos_kit.errors import FailedPrecondition
from billingos_pricing import amounts, packages, percentages, usage_tiers
from billingos_pricing.invoices import TaxBehavior
from billingos_subscriptions.periods import BillingInterval, IntervalUnit

METERED_KINDS = frozenset(
    {
        "metered_unit",
        "metered_tiers",
        "metered_package",
        "metered_percentage",
        "metered_graduated_percentage",
    }
)


def kind_of(price: products_pb2.Price) -> str:
    return price.WhichOneof("amount") or ""


def is_metered(price: products_pb2.Price) -> bool:
    return kind_of(price) in METERED_KINDS


def meter_of(price: products_pb2.Price) -> uuid.UUID | None:
    kind = kind_of(price)
    if kind not in METERED_KINDS:
        return None
    return uuid.UUID(getattr(price, kind).meter_id)


def interval_of(period: products_pb2.Period) -> BillingInterval:
    """A checked period as periods.py's interval (ValueError otherwise)."""
    unit = _UNITS.get(period.interval)
    if unit is None:
        raise ValueError(f"{period.interval} is not an interval")
    return BillingInterval(unit, period.count or 1)


_UNITS = {
    products_pb2.INTERVAL_DAY: IntervalUnit.DAY,
    products_pb2.INTERVAL_WEEK: IntervalUnit.WEEK,
    products_pb2.INTERVAL_MONTH: IntervalUnit.MONTH,
    products_pb2.INTERVAL_YEAR: IntervalUnit.YEAR,
}


def tax_behavior_of(price: products_pb2.Price) -> TaxBehavior:
    if price.tax_behavior == products_pb2.TAX_BEHAVIOR_INCLUSIVE:
        return TaxBehavior.INCLUSIVE
    if price.tax_behavior == products_pb2.TAX_BEHAVIOR_EXCLUSIVE:
        return TaxBehavior.EXCLUSIVE
    return TaxBehavior.UNSPECIFIED


def check_subscribable(price: products_pb2.Price, field: str) -> None:
    """Prices the engine cannot bill on a schedule are refused when bought,
    not discovered at the first renewal."""
    kind = kind_of(price)
    if kind == "custom":
        raise FailedPrecondition(
            f"{field}: a pay-what-you-want price is for one-time purchases, not subscriptions",
            reason="PRICE_NOT_SUBSCRIBABLE",
        )
    if kind == "metered_percentage" and (
        price.metered_percentage.per_event_minimum or price.metered_percentage.per_event_maximum
    ):
        raise FailedPrecondition(
            f"{field}: per-event minimums and maximums need each event's value, "
            "which usage billing does not read yet",
            reason="PRICE_NOT_SUBSCRIBABLE",
        )
    if not kind:
        raise FailedPrecondition(
            f"{field}: the price has no amount", reason="PRICE_NOT_SUBSCRIBABLE"
        )


def seat_limits(price: products_pb2.Price) -> tuple[int, int | None]:
    seat = price.seat_based
    minimum = seat.minimum_seats if seat.HasField("minimum_seats") else 1
    maximum = seat.maximum_seats if seat.HasField("maximum_seats") else None
    return max(minimum, 1), maximum


@dataclass(frozen=True, slots=True)
class StaticCharge:
    """A static price's charge for one whole period."""

    kind: str  # "plan" or "seats"
    amount_minor: int
    quantity: str


def static_charge(price: products_pb2.Price, seats: int) -> StaticCharge:
    kind = kind_of(price)
    if kind == "fixed":
        return StaticCharge("plan", price.fixed.amount_minor, "1")
    if kind == "free":
        return StaticCharge("plan", 0, "1")
    if kind == "seat_based":
        seat = price.seat_based
        tiers = [
            amounts.SeatTier(
                tier.from_seats,
                tier.to_seats if tier.HasField("to_seats") else None,
                tier.amount_per_seat_minor,
            )
            for tier in seat.tiers
        ]
        return StaticCharge(
            "seats", amounts.seat_amount(tiers, _mode(seat.tier_mode), seats), str(seats)
        )
    raise ValueError(f"price {price.id} is not a static price ({kind})")


@dataclass(frozen=True, slots=True)
class UsageCharge:
    """A metered price's charge for a period's quantity: the usage line's
    amount (rounded once by the model), its cap, and the minimum spend the
    period tops up to."""

    amount_minor: int
    cap_minor: int | None
    minimum_spend_minor: int | None


def usage_charge(price: products_pb2.Price, quantity: Decimal, event_count: int) -> UsageCharge:
    kind = kind_of(price)
    if kind == "metered_unit":
        unit = price.metered_unit
        return UsageCharge(
            amounts.metered_amount(amounts.parse_unit_amount(unit.unit_amount), quantity),
            _optional(unit, "cap_amount_minor"),
            _optional(unit, "minimum_spend_minor"),
        )
    if kind == "metered_tiers":
        tiered = price.metered_tiers
        tiers = [
            usage_tiers.UsageTier(
                Decimal(tier.up_to) if tier.up_to else None,
                Decimal(tier.unit_amount or "0"),
                tier.flat_fee_minor,
            )
            for tier in tiered.tiers
        ]
        return UsageCharge(
            usage_tiers.tiered_amount(tiers, _mode(tiered.tier_mode), quantity),
            _optional(tiered, "cap_amount_minor"),
            _optional(tiered, "minimum_spend_minor"),
        )
    if kind == "metered_package":
        package = price.metered_package
        model = packages.PackagePrice(
            package_size=package.package_size,
            amount_per_package=Decimal(package.amount_per_package),
            rounding=(
                packages.PackageRounding.DOWN
                if package.rounding == products_pb2.PACKAGE_ROUNDING_DOWN
                else packages.PackageRounding.UP
            ),
            free_units=Decimal(package.free_units or "0"),
        )
        return UsageCharge(
            packages.package_amount(model, quantity),
            _optional(package, "cap_amount_minor"),
            _optional(package, "minimum_spend_minor"),
        )
    if kind == "metered_percentage":
        percentage = price.metered_percentage
        model_price = percentages.PercentagePrice(
            rate=Decimal(percentage.rate),
            fixed_fee_per_event=Decimal(percentage.fixed_fee_per_event or "0"),
        )
        return UsageCharge(
            percentages.percentage_amount(
                model_price, percentages.SummedUsage(quantity, event_count)
            ),
            _optional(percentage, "cap_amount_minor"),
            _optional(percentage, "minimum_spend_minor"),
        )
    if kind == "metered_graduated_percentage":
        graduated = price.metered_graduated_percentage
        tiers_pct = [
            percentages.PercentageTier(
                Decimal(tier.up_to) if tier.up_to else None, Decimal(tier.rate), tier.flat_fee_minor
            )
            for tier in graduated.tiers
        ]
        return UsageCharge(
            percentages.graduated_percentage_amount(tiers_pct, quantity),
            _optional(graduated, "cap_amount_minor"),
            _optional(graduated, "minimum_spend_minor"),
        )
    raise ValueError(f"price {price.id} is not a metered price ({kind})")


def _mode(mode: products_pb2.TierMode.ValueType) -> amounts.TierMode:
    return (
        amounts.TierMode.GRADUATED
        if mode == products_pb2.TIER_MODE_GRADUATED
        else amounts.TierMode.VOLUME
    )


def _optional(message: object, field: str) -> int | None:
    has = getattr(message, "HasField")  # noqa: B009 - protobuf messages
    return int(getattr(message, field)) if has(field) else None
