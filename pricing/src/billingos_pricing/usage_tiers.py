"""Tiered usage prices: a quantity priced at the tier it falls in (volume) or
piece by piece through every tier it crosses (graduated).

Tiers are given by their upper bounds, as Stripe's `up_to`: a tier holds the
quantities above the previous tier's bound (above 0 for the first) up to and
including its own, and the last tier has no bound. Written this way a gap
cannot be expressed at all, and an overlap or a wrong order shows as a bound
that does not grow, which the checker names. (Lago writes the same tiers as
"0–1,000, 1,001–10,000"; with decimal quantities that would leave 1,000.5 in
no tier, bounds alone leave nothing out.)

Each tier has a unit amount in minor units, sub-cent allowed (12 places), and
a flat fee in whole minor units, charged once when the quantity enters the
tier: for volume the one tier the quantity falls in, for graduated every tier
it reaches. A quantity of 0 enters no tier and costs nothing, as in Lago: a fee
owed whatever the usage is a fixed price, not a tier.

The charge is exact until the end and rounded once, half up (exact.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billingos_pricing.amounts import PricingError, TierMode
from billingos_pricing.exact import (
    QUANTITY_BELOW,
    charge_minor,
    checked_quantity,
    decimal_problems,
    exact,
    minor_problems,
    raise_first,
)

# As many as a seat-based price may have; no real price list is longer.
MAX_USAGE_TIERS = 50


@dataclass(frozen=True, slots=True)
class UsageTier:
    up_to: Decimal | None  # None: the last tier, no upper bound
    unit_amount: Decimal = Decimal(0)  # minor units per unit of usage
    flat_fee_minor: int = 0


def check_tier_bounds(bounds: Sequence[Decimal | None], field: str) -> list[PricingError]:
    """Every problem with a list of tier upper bounds (`{field}[i].up_to`):
    each above the one before (so above 0), only the last one unbounded.
    Shared by every tiered model, so all tiers mean the same quantities."""
    problems: list[PricingError] = []
    if not bounds:
        return [PricingError(field, "must have at least one tier")]
    if len(bounds) > MAX_USAGE_TIERS:
        problems.append(PricingError(field, f"must have at most {MAX_USAGE_TIERS} tiers"))
    highest: tuple[int, Decimal] | None = None
    for index, bound in enumerate(bounds):
        path = f"{field}[{index}].up_to"
        last = index == len(bounds) - 1
        if bound is None:
            if not last:
                problems.append(PricingError(path, "only the last tier is unbounded"))
            continue
        if last:
            problems.append(PricingError(path, "the last tier must be unbounded (no up_to)"))
        shape = decimal_problems(bound, path, below=QUANTITY_BELOW)
        if shape:
            problems.extend(shape)
            continue
        if highest is None and bound == 0:
            problems.append(PricingError(path, "must be greater than 0"))
        elif highest is not None and bound <= highest[1]:
            problems.append(
                PricingError(
                    path,
                    f"must be above {field}[{highest[0]}].up_to ({highest[1]:f}): "
                    "tiers overlap or are out of order",
                )
            )
        if highest is None or bound > highest[1]:
            highest = (index, bound)
    return problems


def check_usage_tiers(tiers: Sequence[UsageTier], field: str = "tiers") -> list[PricingError]:
    """Every problem with a tier list, each named by its path
    (`tiers[2].up_to`, `tiers[0].unit_amount`...)."""
    problems = check_tier_bounds([tier.up_to for tier in tiers], field)
    for index, tier in enumerate(tiers):
        problems += decimal_problems(tier.unit_amount, f"{field}[{index}].unit_amount")
        problems += minor_problems(tier.flat_fee_minor, f"{field}[{index}].flat_fee_minor")
    return problems


def tiered_charge(tiers: Sequence[UsageTier], mode: TierMode, quantity: Decimal) -> Decimal:
    """The exact, unrounded charge (tiers and quantity already checked): the
    one place tier arithmetic lives, graduated percentages included."""
    with exact():
        if quantity == 0:
            return Decimal(0)
        if mode is TierMode.VOLUME:
            tier = next(t for t in tiers if t.up_to is None or quantity <= t.up_to)
            return quantity * tier.unit_amount + tier.flat_fee_minor
        total, lower = Decimal(0), Decimal(0)
        for tier in tiers:
            if quantity <= lower:
                break
            upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
            total += (upper - lower) * tier.unit_amount + tier.flat_fee_minor
            if tier.up_to is None:
                break
            lower = tier.up_to
        return total


def tiered_amount(tiers: Sequence[UsageTier], mode: TierMode, quantity: Decimal) -> int:
    """The charge for `quantity` in minor units, rounded once; a PricingError
    for a bad tier list, a bad quantity, or a charge above the limit."""
    raise_first(check_usage_tiers(tiers))
    checked_quantity(quantity)
    return charge_minor(tiered_charge(tiers, mode, quantity), "quantity")
