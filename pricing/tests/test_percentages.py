"""Percentage prices: Lago's published graduated percentage example, per-event
fees, minimums and maximums, refusals and properties. Summed values are in
minor units of the price's currency, so Lago's dollar figures appear here in
cents."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_pricing.amounts import MAX_AMOUNT_MINOR, PricingError
from billingos_pricing.percentages import (
    MAX_EVENT_COUNT,
    PercentagePrice,
    PercentageTier,
    SummedUsage,
    check_percentage_price,
    check_percentage_tiers,
    graduated_percentage_amount,
    percentage_amount,
)

D = Decimal

# Lago's graduated percentage page: 1 % + $200 up to $1,000, 2 % + $300 up to
# $10,000, then 3 % + $400 (bounds and fees in cents).
LAGO_TIERS = [
    PercentageTier(D(100_000), D(1), 20_000),
    PercentageTier(D(1_000_000), D(2), 30_000),
    PercentageTier(None, D(3), 40_000),
]


def test_lago_graduated_percentage_example() -> None:
    """Lago's page prices three transactions one after the other:
    $500 → (500 × 1 %) + $200 = $205;
    $550 → (500 × 1 % + 50 × 2 %) + $300 = $306;
    $4,000 → 4,000 × 2 % = $80.
    Over the period that is the charge on the running total, so the charge on
    each total less the charge on the one before must give Lago's figures, and
    the period's $5,050 costs $205 + $306 + $80 = $591:
    1,000 × 1 % + $200 + 4,050 × 2 % + $300 = $10 + $200 + $81 + $300."""
    after_first = graduated_percentage_amount(LAGO_TIERS, D(50_000))
    after_second = graduated_percentage_amount(LAGO_TIERS, D(105_000))
    period = graduated_percentage_amount(LAGO_TIERS, D(505_000))
    assert after_first == 20_500
    assert after_second - after_first == 30_600
    assert period - after_second == 8_000
    assert period == 59_100


def test_graduated_percentage_of_nothing_is_nothing() -> None:
    assert graduated_percentage_amount(LAGO_TIERS, D(0)) == 0


def test_graduated_percentage_into_the_last_tier() -> None:
    # $1,000 × 1 % + $200 + $9,000 × 2 % + $300 + $1 × 3 % + $400, in cents
    assert graduated_percentage_amount(LAGO_TIERS, D(1_000_100)) == (
        1_000 + 20_000 + 18_000 + 30_000 + 3 + 40_000
    )


def test_a_rate_and_a_fixed_fee_per_event() -> None:
    """2.9 % + 30 ¢ on two card payments of $100 and $20:
    (290 + 30) + (58 + 30) = 408 ¢, the same from the events or their sum."""
    price = PercentagePrice(D("2.9"), fixed_fee_per_event=D(30))
    assert percentage_amount(price, [D(10_000), D(2_000)]) == 408
    assert percentage_amount(price, SummedUsage(D(12_000), 2)) == 408


def test_every_event_pays_the_fixed_fee_a_zero_one_too() -> None:
    price = PercentagePrice(D(1), fixed_fee_per_event=D(10))
    assert percentage_amount(price, [D(0), D(0), D(100)]) == 31


def test_per_event_minimum_and_maximum_clamp_each_event() -> None:
    """1 %, at least $1 and at most $5 a transaction: $10 costs 10 ¢ → $1,
    $200 costs $2, $1,000 costs $10 → $5: $8 in all. On the sum, $1,210 × 1 %
    would be $12.10: the bounds only mean something event by event."""
    price = PercentagePrice(D(1), per_event_minimum=D(100), per_event_maximum=D(500))
    assert percentage_amount(price, [D(1_000), D(20_000), D(100_000)]) == 800


def test_the_bounds_apply_to_the_cost_with_its_fixed_fee() -> None:
    price = PercentagePrice(D(1), fixed_fee_per_event=D(50), per_event_maximum=D(60))
    assert percentage_amount(price, [D(500), D(5_000)]) == 55 + 60


def test_a_sum_cannot_stand_for_events_when_each_event_is_bounded() -> None:
    price = PercentagePrice(D(1), per_event_minimum=D(100))
    with pytest.raises(PricingError) as refused:
        percentage_amount(price, SummedUsage(D(1_000), 1))
    assert refused.value.field == "usage"


def test_sub_cent_results_are_rounded_once_on_the_period() -> None:
    price = PercentagePrice(D("0.5"))
    assert percentage_amount(price, [D(1)] * 99) == 0  # 0.495
    assert percentage_amount(price, [D(1)] * 100) == 1  # 0.5


@pytest.mark.parametrize(
    ("price", "field"),
    [
        (PercentagePrice(D("100.01")), "percentage.rate"),
        (PercentagePrice(D(-1)), "percentage.rate"),
        (PercentagePrice(D("0.00000000001")), "percentage.rate"),  # 11 places
        (PercentagePrice(D("NaN")), "percentage.rate"),
        (PercentagePrice(D(1), fixed_fee_per_event=D(-1)), "percentage.fixed_fee_per_event"),
        (PercentagePrice(D(1), per_event_minimum=D(-1)), "percentage.per_event_minimum"),
        (PercentagePrice(D(1), per_event_maximum=D(-1)), "percentage.per_event_maximum"),
        (
            PercentagePrice(D(1), per_event_minimum=D(501), per_event_maximum=D(500)),
            "percentage.per_event_minimum",
        ),
    ],
)
def test_bad_percentage_prices_name_the_field(price: PercentagePrice, field: str) -> None:
    assert [problem.field for problem in check_percentage_price(price)] == [field]
    with pytest.raises(PricingError):
        percentage_amount(price, [D(1)])


def test_a_hundred_percent_and_equal_bounds_are_fine() -> None:
    price = PercentagePrice(D(100), per_event_minimum=D(5), per_event_maximum=D(5))
    assert check_percentage_price(price) == []
    assert percentage_amount(price, [D(1), D(1_000)]) == 10


@pytest.mark.parametrize(
    ("tiers", "field"),
    [
        ([PercentageTier(D(10), D(1)), PercentageTier(D(10), D(1))], "tiers[1].up_to"),
        ([PercentageTier(D(10), D(1)), PercentageTier(D(20), D(1))], "tiers[1].up_to"),
        ([PercentageTier(None, D(101))], "tiers[0].rate"),
        ([PercentageTier(None, D(-1))], "tiers[0].rate"),
        ([PercentageTier(None, D(1), -1)], "tiers[0].flat_fee_minor"),
        ([], "tiers"),
    ],
)
def test_bad_percentage_tiers_name_the_field(tiers: list[PercentageTier], field: str) -> None:
    assert field in [problem.field for problem in check_percentage_tiers(tiers)]
    with pytest.raises(PricingError):
        graduated_percentage_amount(tiers, D(1))


@pytest.mark.parametrize(
    ("usage", "field"),
    [
        (SummedUsage(D(-1), 1), "usage.total"),
        (SummedUsage(D(10), 0), "usage.event_count"),
        (SummedUsage(D(10), -1), "usage.event_count"),
        (SummedUsage(D(10), MAX_EVENT_COUNT + 1), "usage.event_count"),
        ([D(1), D(-1)], "values[1]"),
        ([D("NaN")], "values[0]"),
    ],
)
def test_bad_usage_is_refused(usage: SummedUsage | list[Decimal], field: str) -> None:
    with pytest.raises(PricingError) as refused:
        percentage_amount(PercentagePrice(D(1)), usage)
    assert refused.value.field == field


def test_a_charge_above_the_limit_is_refused() -> None:
    price = PercentagePrice(D(100))
    assert percentage_amount(price, [D(MAX_AMOUNT_MINOR)]) == MAX_AMOUNT_MINOR
    with pytest.raises(PricingError):
        percentage_amount(price, [D(MAX_AMOUNT_MINOR), D(1)])
    with pytest.raises(PricingError):
        graduated_percentage_amount([PercentageTier(None, D(100))], D(MAX_AMOUNT_MINOR + 1))


values = st.lists(st.decimals(min_value=0, max_value=10**7, places=4, allow_nan=False), max_size=30)
rates = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False)
fees = st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False)


@given(values, rates, fees)
def test_without_bounds_the_events_and_their_sum_agree(
    events: list[Decimal], rate: Decimal, fee: Decimal
) -> None:
    price = PercentagePrice(rate, fixed_fee_per_event=fee)
    summed = SummedUsage(sum(events, D(0)), len(events))
    assert percentage_amount(price, events) == percentage_amount(price, summed)


@given(values, rates, fees, fees, fees)
def test_bounds_keep_the_charge_between_count_times_minimum_and_maximum(
    events: list[Decimal], rate: Decimal, fee: Decimal, a: Decimal, b: Decimal
) -> None:
    low, high = sorted([a, b])
    price = PercentagePrice(rate, fee, per_event_minimum=low, per_event_maximum=high)
    amount = percentage_amount(price, events)
    assert len(events) * low - D("0.5") <= amount <= len(events) * high + D("0.5")


@given(
    st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False),
    st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False),
)
def test_graduated_percentage_never_decreases_with_the_total(a: Decimal, b: Decimal) -> None:
    low, high = sorted([a, b])
    assert graduated_percentage_amount(LAGO_TIERS, low) <= graduated_percentage_amount(
        LAGO_TIERS, high
    )
