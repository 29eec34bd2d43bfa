"""Percentage prices: a share of a summed value, as Lago's `percentage` and
`graduated_percentage` charge models.

The summed value is what metering adds up over the period (a transaction
amount in each event), read as minor units of the price's currency like every
amount in BillingOS: an event for 12.34 USD carries 1234. A rate is a
percentage, Decimal("2.9") for 2.9 %, from 0 to 100 with at most 10 decimal
places (so that rate / 100 has a unit amount's 12).

Flat percentage (`PercentagePrice`): each event costs rate × its value plus
the fixed fee per event, and with a per-event minimum or maximum that cost is
clamped event by event before the events are added up (Lago's
per_transaction_min_amount / per_transaction_max_amount). The input is either
the period's `SummedUsage` (total and event count), which is enough without a
minimum or maximum, or each event's value, which a minimum or maximum needs:
clamping a sum is not clamping its events, and a sum cannot be split back into
them, so a `SummedUsage` given to a price with a per-event bound is refused,
never approximated. Every event pays the fixed fee, a zero-value one included:
the fee is for the event, not for its value.

Graduated percentage (`PercentageTier`): the period's total is split across
tiers by their up_to bounds exactly as a graduated usage price
(usage_tiers.py), each part at its tier's rate, plus the flat fee of every
tier the total reaches, once per period.

Fees, minimums and maximums are in minor units (sub-cent allowed for the
per-event ones); the charge is exact until the end and rounded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billingos_pricing.amounts import PricingError, TierMode
from billingos_pricing.exact import (
    charge_minor,
    checked_quantity,
    decimal_problems,
    exact,
    minor_problems,
    raise_first,
)
from billingos_pricing.usage_tiers import UsageTier, check_tier_bounds, tiered_charge

MAX_RATE_PLACES = 10
HUNDRED_PERCENT = Decimal(100)
# Events in one period: far past any real count, and count × fee stays exact.
MAX_EVENT_COUNT = 10**12


@dataclass(frozen=True, slots=True)
class PercentagePrice:
    rate: Decimal  # percent of each event's value
    fixed_fee_per_event: Decimal = Decimal(0)  # minor units
    per_event_minimum: Decimal | None = None  # minor units, clamps each event's cost
    per_event_maximum: Decimal | None = None

    @property
    def bounds_events(self) -> bool:
        """Whether each event's cost is clamped, so each event's value is needed."""
        return self.per_event_minimum is not None or self.per_event_maximum is not None


@dataclass(frozen=True, slots=True)
class SummedUsage:
    """A period's events as metering aggregates them: the sum of their values
    and how many there were."""

    total: Decimal
    event_count: int


@dataclass(frozen=True, slots=True)
class PercentageTier:
    up_to: Decimal | None  # on the summed value; None: the last tier
    rate: Decimal  # percent of the part of the total inside the tier
    flat_fee_minor: int = 0


def check_percentage_price(price: PercentagePrice, field: str = "percentage") -> list[PricingError]:
    """Every problem with a percentage price, each named by its path."""
    problems = _rate_problems(price.rate, f"{field}.rate")
    problems += decimal_problems(price.fixed_fee_per_event, f"{field}.fixed_fee_per_event")
    minimum, maximum = price.per_event_minimum, price.per_event_maximum
    bound_problems: list[PricingError] = []
    if minimum is not None:
        bound_problems += decimal_problems(minimum, f"{field}.per_event_minimum")
    if maximum is not None:
        bound_problems += decimal_problems(maximum, f"{field}.per_event_maximum")
    problems += bound_problems
    if not bound_problems and minimum is not None and maximum is not None and minimum > maximum:
        problems.append(
            PricingError(f"{field}.per_event_minimum", "must not be above the per-event maximum")
        )
    return problems


def check_percentage_tiers(
    tiers: Sequence[PercentageTier], field: str = "tiers"
) -> list[PricingError]:
    """Every problem with graduated percentage tiers, each named by its path."""
    problems = check_tier_bounds([tier.up_to for tier in tiers], field)
    for index, tier in enumerate(tiers):
        problems += _rate_problems(tier.rate, f"{field}[{index}].rate")
        problems += minor_problems(tier.flat_fee_minor, f"{field}[{index}].flat_fee_minor")
    return problems


def percentage_amount(price: PercentagePrice, usage: SummedUsage | Sequence[Decimal]) -> int:
    """The period's charge in minor units, rounded once: from the summed
    usage, or from each event's value (required with a per-event bound)."""
    raise_first(check_percentage_price(price))
    if isinstance(usage, SummedUsage):
        return _from_sum(price, usage)
    values = [checked_quantity(value, f"values[{index}]") for index, value in enumerate(usage)]
    with exact():
        share = price.rate / HUNDRED_PERCENT
        charge = sum(
            (_clamped(price, value * share + price.fixed_fee_per_event) for value in values),
            Decimal(0),
        )
    return charge_minor(charge, "values")


def graduated_percentage_amount(tiers: Sequence[PercentageTier], total: Decimal) -> int:
    """The period's charge in minor units for a summed value of `total`,
    rounded once."""
    raise_first(check_percentage_tiers(tiers))
    checked_quantity(total, "total")
    with exact():
        as_units = [
            UsageTier(tier.up_to, tier.rate / HUNDRED_PERCENT, tier.flat_fee_minor)
            for tier in tiers
        ]
    return charge_minor(tiered_charge(as_units, TierMode.GRADUATED, total), "total")


def _from_sum(price: PercentagePrice, usage: SummedUsage) -> int:
    if price.bounds_events:
        raise PricingError(
            "usage",
            "a per-event minimum or maximum needs each event's value, not their sum",
        )
    checked_quantity(usage.total, "usage.total")
    count = usage.event_count
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_EVENT_COUNT:
        raise PricingError("usage.event_count", f"must be between 0 and {MAX_EVENT_COUNT}")
    if count == 0 and usage.total != 0:
        raise PricingError("usage.event_count", "a total other than 0 needs at least one event")
    with exact():
        charge = usage.total * price.rate / HUNDRED_PERCENT + count * price.fixed_fee_per_event
    return charge_minor(charge, "usage")


def _clamped(price: PercentagePrice, cost: Decimal) -> Decimal:
    if price.per_event_minimum is not None and cost < price.per_event_minimum:
        return price.per_event_minimum
    if price.per_event_maximum is not None and cost > price.per_event_maximum:
        return price.per_event_maximum
    return cost


def _rate_problems(rate: Decimal, field: str) -> list[PricingError]:
    problems = decimal_problems(rate, field, places=MAX_RATE_PLACES)
    if not problems and rate > HUNDRED_PERCENT:
        problems.append(PricingError(field, "must be at most 100 (percent)"))
    return problems
