"""The exact context and the one rounding every usage model ends with."""

from __future__ import annotations

from decimal import Decimal, Inexact

import pytest

from billingos_pricing.amounts import MAX_AMOUNT_MINOR, PricingError
from billingos_pricing.exact import charge_minor, decimal_places, exact


def test_an_operation_that_would_round_raises_instead() -> None:
    with exact(), pytest.raises(Inexact):
        _ = Decimal(1) / Decimal(3)


def test_the_exact_context_is_local() -> None:
    with exact():
        assert Decimal(1) / Decimal(4) == Decimal("0.25")
    assert Decimal(1) / Decimal(3) == Decimal("0.3333333333333333333333333333")


@pytest.mark.parametrize(
    ("value", "places"),
    [("1.2500", 2), ("1E+3", 0), ("0E-40", 0), ("0.000000000001", 12), ("10", 0), ("-0.50", 1)],
)
def test_decimal_places_ignore_trailing_zeros(value: str, places: int) -> None:
    assert decimal_places(Decimal(value)) == places


@pytest.mark.parametrize(
    ("value", "minor"),
    [
        ("0.4999999999", 0),
        ("0.5", 1),
        ("2.5", 3),
        (str(MAX_AMOUNT_MINOR) + ".49", MAX_AMOUNT_MINOR),
    ],
)
def test_a_charge_is_rounded_half_up(value: str, minor: int) -> None:
    assert charge_minor(Decimal(value), "quantity") == minor


@pytest.mark.parametrize("value", [str(MAX_AMOUNT_MINOR) + ".5", "1e80"])
def test_a_charge_above_the_limit_names_the_field(value: str) -> None:
    with pytest.raises(PricingError) as refused:
        charge_minor(Decimal(value), "values")
    assert refused.value.field == "values"
