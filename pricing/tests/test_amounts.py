"""Price arithmetic: examples that pin the rounding rule, and properties that
hold for any input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_pricing.amounts import (
    PricingError,
    SeatTier,
    TierMode,
    check_custom_amounts,
    check_seat_tiers,
    custom_amount,
    fixed_discount,
    format_amount,
    metered_amount,
    parse_unit_amount,
    percentage_discount,
    seat_amount,
    to_major_units,
    to_minor_units,
)
from billingos_pricing.currencies import UnknownCurrency, minor_unit_exponent, normalize_currency

# ---- currencies -------------------------------------------------------------


@pytest.mark.parametrize(("code", "digits"), [("USD", 2), ("jpy", 0), ("KWD", 3), ("eur", 2)])
def test_minor_unit_exponents(code: str, digits: int) -> None:
    assert minor_unit_exponent(code) == digits


@pytest.mark.parametrize(
    "code",
    # "u\u017fd" (long s) upper-cases to "USD" in Python; it is no currency.
    ["", "US", "XXX", "BGN", "usdollar", "XAU", "u\u017fd", "\uff35SD", "USD\n"],
)
def test_unknown_or_retired_currencies_are_refused(code: str) -> None:
    with pytest.raises(UnknownCurrency):
        normalize_currency(code)


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [("12.34", "USD", 1234), ("1000", "JPY", 1000), ("1.5", "KWD", 1500), ("0.001", "KWD", 1)],
)
def test_major_to_minor_units(major: str, currency: str, minor: int) -> None:
    assert to_minor_units(major, currency) == minor


@pytest.mark.parametrize(
    ("major", "currency"), [("1.5", "JPY"), ("0.001", "USD"), ("1.0001", "KWD")]
)
def test_digits_a_currency_does_not_have_are_refused(major: str, currency: str) -> None:
    with pytest.raises(PricingError):
        to_minor_units(major, currency)


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (1234, "USD", "12.34 USD"),
        (1000, "JPY", "1000 JPY"),
        (1500, "KWD", "1.500 KWD"),
        (5, "usd", "0.05 USD"),
    ],
)
def test_format_amount(minor: int, currency: str, shown: str) -> None:
    assert format_amount(minor, currency) == shown


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(["USD", "JPY", "KWD", "EUR"]))
def test_minor_major_round_trip(minor: int, currency: str) -> None:
    assert to_minor_units(to_major_units(minor, currency), currency) == minor


# ---- metered ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "quantity", "expected"),
    [
        ("0.5", "1", 1),  # a half rounds up
        ("0.5", "3", 2),  # 1.5 → 2
        ("0.5", "5", 3),  # 2.5 → 3 (half up, not to even)
        ("0.499999999999", "1", 0),
        ("0.000125", "1000000", 125),
        ("0.000125", "4", 0),  # 0.0005 of a cent rounds to 0
        ("0.000125", "4000", 1),  # 0.5 of a cent rounds to 1
        ("12", "1.5", 18),
    ],
)
def test_metered_amount_rounds_half_up_once_on_the_total(
    unit: str, quantity: str, expected: int
) -> None:
    assert metered_amount(Decimal(unit), Decimal(quantity)) == expected


def test_metered_amount_is_capped() -> None:
    assert metered_amount(Decimal("0.01"), Decimal(10**9), cap_minor=5000) == 5000
    assert metered_amount(Decimal("0.01"), Decimal(100), cap_minor=5000) == 1


def test_negative_quantity_is_refused() -> None:
    with pytest.raises(PricingError):
        metered_amount(Decimal(1), Decimal(-1))


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("0.000000000001", True),
        ("0.0000000000001", False),  # 13 places
        ("1", True),
        ("0", False),
        ("-1", False),
        ("1e-3", False),
        ("NaN", False),
        ("Infinity", False),
        ("", False),
        ("1.2.3", False),
        (" 0.5 ", True),
        ("1000000000000", False),  # 10^12 minor units per unit
    ],
)
def test_unit_amount_parsing(text: str, ok: bool) -> None:
    if ok:
        assert parse_unit_amount(text) > 0
    else:
        with pytest.raises(PricingError) as refused:
            parse_unit_amount(text, "price.metered_unit.unit_amount")
        assert refused.value.field == "price.metered_unit.unit_amount"


unit_amounts = st.decimals(
    min_value=Decimal("0.000000000001"), max_value=Decimal(1000), places=12, allow_nan=False
)
quantities = st.decimals(min_value=Decimal(0), max_value=Decimal(10**9), places=6, allow_nan=False)


@given(unit_amounts, quantities, quantities)
def test_metered_amount_never_decreases_with_usage(unit: Decimal, a: Decimal, b: Decimal) -> None:
    low, high = sorted([a, b])
    assert metered_amount(unit, low) <= metered_amount(unit, high)


@given(unit_amounts, quantities, quantities)
def test_splitting_usage_changes_the_total_by_at_most_a_minor_unit(
    unit: Decimal, a: Decimal, b: Decimal
) -> None:
    together = metered_amount(unit, a + b)
    apart = metered_amount(unit, a) + metered_amount(unit, b)
    assert abs(together - apart) <= 1


@given(unit_amounts, quantities)
def test_metered_amount_is_within_half_a_minor_unit_of_the_exact_value(
    unit: Decimal, quantity: Decimal
) -> None:
    assert abs(Decimal(metered_amount(unit, quantity)) - unit * quantity) <= Decimal("0.5")


# ---- seats ------------------------------------------------------------------

TIERS = [SeatTier(1, 5, 1000), SeatTier(6, 10, 800), SeatTier(11, None, 500)]


@pytest.mark.parametrize(
    ("seats", "volume", "graduated"),
    [
        (0, 0, 0),
        (1, 1000, 1000),
        (5, 5000, 5000),
        (6, 4800, 5800),
        (10, 8000, 9000),
        (12, 6000, 10000),
    ],
)
def test_seat_amounts(seats: int, volume: int, graduated: int) -> None:
    assert seat_amount(TIERS, TierMode.VOLUME, seats) == volume
    assert seat_amount(TIERS, TierMode.GRADUATED, seats) == graduated


@st.composite
def tier_lists(draw: st.DrawFn) -> list[SeatTier]:
    widths = draw(st.lists(st.integers(min_value=1, max_value=20), max_size=5))
    prices = draw(
        st.lists(
            st.integers(min_value=0, max_value=10**6),
            min_size=len(widths) + 1,
            max_size=len(widths) + 1,
        )
    )
    tiers, start = [], 1
    for width, price in zip(widths, prices, strict=False):
        tiers.append(SeatTier(start, start + width - 1, price))
        start += width
    tiers.append(SeatTier(start, None, prices[-1]))
    return tiers


def price_of_seat(tiers: list[SeatTier], seat: int) -> int:
    return next(t.amount_per_seat_minor for t in tiers if t.to_seats is None or seat <= t.to_seats)


@given(tier_lists(), st.integers(min_value=0, max_value=200))
def test_graduated_is_the_sum_of_each_seats_own_price(tiers: list[SeatTier], seats: int) -> None:
    assert check_seat_tiers(tiers) == []
    expected = sum(price_of_seat(tiers, seat) for seat in range(1, seats + 1))
    assert seat_amount(tiers, TierMode.GRADUATED, seats) == expected


@given(tier_lists(), st.integers(min_value=1, max_value=200))
def test_volume_prices_every_seat_at_the_tier_of_the_count(
    tiers: list[SeatTier], seats: int
) -> None:
    assert seat_amount(tiers, TierMode.VOLUME, seats) == seats * price_of_seat(tiers, seats)


@given(tier_lists(), st.data())
def test_any_gap_or_overlap_is_found(tiers: list[SeatTier], data: st.DataObject) -> None:
    if len(tiers) < 2:
        return
    index = data.draw(st.integers(min_value=1, max_value=len(tiers) - 1))
    shift = data.draw(st.sampled_from([-1, 1]))
    broken = list(tiers)
    moved = broken[index]
    broken[index] = SeatTier(moved.from_seats + shift, moved.to_seats, moved.amount_per_seat_minor)
    if broken[index].to_seats is not None and broken[index].to_seats < broken[index].from_seats:
        return
    problems = check_seat_tiers(broken, "price.seat_based.tiers")
    assert f"price.seat_based.tiers[{index}].from_seats" in [p.field for p in problems]


@pytest.mark.parametrize(
    ("tiers", "field"),
    [
        ([], "tiers"),
        ([SeatTier(2, None, 100)], "tiers[0].from_seats"),
        ([SeatTier(1, 5, 100)], "tiers[0].to_seats"),
        ([SeatTier(1, None, 100), SeatTier(2, None, 50)], "tiers[0].to_seats"),
        ([SeatTier(1, 5, 100), SeatTier(5, None, 50)], "tiers[1].from_seats"),
        ([SeatTier(1, 5, 100), SeatTier(7, None, 50)], "tiers[1].from_seats"),
        ([SeatTier(1, 5, -1), SeatTier(6, None, 50)], "tiers[0].amount_per_seat_minor"),
        ([SeatTier(1, 0, 100), SeatTier(1, None, 50)], "tiers[0].to_seats"),
    ],
)
def test_bad_tier_lists_name_the_tier(tiers: list[SeatTier], field: str) -> None:
    assert field in [p.field for p in check_seat_tiers(tiers)]


# ---- pay what you want ------------------------------------------------------


@pytest.mark.parametrize(
    ("minimum", "maximum", "preset", "fields"),
    [
        (500, 1000, 700, []),
        (500, None, None, []),
        (0, None, 0, []),
        (-1, None, None, ["custom.minimum_amount_minor"]),
        (1000, 500, None, ["custom.maximum_amount_minor"]),
        (500, 1000, 400, ["custom.preset_amount_minor"]),
        (500, 1000, 1500, ["custom.preset_amount_minor"]),
    ],
)
def test_custom_price_bounds(
    minimum: int, maximum: int | None, preset: int | None, fields: list[str]
) -> None:
    assert [p.field for p in check_custom_amounts(minimum, maximum, preset)] == fields


def test_chosen_custom_amount_must_be_within_bounds() -> None:
    assert custom_amount(500, 1000, 750) == 750
    with pytest.raises(PricingError):
        custom_amount(500, 1000, 499)
    with pytest.raises(PricingError):
        custom_amount(500, 1000, 1001)


# ---- discounts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("subtotal", "basis_points", "off"),
    [
        (1000, 1000, 100),
        (999, 1000, 100),
        (994, 1000, 99),
        (995, 1000, 100),
        (1000, 10000, 1000),
        (1, 5000, 1),
    ],
)
def test_percentage_discount_rounds_half_up(subtotal: int, basis_points: int, off: int) -> None:
    assert percentage_discount(subtotal, basis_points) == off


@pytest.mark.parametrize("basis_points", [0, -1, 10001])
def test_percentage_out_of_range_is_refused(basis_points: int) -> None:
    with pytest.raises(PricingError):
        percentage_discount(1000, basis_points)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=10000))
def test_a_discount_never_exceeds_the_subtotal(subtotal: int, basis_points: int) -> None:
    assert 0 <= percentage_discount(subtotal, basis_points) <= subtotal
    assert 0 <= fixed_discount(subtotal, basis_points * 1000) <= subtotal


def test_a_huge_quantity_is_still_rounded_only_once() -> None:
    """0.4999… of a cent must round to 0, even with more digits than Python's
    default 28-digit context would keep (it would round to 0.5 first)."""
    quantity = Decimal("499999999999.99999999999999999")
    assert metered_amount(Decimal("0.000000000001"), quantity) == 0


@pytest.mark.parametrize(
    ("minimum", "maximum", "preset", "field"),
    [
        (10**12 + 1, None, None, "custom.minimum_amount_minor"),
        (0, 2**63 - 1, None, "custom.maximum_amount_minor"),
        (0, None, 2**62, "custom.preset_amount_minor"),
    ],
)
def test_custom_amounts_are_bounded(
    minimum: int, maximum: int | None, preset: int | None, field: str
) -> None:
    assert field in [p.field for p in check_custom_amounts(minimum, maximum, preset)]


def test_seat_prices_and_counts_are_bounded() -> None:
    tiers = [SeatTier(1, 2_000_000, 100), SeatTier(2_000_001, None, 2**62)]
    fields = [p.field for p in check_seat_tiers(tiers)]
    assert "tiers[0].to_seats" in fields
    assert "tiers[1].amount_per_seat_minor" in fields


def test_percentage_discount_and_metered_amount_ignore_the_callers_traps() -> None:
    """Both round in a context of their own, never a copy of the caller's."""
    from decimal import Context, Inexact, localcontext

    from billingos_pricing.amounts import metered_amount
    from billingos_pricing.exact import exact

    with localcontext(Context(traps=[Inexact])):
        assert percentage_discount(8235, 1000) == 824
        assert metered_amount(Decimal("0.5"), Decimal(3)) == 2
    with exact():
        assert percentage_discount(8235, 1000) == 824
