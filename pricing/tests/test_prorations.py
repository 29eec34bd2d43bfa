"""Proration to the second: the worked examples of docs/billing-rules.md
("Periods and proration"), each refusal, and properties over any window
(a split period adds back up within half a unit a piece, credits mirror
charges, a credit plus a charge is the prorated difference)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_pricing.amounts import MAX_AMOUNT_MINOR, PricingError, round_minor, rounding_context
from billingos_pricing.prorations import (
    ProrationWindow,
    charge_for_remaining,
    credit_for_unused,
    portion,
    prorated_amount,
)

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
DAY = dt.timedelta(days=1)
APRIL = dt.datetime(2027, 4, 1, tzinfo=UTC)  # a 30-day period: April 2027
MAY = dt.datetime(2027, 5, 1, tzinfo=UTC)


def april_window(change: dt.datetime) -> ProrationWindow:
    return ProrationWindow(APRIL, MAY, change)


# ---- the worked examples (docs/billing-rules.md) ------------------------------


def test_example_a_a_plan_change_ten_days_into_thirty() -> None:
    window = april_window(APRIL + 10 * DAY)
    assert (window.seconds_total, window.seconds_remaining) == (2_592_000, 1_728_000)
    assert credit_for_unused(3000, window) == -2000  # 20 days of the old 3000
    assert charge_for_remaining(5000, window) == 3333  # 3333.33
    # credit and charge together, against prorating the 2000 difference (1333.33)
    assert credit_for_unused(3000, window) + charge_for_remaining(5000, window) == 1333
    assert prorated_amount(5000 - 3000, window) == 1333


def test_example_b_a_half_rounds_away_from_zero_either_way() -> None:
    window = april_window(APRIL + 15 * DAY)
    assert charge_for_remaining(2001, window) == 1001  # 1000.5
    assert credit_for_unused(2001, window) == -1001  # -1000.5, the mirror


def test_example_c_microseconds_do_not_move_a_cent() -> None:
    # 1 µs after mid-April, 2001 × remaining / total would be 1000.4999…
    jittered = april_window(APRIL + 15 * DAY + dt.timedelta(microseconds=1))
    assert jittered.seconds_remaining == 15 * 86_400
    assert charge_for_remaining(2001, jittered) == 1001
    # and a change stamped a hair before a start given with microseconds is in it
    start = APRIL + dt.timedelta(microseconds=900_000)
    assert ProrationWindow(start, MAY, APRIL).seconds_remaining == 2_592_000


def test_example_d_seconds_are_real_seconds_across_a_dst_change() -> None:
    # March 2027 in Berlin is 31 days less the hour skipped on the 28th.
    window = ProrationWindow(
        dt.datetime(2027, 3, 1, tzinfo=BERLIN),
        dt.datetime(2027, 4, 1, tzinfo=BERLIN),
        dt.datetime(2027, 3, 27, tzinfo=BERLIN),
    )
    assert (window.seconds_total, window.seconds_remaining) == (2_674_800, 428_400)
    # 3100 × 428 400 / 2 674 800 = 496.5007 → 497 (wall-clock days would say 500)
    assert charge_for_remaining(3100, window) == 497


# ---- single rules -------------------------------------------------------------


def test_a_change_at_the_start_prorates_all_and_at_the_end_nothing() -> None:
    assert charge_for_remaining(4999, april_window(APRIL)) == 4999
    assert credit_for_unused(4999, april_window(APRIL)) == -4999
    assert charge_for_remaining(4999, april_window(MAY)) == 0
    assert credit_for_unused(4999, april_window(MAY)) == 0


def test_a_zero_amount_prorates_to_zero() -> None:
    window = april_window(APRIL + 7 * DAY)
    assert (charge_for_remaining(0, window), credit_for_unused(0, window)) == (0, 0)


def test_portion_rounds_once_half_away_from_zero() -> None:
    assert [portion(amount, 1, 2) for amount in (1, 3, -1, -3)] == [1, 2, -1, -2]
    assert portion(1, 1, 3) == 0  # 0.33
    assert portion(2, 1, 3) == 1  # 0.67
    assert portion(-2, 1, 3) == -1


def test_the_largest_amount_is_exact() -> None:
    window = april_window(APRIL + 10 * DAY)
    assert charge_for_remaining(MAX_AMOUNT_MINOR, window) == 666_666_666_667  # …666.67
    assert credit_for_unused(MAX_AMOUNT_MINOR, window) == -666_666_666_667


# ---- refusals -----------------------------------------------------------------

NAIVE = dt.datetime(2027, 4, 11)


@pytest.mark.parametrize(
    ("start", "end", "change", "field"),
    [
        (APRIL.replace(tzinfo=None), MAY, APRIL, "period_start"),
        (APRIL, MAY.replace(tzinfo=None), APRIL, "period_end"),
        (APRIL, MAY, NAIVE, "change_time"),
        (APRIL, APRIL, APRIL, "period_end"),  # empty
        (MAY, APRIL, MAY, "period_end"),  # inverted
        (APRIL, APRIL + dt.timedelta(microseconds=999_999), APRIL, "period_end"),  # < 1 s
        (APRIL, MAY, APRIL - dt.timedelta(seconds=1), "change_time"),
        (APRIL, MAY, MAY + dt.timedelta(seconds=1), "change_time"),
        (APRIL, MAY, "2027-04-11T00:00:00Z", "change_time"),
    ],
)
def test_bad_windows_name_the_field(
    start: dt.datetime, end: dt.datetime, change: dt.datetime, field: str
) -> None:
    with pytest.raises(PricingError) as refused:
        ProrationWindow(start, end, change)
    assert refused.value.field == field


@pytest.mark.parametrize(
    "amount", [MAX_AMOUNT_MINOR + 1, -MAX_AMOUNT_MINOR - 1, True, 10.0, Decimal(10)]
)
def test_bad_amounts_are_refused(amount: int) -> None:
    window = april_window(APRIL + 10 * DAY)
    for prorate in (prorated_amount, charge_for_remaining, credit_for_unused):
        with pytest.raises(PricingError) as refused:
            prorate(amount, window)
        assert refused.value.field == "amount_minor"


def test_a_negative_price_is_neither_charged_nor_credited() -> None:
    window = april_window(APRIL + 10 * DAY)
    assert prorated_amount(-3000, window) == -2000  # a difference may be negative
    for prorate in (charge_for_remaining, credit_for_unused):
        with pytest.raises(PricingError) as refused:
            prorate(-3000, window)
        assert refused.value.field == "amount_minor"


@pytest.mark.parametrize(
    ("seconds", "total", "field"),
    [(1, 0, "total_seconds"), (1, -5, "total_seconds"), (6, 5, "seconds"), (-1, 5, "seconds")],
)
def test_bad_portions_name_the_field(seconds: int, total: int, field: str) -> None:
    with pytest.raises(PricingError) as refused:
        portion(100, seconds, total)
    assert refused.value.field == field


# ---- properties ---------------------------------------------------------------

amounts = st.integers(min_value=-MAX_AMOUNT_MINOR, max_value=MAX_AMOUNT_MINOR)
prices = st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR)
zones = st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])
starts = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=zones
)


@st.composite
def windows(draw: st.DrawFn) -> ProrationWindow:
    start = draw(starts)
    length = draw(st.integers(min_value=1, max_value=400 * 86_400))
    into = draw(st.integers(min_value=0, max_value=length))
    zone = draw(zones)
    start_s = start.astimezone(UTC).replace(microsecond=0)  # real seconds, not wall ones
    return ProrationWindow(
        start,
        (start_s + dt.timedelta(seconds=length)).astimezone(zone),
        (start_s + dt.timedelta(seconds=into, microseconds=draw(st.integers(0, 999_999)))),
    )


@given(amounts, windows())
def test_the_rule_is_half_up_on_the_exact_share(amount: int, window: ProrationWindow) -> None:
    with localcontext(rounding_context(60)):
        exact = Decimal(amount) * window.seconds_remaining / window.seconds_total
        assert prorated_amount(amount, window) == round_minor(exact)


@given(
    amounts,
    st.integers(min_value=1, max_value=10**8),
    st.data(),
)
def test_a_split_period_adds_back_up_within_half_a_unit_a_piece(
    amount: int, total: int, data: st.DataObject
) -> None:
    cuts = data.draw(
        st.lists(st.integers(min_value=1, max_value=total - 1), unique=True, max_size=40)
        if total > 1
        else st.just([])
    )
    times = [0, *sorted(cuts), total]
    pieces = [portion(amount, end - start, total) for start, end in itertools.pairwise(times)]
    k = len(pieces)
    assert 2 * abs(sum(pieces) - amount) <= k


@given(prices, windows())
def test_a_credit_mirrors_the_charge(price: int, window: ProrationWindow) -> None:
    assert credit_for_unused(price, window) == -charge_for_remaining(price, window) <= 0
    assert prorated_amount(-price, window) == -prorated_amount(price, window)


@given(amounts, windows())
def test_all_the_period_is_the_whole_amount_and_none_is_zero(
    amount: int, window: ProrationWindow
) -> None:
    total = window.seconds_total
    assert portion(amount, total, total) == amount
    assert portion(amount, 0, total) == 0
    at_start = ProrationWindow(window.period_start, window.period_end, window.period_start)
    at_end = ProrationWindow(window.period_start, window.period_end, window.period_end)
    assert prorated_amount(amount, at_start) == amount
    assert prorated_amount(amount, at_end) == 0


@given(prices, prices, windows())
def test_a_credit_plus_a_charge_is_the_prorated_difference_within_a_unit(
    old: int, new: int, window: ProrationWindow
) -> None:
    together = credit_for_unused(old, window) + charge_for_remaining(new, window)
    assert abs(together - prorated_amount(new - old, window)) <= 1


@given(prices, windows())
def test_the_share_never_exceeds_the_price(price: int, window: ProrationWindow) -> None:
    assert 0 <= charge_for_remaining(price, window) <= price


@given(st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR // 2 - 1), st.integers(1, 10**8))
def test_a_half_rounds_away_from_zero_whatever_the_sign(half: int, seconds: int) -> None:
    amount = 2 * half + 1  # odd, over half the period: exactly half + 0.5
    window = ProrationWindow(
        APRIL, APRIL + 2 * seconds * dt.timedelta(seconds=1), APRIL + dt.timedelta(seconds=seconds)
    )
    assert charge_for_remaining(amount, window) == half + 1
    assert credit_for_unused(amount, window) == -(half + 1)
    assert prorated_amount(-amount, window) == -(half + 1)
