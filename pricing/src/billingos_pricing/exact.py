"""Exact decimal arithmetic for usage prices, and the one rounding at its end.

A usage charge is a sum of products of decimals (quantities, sub-cent unit
amounts, rates). Python's default context keeps 28 digits and would round a
long product silently, before THE rule (amounts.round_minor) has its turn, so
every model computes inside `exact()`: a local context wide enough for every
bounded input, in which any rounding at all raises `decimal.Inexact` instead
of changing a cent. The result is rounded once, by `charge_minor`, and refused
when it is above MAX_AMOUNT_MINOR.

The bounds here are what make "wide enough" true: a quantity below 10^24 with
at most 30 decimal places (metering's sums of JSON numbers: a hundred million
events at 2^53 stay below it, and a double's shortest repr near 1e-12 has
fewer places), and unit amounts, rates and fees with at most 12 places below
10^12. The widest product is then under 80 digits; the context keeps 120.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

from billingos_pricing.amounts import (
    MAX_AMOUNT_MINOR,
    MAX_UNIT_AMOUNT_INTEGER_DIGITS,
    MAX_UNIT_AMOUNT_PLACES,
    PricingError,
    round_minor,
    rounding_context,
)

QUANTITY_BELOW = Decimal(10) ** 24
MAX_QUANTITY_PLACES = 30
# Unit amounts, per-event fees and tier bounds share the unit amount's limits.
MAX_PLACES = MAX_UNIT_AMOUNT_PLACES
BELOW_UNIT_AMOUNT = Decimal(10) ** MAX_UNIT_AMOUNT_INTEGER_DIGITS

_EXACT = Context(
    prec=120,
    rounding=ROUND_HALF_UP,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
# Rounding to a whole minor unit is inexact by nature; it gets its own context.
_ROUNDING = rounding_context(60)


def exact() -> AbstractContextManager[Context]:
    """A local context in which no operation rounds (any that would, raises)."""
    return localcontext(_EXACT)


def charge_minor(value: Decimal, field: str) -> int:
    """The exact charge `value` (minor units, not negative), rounded once by
    THE rule; a PricingError on `field` when that exceeds MAX_AMOUNT_MINOR."""
    # Compared before rounding too, so no number wider than the context is quantized.
    if value <= MAX_AMOUNT_MINOR + 1:
        with localcontext(_ROUNDING):
            rounded = round_minor(value)
        if rounded <= MAX_AMOUNT_MINOR:
            return rounded
    raise PricingError(
        field, f"the charge would be {value:f} minor units, above the {MAX_AMOUNT_MINOR} limit"
    )


def decimal_places(value: Decimal) -> int:
    """Digits after the point that carry a value: 1.2500 has 2, 1E+3 has 0.
    (Trailing zeros say nothing about the amount, so they are not held
    against it: metering's exact sums keep their inputs' widest exponent.)"""
    if value.is_zero():
        return 0
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing))


def decimal_problems(
    value: Decimal, field: str, *, places: int = MAX_PLACES, below: Decimal = BELOW_UNIT_AMOUNT
) -> list[PricingError]:
    """Why `value` is no amount a price may hold: it must be a finite Decimal
    (never a float, whose binary digits are not the merchant's), not
    negative, below `below`, with at most `places` decimal places."""
    if not isinstance(value, Decimal):
        return [PricingError(field, "must be a Decimal")]
    if not value.is_finite():
        return [PricingError(field, "must be a finite number")]
    problems: list[PricingError] = []
    if value < 0:
        problems.append(PricingError(field, "must not be negative"))
    if abs(value) >= below:
        problems.append(PricingError(field, f"must be below {below:f}"))
    if decimal_places(value) > places:
        problems.append(PricingError(field, f"must have at most {places} decimal places"))
    return problems


def minor_problems(value: int, field: str) -> list[PricingError]:
    """Why `value` is no whole amount of minor units between 0 and the limit."""
    if isinstance(value, bool) or not isinstance(value, int):
        return [PricingError(field, "must be an integer number of minor units")]
    if not 0 <= value <= MAX_AMOUNT_MINOR:
        return [PricingError(field, f"must be between 0 and {MAX_AMOUNT_MINOR}")]
    return []


def checked_quantity(quantity: Decimal, field: str = "quantity") -> Decimal:
    """`quantity` if it is a usage quantity the models accept, else the first
    problem with it as a PricingError."""
    problems = decimal_problems(quantity, field, places=MAX_QUANTITY_PLACES, below=QUANTITY_BELOW)
    if problems:
        raise problems[0]
    return quantity


def raise_first(problems: list[PricingError]) -> None:
    """A price's checker found something: the charge functions refuse it
    rather than compute with it (the catalog reports every problem first)."""
    if problems:
        raise problems[0]
