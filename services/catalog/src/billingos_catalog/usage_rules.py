"""The rules of metered prices: what every one needs (a recurring product, a
meter, an optional cap and minimum spend) and each usage model's own, which
billingos_pricing's checkers decide (usage_tiers, packages, percentages,
minimums), so the catalog accepts exactly what the billing arithmetic can
price. Decimals arrive as text and are parsed here; every problem is named by
its request path (`price.metered_tiers.tiers[2].up_to`). Pure: no database,
no protobuf.

Also the way back: `usage_model` turns a stored price into the pricing
library's model, which the billing engine charges with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billingos_catalog.decimals import parse_decimal, plain
from billingos_catalog.drafts import PriceDraft, TierDraft
from billingos_catalog.models import Price
from billingos_catalog.vocabulary import AmountType, PackageRounding, TierMode
from billingos_kit.ids import canonical_id
from billingos_kit.validation import Violations
from billingos_pricing import amounts, packages
from billingos_pricing.amounts import MAX_AMOUNT_MINOR, PricingError, parse_unit_amount
from billingos_pricing.minimums import check_minimum_spend
from billingos_pricing.packages import PackagePrice, check_package_price
from billingos_pricing.percentages import (
    PercentagePrice,
    PercentageTier,
    check_percentage_price,
    check_percentage_tiers,
)
from billingos_pricing.usage_tiers import MAX_USAGE_TIERS, UsageTier, check_usage_tiers

_NOT_A_DECIMAL = "must be a plain decimal number, e.g. 0.0125"


@dataclass(frozen=True)
class TieredUsage:
    """Usage tiers and how they price a quantity (usage_tiers.tiered_amount)."""

    mode: amounts.TierMode
    tiers: tuple[UsageTier, ...]


@dataclass(frozen=True)
class GraduatedPercentages:
    """Percentage tiers on a summed value
    (percentages.graduated_percentage_amount)."""

    tiers: tuple[PercentageTier, ...]


UsageModel = Decimal | TieredUsage | PackagePrice | PercentagePrice | GraduatedPercentages
"""A metered price's model in billingos_pricing's terms (a Decimal: the unit
amount of a unit price, metered_amount)."""


def check_metered(
    violations: Violations, at: str, draft: PriceDraft, kind: AmountType, product_recurring: bool
) -> None:
    """Every rule of a metered price of type `kind`, under `at` (its oneof
    field, e.g. `price.metered_package`)."""
    if not product_recurring:
        violations.add(at, "metered prices need a recurring product (usage is billed per period)")
    if canonical_id(draft.meter_id) is None:
        violations.add(f"{at}.meter_id", "must be a meter id (canonical UUID form)")
    _check_period_bounds(violations, at, draft)
    for problem in _model_problems(at, draft, kind):
        violations.add(problem.field, problem.message)


def _check_period_bounds(violations: Violations, at: str, draft: PriceDraft) -> None:
    cap, minimum = draft.cap_amount_minor, draft.minimum_spend_minor
    cap_ok = cap is None or 0 < cap <= MAX_AMOUNT_MINOR
    if not cap_ok:
        violations.add(f"{at}.cap_amount_minor", f"must be between 1 and {MAX_AMOUNT_MINOR}")
    if minimum is None:
        return
    problems = check_minimum_spend(minimum, f"{at}.minimum_spend_minor")
    if not problems and minimum == 0:
        problems = [
            PricingError(f"{at}.minimum_spend_minor", "must be at least 1 (unset for none)")
        ]
    for problem in problems:
        violations.add(problem.field, problem.message)
    if not problems and cap_ok and cap is not None and minimum > cap:
        violations.add(
            f"{at}.minimum_spend_minor",
            f"must not be above cap_amount_minor ({cap}): the minimum would exceed the maximum",
        )


def _model_problems(at: str, draft: PriceDraft, kind: AmountType) -> list[PricingError]:
    """The model's problems: what is no decimal or no known value, else what
    the pricing library's checker finds. (A model with unreadable parts is not
    checked: a stand-in value would be reported against its neighbours.)"""
    parsed = _Parser()
    model = _parse_model(parsed, at, draft, kind)
    if parsed.problems or model is None:
        return parsed.problems
    return _checker_problems(at, model)


def _checker_problems(at: str, model: UsageModel) -> list[PricingError]:
    if isinstance(model, PackagePrice):
        return check_package_price(model, at)
    if isinstance(model, PercentagePrice):
        return check_percentage_price(model, at)
    if isinstance(model, TieredUsage):
        return check_usage_tiers(model.tiers, f"{at}.tiers")
    if isinstance(model, GraduatedPercentages):
        return check_percentage_tiers(model.tiers, f"{at}.tiers")
    return []  # a unit amount is checked as it is parsed


def _parse_model(
    parsed: _Parser, at: str, draft: PriceDraft, kind: AmountType
) -> UsageModel | None:
    usage = draft.usage
    if kind is AmountType.METERED_UNIT:
        try:
            return parse_unit_amount(draft.unit_amount, f"{at}.unit_amount")
        except PricingError as problem:
            parsed.problems.append(problem)
            return None
    if kind is AmountType.METERED_TIERS:
        mode = _tier_mode(draft.tier_mode)
        if mode is None:
            parsed.problems.append(
                PricingError(f"{at}.tier_mode", "must be TIER_MODE_VOLUME or _GRADUATED")
            )
            mode = amounts.TierMode.VOLUME
        if len(usage.tiers) > MAX_USAGE_TIERS:
            parsed.problems.append(
                PricingError(f"{at}.tiers", f"must have at most {MAX_USAGE_TIERS} tiers")
            )
            return None
        tiers = (_usage_tier(parsed, f"{at}.tiers[{i}]", t) for i, t in enumerate(usage.tiers))
        return TieredUsage(mode, tuple(tiers))
    if kind is AmountType.METERED_PACKAGE:
        rounding = _package_rounding(usage.rounding)
        if rounding is None:
            parsed.problems.append(
                PricingError(f"{at}.rounding", "must be PACKAGE_ROUNDING_UP or _DOWN")
            )
            rounding = packages.PackageRounding.UP
        return PackagePrice(
            package_size=usage.package_size,
            amount_per_package=parsed.decimal(usage.amount_per_package, f"{at}.amount_per_package"),
            rounding=rounding,
            free_units=parsed.decimal(usage.free_units, f"{at}.free_units", empty=Decimal(0)),
        )
    if kind is AmountType.METERED_PERCENTAGE:
        return PercentagePrice(
            rate=parsed.decimal(usage.rate, f"{at}.rate"),
            fixed_fee_per_event=parsed.decimal(
                usage.fixed_fee_per_event, f"{at}.fixed_fee_per_event", empty=Decimal(0)
            ),
            per_event_minimum=parsed.optional(usage.per_event_minimum, f"{at}.per_event_minimum"),
            per_event_maximum=parsed.optional(usage.per_event_maximum, f"{at}.per_event_maximum"),
        )
    if kind is AmountType.METERED_GRADUATED_PERCENTAGE:
        if len(usage.tiers) > MAX_USAGE_TIERS:
            parsed.problems.append(
                PricingError(f"{at}.tiers", f"must have at most {MAX_USAGE_TIERS} tiers")
            )
            return None
        return GraduatedPercentages(
            tuple(
                _percentage_tier(parsed, f"{at}.tiers[{i}]", t) for i, t in enumerate(usage.tiers)
            )
        )
    raise ValueError(f"{kind} is not a metered type")


def _usage_tier(parsed: _Parser, at: str, tier: TierDraft) -> UsageTier:
    return UsageTier(
        up_to=parsed.optional(tier.up_to, f"{at}.up_to"),
        unit_amount=parsed.decimal(tier.unit_amount, f"{at}.unit_amount", empty=Decimal(0)),
        flat_fee_minor=tier.flat_fee_minor,
    )


def _percentage_tier(parsed: _Parser, at: str, tier: TierDraft) -> PercentageTier:
    return PercentageTier(
        up_to=parsed.optional(tier.up_to, f"{at}.up_to"),
        rate=parsed.decimal(tier.rate, f"{at}.rate"),
        flat_fee_minor=tier.flat_fee_minor,
    )


class _Parser:
    """Parses the decimals of one request, keeping a problem per bad field
    (which then reads as a stand-in, never checked)."""

    def __init__(self) -> None:
        self.problems: list[PricingError] = []

    def decimal(self, text: str, field: str, *, empty: Decimal | None = None) -> Decimal:
        if not text.strip() and empty is not None:
            return empty
        value = parse_decimal(text)
        if value is None:
            self.problems.append(PricingError(field, _NOT_A_DECIMAL))
            return Decimal(1)
        return value

    def optional(self, text: str, field: str) -> Decimal | None:
        return None if not text.strip() else self.decimal(text, field)


def _tier_mode(mode: TierMode | None) -> amounts.TierMode | None:
    return None if mode is None else amounts.TierMode(mode.value)


def _package_rounding(rounding: PackageRounding | None) -> packages.PackageRounding | None:
    return None if rounding is None else packages.PackageRounding(rounding.value)


# ---- rows ----------------------------------------------------------------------


def metered_columns(draft: PriceDraft, kind: AmountType) -> dict[str, Any]:
    """The row's columns for a metered draft `check_metered` passed."""
    parsed = _Parser()
    model = _parse_model(parsed, "price", draft, kind)
    if parsed.problems or model is None:
        raise ValueError("a metered price with problems was not checked")
    columns: dict[str, Any] = {
        "meter_id": uuid.UUID(draft.meter_id),
        "cap_amount_minor": draft.cap_amount_minor,
        "minimum_spend_minor": draft.minimum_spend_minor,
    }
    if isinstance(model, Decimal):
        columns["unit_amount"] = model
    elif isinstance(model, PackagePrice):
        columns.update(
            package_size=model.package_size,
            amount_per_package=model.amount_per_package,
            package_rounding=model.rounding.value,
            free_units=model.free_units,
        )
    elif isinstance(model, PercentagePrice):
        columns.update(
            percentage_rate=model.rate,
            fixed_fee_per_event=model.fixed_fee_per_event,
            per_event_minimum=model.per_event_minimum,
            per_event_maximum=model.per_event_maximum,
        )
    elif isinstance(model, TieredUsage):
        columns["tier_mode"] = model.mode.value
        columns["usage_tiers"] = [
            {
                "up_to": plain(t.up_to),
                "unit_amount": plain(t.unit_amount),
                "flat_fee_minor": t.flat_fee_minor,
            }
            for t in model.tiers
        ]
    else:
        columns["usage_tiers"] = [
            {"up_to": plain(t.up_to), "rate": plain(t.rate), "flat_fee_minor": t.flat_fee_minor}
            for t in model.tiers
        ]
    return columns


def usage_model(price: Price) -> UsageModel:
    """The stored price as billingos_pricing's model, for charging usage."""
    kind = AmountType(price.amount_type)
    if kind is AmountType.METERED_UNIT and price.unit_amount is not None:
        return price.unit_amount
    if kind is AmountType.METERED_TIERS and price.usage_tiers is not None:
        mode = amounts.TierMode(price.tier_mode or TierMode.VOLUME)
        return TieredUsage(
            mode,
            tuple(
                UsageTier(_stored(t["up_to"]), Decimal(t["unit_amount"]), int(t["flat_fee_minor"]))
                for t in price.usage_tiers
            ),
        )
    if kind is AmountType.METERED_PACKAGE:
        assert price.package_size is not None
        assert price.amount_per_package is not None
        return PackagePrice(
            package_size=price.package_size,
            amount_per_package=price.amount_per_package,
            rounding=packages.PackageRounding(price.package_rounding or "up"),
            free_units=price.free_units or Decimal(0),
        )
    if kind is AmountType.METERED_PERCENTAGE and price.percentage_rate is not None:
        return PercentagePrice(
            rate=price.percentage_rate,
            fixed_fee_per_event=price.fixed_fee_per_event or Decimal(0),
            per_event_minimum=price.per_event_minimum,
            per_event_maximum=price.per_event_maximum,
        )
    if kind is AmountType.METERED_GRADUATED_PERCENTAGE and price.usage_tiers is not None:
        return GraduatedPercentages(
            tuple(
                PercentageTier(_stored(t["up_to"]), Decimal(t["rate"]), int(t["flat_fee_minor"]))
                for t in price.usage_tiers
            )
        )
    raise ValueError(f"price {price.id} is not a metered price")


def _stored(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
