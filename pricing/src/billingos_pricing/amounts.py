"""Turning prices and quantities into integer minor units.

Rounding, written down once for all of BillingOS: wherever an amount has a
fraction of a minor unit (a metered price times a usage quantity, a
percentage discount), it is rounded to the nearest minor unit with halves
rounded up (ROUND_HALF_UP; amounts are never negative, so "up" is "away from
zero"). The same inputs always give the same cents. Rounding happens once, on
the total of a line, never per unit.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, Overflow, localcontext

from billingos_pricing.currencies import minor_unit_exponent

ROUNDING = ROUND_HALF_UP
MAX_UNIT_AMOUNT_PLACES = 12
# Metered unit amounts are in minor units; a unit may cost up to 1e12 of them.
MAX_UNIT_AMOUNT_INTEGER_DIGITS = 12
BASIS_POINTS_IN_WHOLE = 10_000
# No amount above a trillion minor units (10 billion USD): far beyond any real
# price, far below int64, so sums of many lines never overflow.
MAX_AMOUNT_MINOR = 10**12
MAX_SEATS = 1_000_000


class PricingError(ValueError):
    """An input the arithmetic cannot accept; `field` names the offending part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def rounding_context(prec: int = 60) -> Context:
    """A context of its own for arithmetic that ends in THE rule: `prec`
    digits (wide enough that nothing before the final rounding rounds), and
    none of the caller's traps. `localcontext()` without one would copy the
    caller's context, so a caller trapping Inexact (or inside exact()) would
    see the final rounding raise."""
    return Context(prec=prec, rounding=ROUND_HALF_UP, traps=[InvalidOperation, Overflow])


def round_minor(value: Decimal) -> int:
    """A decimal number of minor units, rounded by THE rule (half up)."""
    return int(value.quantize(Decimal(1), rounding=ROUNDING))


# ---- currency units ---------------------------------------------------------


def to_minor_units(major: Decimal | str, currency: str) -> int:
    """`12.34` USD → 1234; refuses digits the currency does not have (1.5 JPY)."""
    exponent = minor_unit_exponent(currency)
    amount = _decimal(str(major), "amount")
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise PricingError("amount", f"{currency} has {exponent} decimal places")
    return int(scaled)


def to_major_units(amount_minor: int, currency: str) -> Decimal:
    """1234 USD → Decimal('12.34'); 1500 KWD → Decimal('1.500'); 1000 JPY → Decimal('1000')."""
    exponent = minor_unit_exponent(currency)
    return Decimal(amount_minor).scaleb(-exponent)


def format_amount(amount_minor: int, currency: str) -> str:
    """`12.34 USD`, `1000 JPY`, `1.500 KWD`: exact, with the currency's digits."""
    return f"{to_major_units(amount_minor, currency):f} {currency.upper()}"


# ---- metered unit prices ----------------------------------------------------


def parse_unit_amount(text: str, field: str = "unit_amount") -> Decimal:
    """A metered unit amount in minor units, as the API gives it: a plain
    decimal string, > 0, at most 12 decimal places (e.g. "0.000125")."""
    value = _decimal(text, field)
    if value <= 0:
        raise PricingError(field, "must be greater than 0")
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    places = max(0, -exponent)
    if places > MAX_UNIT_AMOUNT_PLACES:
        raise PricingError(field, f"must have at most {MAX_UNIT_AMOUNT_PLACES} decimal places")
    if len(digits) + min(exponent, 0) > MAX_UNIT_AMOUNT_INTEGER_DIGITS:
        raise PricingError(field, f"must be below 10^{MAX_UNIT_AMOUNT_INTEGER_DIGITS}")
    return value


def metered_amount(unit_amount: Decimal, quantity: Decimal, cap_minor: int | None = None) -> int:
    """The charge for `quantity` units: unit × quantity, rounded once, then capped."""
    if quantity < 0:
        raise PricingError("quantity", "must not be negative")
    # The product is computed exactly (a context wide enough for every digit
    # of both factors), so the only rounding is THE rule, once.
    digits = len(unit_amount.as_tuple().digits) + len(quantity.as_tuple().digits) + 2
    with localcontext(rounding_context(max(digits, 28))):
        amount = round_minor(unit_amount * quantity)
    if cap_minor is not None:
        amount = min(amount, cap_minor)
    return amount


# ---- seat-based prices ------------------------------------------------------


class TierMode(enum.Enum):
    """VOLUME: every seat at the price of the tier the seat count falls in.
    GRADUATED: each seat at the price of its own tier (1-5 at one price, 6-10
    at another...)."""

    VOLUME = "volume"
    GRADUATED = "graduated"


@dataclass(frozen=True)
class SeatTier:
    from_seats: int
    to_seats: int | None  # None: no upper bound (the last tier)
    amount_per_seat_minor: int


def check_seat_tiers(tiers: Sequence[SeatTier], field: str = "tiers") -> list[PricingError]:
    """Every problem with a tier list: tiers must start at 1 seat, follow each
    other without gap or overlap, and end with an unbounded tier, so every
    seat count has exactly one price."""
    problems: list[PricingError] = []
    if not tiers:
        return [PricingError(field, "must have at least one tier")]
    expected_from = 1
    for index, tier in enumerate(tiers):
        path = f"{field}[{index}]"
        if not 0 <= tier.amount_per_seat_minor <= MAX_AMOUNT_MINOR:
            problems.append(
                PricingError(
                    f"{path}.amount_per_seat_minor", f"must be between 0 and {MAX_AMOUNT_MINOR}"
                )
            )
        if tier.to_seats is not None and tier.to_seats > MAX_SEATS:
            problems.append(PricingError(f"{path}.to_seats", f"must be at most {MAX_SEATS}"))
        if tier.from_seats != expected_from:
            what = (
                "overlaps the previous tier" if tier.from_seats < expected_from else "leaves a gap"
            )
            problems.append(PricingError(f"{path}.from_seats", f"must be {expected_from} ({what})"))
        last = index == len(tiers) - 1
        if tier.to_seats is None:
            if not last:
                problems.append(PricingError(f"{path}.to_seats", "only the last tier is unbounded"))
            break
        if last:
            problems.append(PricingError(f"{path}.to_seats", "the last tier must be unbounded"))
        if tier.to_seats < tier.from_seats:
            problems.append(PricingError(f"{path}.to_seats", "must not be below from_seats"))
        expected_from = max(tier.to_seats, tier.from_seats) + 1
    return problems


def seat_amount(tiers: Sequence[SeatTier], mode: TierMode, seats: int) -> int:
    """The charge for `seats` seats (tiers already checked)."""
    if seats < 0:
        raise PricingError("seats", "must not be negative")
    if seats == 0:
        return 0
    if mode is TierMode.VOLUME:
        tier = next(t for t in tiers if t.to_seats is None or seats <= t.to_seats)
        return seats * tier.amount_per_seat_minor
    total = 0
    for tier in tiers:
        upper = seats if tier.to_seats is None else min(seats, tier.to_seats)
        if upper >= tier.from_seats:
            total += (upper - tier.from_seats + 1) * tier.amount_per_seat_minor
    return total


# ---- pay what you want ------------------------------------------------------


def check_custom_amounts(
    minimum_minor: int, maximum_minor: int | None, preset_minor: int | None, field: str = "custom"
) -> list[PricingError]:
    problems: list[PricingError] = []
    if minimum_minor < 0:
        problems.append(PricingError(f"{field}.minimum_amount_minor", "must not be negative"))
    for name, value in (
        ("minimum_amount_minor", minimum_minor),
        ("maximum_amount_minor", maximum_minor),
        ("preset_amount_minor", preset_minor),
    ):
        if value is not None and value > MAX_AMOUNT_MINOR:
            problems.append(PricingError(f"{field}.{name}", f"must be at most {MAX_AMOUNT_MINOR}"))
    if maximum_minor is not None and maximum_minor < minimum_minor:
        problems.append(
            PricingError(f"{field}.maximum_amount_minor", "must not be below the minimum")
        )
    if preset_minor is not None:
        if preset_minor < minimum_minor:
            problems.append(
                PricingError(f"{field}.preset_amount_minor", "must not be below the minimum")
            )
        if maximum_minor is not None and preset_minor > maximum_minor:
            problems.append(
                PricingError(f"{field}.preset_amount_minor", "must not exceed the maximum")
            )
    return problems


def custom_amount(minimum_minor: int, maximum_minor: int | None, chosen_minor: int) -> int:
    """The amount a customer chose, if the price allows it."""
    if chosen_minor < minimum_minor:
        raise PricingError("amount", f"must be at least {minimum_minor}")
    if maximum_minor is not None and chosen_minor > maximum_minor:
        raise PricingError("amount", f"must be at most {maximum_minor}")
    return chosen_minor


# ---- discounts --------------------------------------------------------------


def percentage_discount(subtotal_minor: int, basis_points: int) -> int:
    """`basis_points` / 10 000 of the subtotal, rounded by THE rule."""
    if not 0 < basis_points <= BASIS_POINTS_IN_WHOLE:
        raise PricingError("basis_points", "must be between 1 and 10000")
    with localcontext(rounding_context(60)):  # exact for any int64 subtotal
        return round_minor(Decimal(subtotal_minor) * basis_points / BASIS_POINTS_IN_WHOLE)


def fixed_discount(subtotal_minor: int, amount_off_minor: int) -> int:
    """A fixed amount off, never more than the subtotal (no negative totals)."""
    return min(amount_off_minor, max(subtotal_minor, 0))


def _decimal(text: str, field: str) -> Decimal:
    candidate = text.strip()
    if not candidate or any(c not in "0123456789.-" for c in candidate):
        raise PricingError(field, "must be a plain decimal number, e.g. 0.0125")
    try:
        value = Decimal(candidate)
    except InvalidOperation:
        raise PricingError(field, "must be a plain decimal number, e.g. 0.0125") from None
    if not value.is_finite():
        raise PricingError(field, "must be a finite number")
    return value
