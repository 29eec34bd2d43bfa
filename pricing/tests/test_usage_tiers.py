"""Tiered usage prices: the published Stripe and Lago examples, the checker's
every refusal, and properties that hold for any tier list."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_pricing.amounts import MAX_AMOUNT_MINOR, PricingError, TierMode
from billingos_pricing.exact import QUANTITY_BELOW
from billingos_pricing.usage_tiers import (
    MAX_USAGE_TIERS,
    UsageTier,
    check_usage_tiers,
    tiered_amount,
)

D = Decimal

# Stripe's tiered pricing page, in cents: 1–5 $5, 6–10 $4, 11–15 $3, 16–20 $2, then $1.
STRIPE_TIERS = [
    UsageTier(D(5), D(500)),
    UsageTier(D(10), D(400)),
    UsageTier(D(15), D(300)),
    UsageTier(D(20), D(200)),
    UsageTier(None, D(100)),
]


@pytest.mark.parametrize(("units", "dollars"), [(1, 5), (5, 25), (6, 24), (20, 40), (25, 25)])
def test_stripe_volume_example(units: int, dollars: int) -> None:
    assert tiered_amount(STRIPE_TIERS, TierMode.VOLUME, D(units)) == dollars * 100


def test_stripe_graduated_example() -> None:
    # 5 × $5 + 1 × $4
    assert tiered_amount(STRIPE_TIERS, TierMode.GRADUATED, D(6)) == 2900


def test_lago_volume_example() -> None:
    """Lago's volume page: $0.0010 / $0.0008 / $0.0006 / $0.0004 per call
    breaking at 10,000, 50,000 and 100,000, a $10 fee on each tier:
    65,000 × $0.0006 + $10 = $49 (in cents: 0.06 ¢ a call, 1000 ¢ fee)."""
    tiers = [
        UsageTier(D(10_000), D("0.10"), 1000),
        UsageTier(D(50_000), D("0.08"), 1000),
        UsageTier(D(100_000), D("0.06"), 1000),
        UsageTier(None, D("0.04"), 1000),
    ]
    assert tiered_amount(tiers, TierMode.VOLUME, D(65_000)) == 4900


def test_graduated_flat_fees_are_charged_for_every_tier_reached() -> None:
    tiers = [UsageTier(D(10), D(1), 100), UsageTier(None, D(2), 1000)]
    assert tiered_amount(tiers, TierMode.GRADUATED, D(10)) == 110
    assert tiered_amount(tiers, TierMode.GRADUATED, D("10.5")) == 10 + 100 + 1 + 1000
    assert tiered_amount(tiers, TierMode.VOLUME, D("10.5")) == 21 + 1000


@pytest.mark.parametrize("mode", list(TierMode))
def test_no_usage_costs_nothing_not_even_a_flat_fee(mode: TierMode) -> None:
    tiers = [UsageTier(D(10), D(1), 500), UsageTier(None, D(1), 700)]
    assert tiered_amount(tiers, mode, D(0)) == 0


def test_a_decimal_quantity_between_bounds_is_in_the_upper_tier() -> None:
    assert tiered_amount(STRIPE_TIERS, TierMode.VOLUME, D("5.5")) == 2200
    assert tiered_amount(STRIPE_TIERS, TierMode.VOLUME, D("5")) == 2500


def test_a_graduated_charge_is_rounded_once_not_per_tier() -> None:
    """0.5 ¢ in each of two tiers: 1 ¢ in all, where rounding each tier
    half up would make 2 ¢."""
    tiers = [UsageTier(D(1), D("0.5")), UsageTier(None, D("0.5"))]
    assert tiered_amount(tiers, TierMode.GRADUATED, D(2)) == 1


def test_sub_cent_unit_amounts_with_twelve_places() -> None:
    tiers = [UsageTier(None, D("0.000000000001"))]
    assert tiered_amount(tiers, TierMode.VOLUME, D(5 * 10**11)) == 1  # 0.5 ¢ rounds up
    assert tiered_amount(tiers, TierMode.VOLUME, D(5 * 10**11 - 1)) == 0


# ---- refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("tiers", "field"),
    [
        ([], "tiers"),
        # overlapping: a bound equal to the one before
        ([UsageTier(D(5), D(1)), UsageTier(D(5), D(1)), UsageTier(None, D(1))], "tiers[1].up_to"),
        # unordered
        (
            [UsageTier(D(5), D(1)), UsageTier(D(10), D(1)), UsageTier(D(7), D(1)), UsageTier(None)],
            "tiers[2].up_to",
        ),
        ([UsageTier(D(5), D(1)), UsageTier(D(10), D(1))], "tiers[1].up_to"),  # last is bounded
        ([UsageTier(None, D(1)), UsageTier(None, D(1))], "tiers[0].up_to"),  # unbounded early
        ([UsageTier(D(0), D(1)), UsageTier(None)], "tiers[0].up_to"),
        ([UsageTier(D(-1), D(1)), UsageTier(None)], "tiers[0].up_to"),
        ([UsageTier(QUANTITY_BELOW, D(1)), UsageTier(None)], "tiers[0].up_to"),
        ([UsageTier(D("1.0000000000001"), D(1)), UsageTier(None)], "tiers[0].up_to"),
        ([UsageTier(D("NaN"), D(1)), UsageTier(None)], "tiers[0].up_to"),
        ([UsageTier(None, D(-1))], "tiers[0].unit_amount"),
        ([UsageTier(None, D("0.0000000000001"))], "tiers[0].unit_amount"),  # 13 places
        ([UsageTier(None, D(10**12))], "tiers[0].unit_amount"),
        ([UsageTier(None, D("Infinity"))], "tiers[0].unit_amount"),
        ([UsageTier(None, D(1), -1)], "tiers[0].flat_fee_minor"),
        ([UsageTier(None, D(1), MAX_AMOUNT_MINOR + 1)], "tiers[0].flat_fee_minor"),
        ([UsageTier(None, D(1), True)], "tiers[0].flat_fee_minor"),
        ([UsageTier(D(i + 1), D(1)) for i in range(MAX_USAGE_TIERS)] + [UsageTier(None)], "tiers"),
    ],
)
def test_bad_tier_lists_name_the_field(tiers: list[UsageTier], field: str) -> None:
    assert field in [problem.field for problem in check_usage_tiers(tiers)]
    with pytest.raises(PricingError):
        tiered_amount(tiers, TierMode.GRADUATED, D(1))


def test_every_problem_is_reported_at_once() -> None:
    tiers = [UsageTier(D(5), D(-1), -1), UsageTier(D(3), D(1)), UsageTier(D(9), D(1))]
    assert [problem.field for problem in check_usage_tiers(tiers, "price.tiers")] == [
        "price.tiers[1].up_to",
        "price.tiers[2].up_to",
        "price.tiers[0].unit_amount",
        "price.tiers[0].flat_fee_minor",
    ]


def test_trailing_zeros_are_not_decimal_places() -> None:
    tiers = [UsageTier(D("5.00000000000000000"), D("0.5000000000000000000")), UsageTier(None)]
    assert check_usage_tiers(tiers) == []


@pytest.mark.parametrize("quantity", [D(-1), D("NaN"), D("Infinity"), QUANTITY_BELOW, D("1e-31")])
def test_bad_quantities_are_refused(quantity: Decimal) -> None:
    with pytest.raises(PricingError) as refused:
        tiered_amount(STRIPE_TIERS, TierMode.VOLUME, quantity)
    assert refused.value.field == "quantity"


def test_a_charge_above_the_limit_is_refused_not_returned() -> None:
    tiers = [UsageTier(None, D(1))]
    assert tiered_amount(tiers, TierMode.VOLUME, D(MAX_AMOUNT_MINOR)) == MAX_AMOUNT_MINOR
    # the limit is on the rounded charge: 10^12 + 0.4 rounds to 10^12
    assert tiered_amount(tiers, TierMode.VOLUME, D(MAX_AMOUNT_MINOR) + D("0.4")) == MAX_AMOUNT_MINOR
    with pytest.raises(PricingError) as refused:
        tiered_amount(tiers, TierMode.VOLUME, D(MAX_AMOUNT_MINOR) + D("0.5"))
    assert refused.value.field == "quantity"


def test_a_long_product_is_still_rounded_only_once() -> None:
    """0.4999… of a cent with 30 significant digits must round to 0; Python's
    default 28-digit context would make it 0.5 first, then 1."""
    quantity = D("499999999999.999999999999999999")
    tiers = [UsageTier(None, D("0.000000000001"))]
    assert tiered_amount(tiers, TierMode.VOLUME, quantity) == 0
    assert tiered_amount(tiers, TierMode.GRADUATED, quantity) == 0


# ---- properties -------------------------------------------------------------

unit_amounts = st.decimals(min_value=0, max_value=10**6, places=12, allow_nan=False)
flat_fees = st.integers(min_value=0, max_value=10**6)


@st.composite
def integer_tiers(draw: st.DrawFn) -> list[UsageTier]:
    widths = draw(st.lists(st.integers(min_value=1, max_value=20), max_size=5))
    tiers, bound = [], 0
    for width in widths:
        bound += width
        tiers.append(UsageTier(D(bound), draw(unit_amounts), draw(flat_fees)))
    tiers.append(UsageTier(None, draw(unit_amounts), draw(flat_fees)))
    return tiers


def tier_of(tiers: list[UsageTier], unit: int) -> int:
    return next(i for i, t in enumerate(tiers) if t.up_to is None or unit <= t.up_to)


@given(integer_tiers(), st.integers(min_value=0, max_value=150))
def test_graduated_is_each_units_own_price_plus_the_fees_of_tiers_reached(
    tiers: list[UsageTier], units: int
) -> None:
    assert check_usage_tiers(tiers) == []
    exact = sum((tiers[tier_of(tiers, unit)].unit_amount for unit in range(1, units + 1)), D(0))
    reached = {tier_of(tiers, unit) for unit in range(1, units + 1)}
    exact += sum(tiers[index].flat_fee_minor for index in reached)
    amount = tiered_amount(tiers, TierMode.GRADUATED, D(units))
    assert abs(amount - exact) <= D("0.5")


@given(integer_tiers(), st.integers(min_value=1, max_value=150))
def test_volume_prices_every_unit_at_the_tier_of_the_total(
    tiers: list[UsageTier], units: int
) -> None:
    tier = tiers[tier_of(tiers, units)]
    exact = units * tier.unit_amount + tier.flat_fee_minor
    assert abs(tiered_amount(tiers, TierMode.VOLUME, D(units)) - exact) <= D("0.5")


quantities = st.decimals(min_value=0, max_value=200, places=6, allow_nan=False)


@given(integer_tiers(), quantities, quantities)
def test_graduated_never_decreases_with_usage(
    tiers: list[UsageTier], a: Decimal, b: Decimal
) -> None:
    low, high = sorted([a, b])
    low_amount = tiered_amount(tiers, TierMode.GRADUATED, low)
    assert low_amount <= tiered_amount(tiers, TierMode.GRADUATED, high)


@given(integer_tiers(), st.data())
def test_any_bound_that_does_not_grow_is_named(tiers: list[UsageTier], data: st.DataObject) -> None:
    if len(tiers) < 3:
        return
    index = data.draw(st.integers(min_value=1, max_value=len(tiers) - 2))
    previous = tiers[index - 1].up_to
    assert previous is not None
    shrink = data.draw(st.integers(min_value=0, max_value=int(previous) - 1))
    broken = list(tiers)
    broken[index] = UsageTier(previous - shrink, D(1))
    assert f"tiers[{index}].up_to" in [problem.field for problem in check_usage_tiers(broken)]
