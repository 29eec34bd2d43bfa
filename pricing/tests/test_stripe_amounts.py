"""Amounts Stripe will accept: the cases Stripe's currencies page documents,
the limits in our minor units, and properties that hold for every currency."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_pricing.amounts import to_major_units
from billingos_pricing.currencies import MINOR_UNIT_EXPONENTS, UnknownCurrency
from billingos_pricing.stripe_amounts import (
    MAXIMUM_DIGITS,
    MINIMUM_CHARGES,
    STRIPE_AMOUNT_STEPS,
    STRIPE_EXPONENTS,
    StripeAmount,
    UnchargeableAmount,
    UnrepresentableAmount,
    from_stripe_amount,
    maximum_charge,
    minimum_charge,
    price_amount_problem,
    stripe_amount,
)

CURRENCIES = sorted(MINOR_UNIT_EXPONENTS)


def refusal(amount_minor: int, currency: str) -> UnchargeableAmount:
    with pytest.raises(UnchargeableAmount) as refused:
        stripe_amount(amount_minor, currency)
    return refused.value


# ---- the documented cases -----------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "ours", "wire"),
    [
        # Special cases: "to charge 5 ISK, provide an amount value of 500".
        ("ISK", 5, 500),
        ("UGX", 5, 500),
        # MGA is zero-decimal in Stripe's API, two-decimal in ISO 4217.
        ("MGA", 12300, 123),
        # Three-decimal, last digit 0.
        ("KWD", 1010, 1010),
        ("BHD", 5120, 5120),
        # Same exponent on both sides.
        ("USD", 1234, 1234),
        ("JPY", 500, 500),
        ("EUR", 50, 50),
        # HUF and TWD charges may be two-decimal (whole units only for payouts).
        ("HUF", 17501, 17501),
        ("TWD", 80045, 80045),
    ],
)
def test_our_minor_units_become_stripes(currency: str, ours: int, wire: int) -> None:
    assert stripe_amount(ours, currency) == StripeAmount(amount=wire, currency=currency.lower())
    assert from_stripe_amount(wire, currency) == ours


def test_the_currency_is_read_in_any_case_and_sent_in_lower_case() -> None:
    assert stripe_amount(500, "usd") == StripeAmount(500, "usd")
    assert stripe_amount(5, "Isk") == StripeAmount(500, "isk")


@pytest.mark.parametrize(
    ("currency", "amount"),
    [
        ("MGA", 12345),  # 123.45 ariary: Stripe takes whole ariary
        ("MGA", 1),
        ("KWD", 1005),  # 1.005 KWD: the last digit must be 0
        ("OMR", 1),
        ("TND", 99_999_995),
    ],
)
def test_amounts_stripe_cannot_write_are_refused(currency: str, amount: int) -> None:
    refused = refusal(amount, currency)
    assert refused.reason == "AMOUNT_NOT_REPRESENTABLE"
    assert refused.limit_minor is None
    assert currency in refused.message


def test_a_kwd_amount_names_the_step_stripe_charges_in() -> None:
    assert refusal(1005, "KWD").message == (
        "1.005 KWD cannot be charged through Stripe, which charges KWD in multiples of 0.010 KWD"
    )
    assert "multiples of 1.00 MGA" in refusal(12345, "MGA").message


def test_below_the_minimum_is_refused_with_the_minimum() -> None:
    refused = refusal(49, "USD")
    assert refused.reason == "AMOUNT_BELOW_MINIMUM"
    assert refused.limit_minor == 50
    assert "below Stripe's minimum charge of 0.50 USD" in refused.message
    assert stripe_amount(50, "USD") == StripeAmount(50, "usd")


@pytest.mark.parametrize(
    ("currency", "minimum"),
    [("USD", 50), ("EUR", 50), ("GBP", 30), ("JPY", 50), ("HUF", 17500), ("MXN", 1000)],
)
def test_documented_minimums_are_the_first_amount_accepted(currency: str, minimum: int) -> None:
    assert minimum_charge(currency) == minimum
    assert refusal(minimum - 1, currency).reason == "AMOUNT_BELOW_MINIMUM"
    assert stripe_amount(minimum, currency).amount == minimum


@pytest.mark.parametrize(
    ("currency", "minimum"),
    # No documented minimum: the smallest amount Stripe can charge at all.
    [("KES", 1), ("ISK", 1), ("UGX", 1), ("MGA", 100), ("KWD", 10), ("IQD", 10)],
)
def test_without_a_documented_minimum_one_step_is_the_minimum(currency: str, minimum: int) -> None:
    assert currency not in MINIMUM_CHARGES
    assert minimum_charge(currency) == minimum
    stripe_amount(minimum, currency)


def test_the_maximum_is_eight_digits_of_stripes_units() -> None:
    assert stripe_amount(99_999_999, "USD") == StripeAmount(99_999_999, "usd")
    refused = refusal(100_000_000, "USD")
    assert refused.reason == "AMOUNT_ABOVE_MAXIMUM"
    assert refused.limit_minor == 99_999_999
    assert "above Stripe's maximum charge of 999,999.99 USD" in refused.message


@pytest.mark.parametrize(
    ("currency", "maximum", "wire"),
    [
        ("USD", 99_999_999, 99_999_999),
        ("JPY", 99_999_999, 99_999_999),
        # Two decimals on the wire, whole krónur: 999,999 ISK is 99,999,900.
        ("ISK", 999_999, 99_999_900),
        ("UGX", 999_999, 99_999_900),
        # No decimals on the wire: 99,999,999 ariary.
        ("MGA", 9_999_999_900, 99_999_999),
        # The last digit 0: 99,999.990 KWD.
        ("KWD", 99_999_990, 99_999_990),
        # "Other payment methods": 12 digits for IDR, 10 for COP, 9 for INR.
        ("IDR", 999_999_999_999, 999_999_999_999),
        ("COP", 9_999_999_999, 9_999_999_999),
        ("INR", 999_999_999, 999_999_999),
    ],
)
def test_the_maximum_in_our_minor_units(currency: str, maximum: int, wire: int) -> None:
    assert maximum_charge(currency) == maximum
    assert stripe_amount(maximum, currency).amount == wire
    next_writable = maximum + _smallest_chargeable(currency)
    assert refusal(next_writable, currency).reason == "AMOUNT_ABOVE_MAXIMUM"


@pytest.mark.parametrize("amount", [0, -1, -5000])
def test_zero_and_negative_amounts_are_no_charge(amount: int) -> None:
    refused = refusal(amount, "USD")
    assert refused.reason == "AMOUNT_NOT_POSITIVE"
    assert refused.limit_minor is None
    assert "greater than 0" in refused.message


def test_a_refusal_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"0\.49 USD"):
        stripe_amount(49, "USD")


@pytest.mark.parametrize("currency", ["XXX", "usdollars", " usd", "", "u\u017fd"])
def test_unknown_currencies_are_refused_as_such(currency: str) -> None:
    with pytest.raises(UnknownCurrency):
        stripe_amount(1000, currency)
    with pytest.raises(UnknownCurrency):
        from_stripe_amount(1000, currency)
    with pytest.raises(UnknownCurrency):
        minimum_charge(currency)
    with pytest.raises(UnknownCurrency):
        maximum_charge(currency)
    with pytest.raises(UnknownCurrency):
        price_amount_problem(1000, currency)


def test_a_bool_is_no_amount() -> None:
    with pytest.raises(TypeError):
        stripe_amount(True, "USD")
    with pytest.raises(TypeError):
        from_stripe_amount(True, "USD")


# ---- Stripe's amounts back ---------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "wire", "ours"),
    [("ISK", 500, 5), ("ISK", -500, -5), ("MGA", 123, 12300), ("KWD", 1010, 1010), ("USD", 0, 0)],
)
def test_stripe_amounts_in_our_minor_units(currency: str, wire: int, ours: int) -> None:
    assert from_stripe_amount(wire, currency) == ours


def test_a_stripe_amount_that_is_a_fraction_of_our_unit_is_refused() -> None:
    with pytest.raises(UnrepresentableAmount, match="550 isk"):
        from_stripe_amount(550, "ISK")
    with pytest.raises(UnrepresentableAmount):
        from_stripe_amount(1, "UGX")


# ---- the catalog's question ------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "amount"),
    [
        ("USD", 0),  # a free price
        ("USD", 1),  # below Stripe's minimum: billing carries it forward
        ("HUF", 100),
        ("KWD", 10),
        ("KWD", 1010),
        ("MGA", 100),
        ("ISK", 1),
        ("USD", 99_999_999),
    ],
)
def test_prices_stripe_can_charge_some_day_have_no_problem(currency: str, amount: int) -> None:
    assert price_amount_problem(amount, currency) is None


@pytest.mark.parametrize(
    ("currency", "amount", "says"),
    [
        ("KWD", 1005, "multiples of 0.010 KWD"),
        ("KWD", 5, "multiples of 0.010 KWD"),  # below the minimum too, but never chargeable
        ("MGA", 12345, "multiples of 1.00 MGA"),
        ("USD", 100_000_000, "maximum charge of 999,999.99 USD"),
        ("ISK", 1_000_000, "maximum charge of 999,999 ISK"),
        ("USD", -1, "greater than 0"),
    ],
)
def test_prices_stripe_can_never_charge_say_why(currency: str, amount: int, says: str) -> None:
    problem = price_amount_problem(amount, currency)
    assert problem is not None
    assert says in problem


# ---- the tables ----------------------------------------------------------------------


def test_every_table_names_only_currencies_billingos_prices_in() -> None:
    for table in (STRIPE_EXPONENTS, STRIPE_AMOUNT_STEPS, MINIMUM_CHARGES, MAXIMUM_DIGITS):
        assert set(table) <= set(MINOR_UNIT_EXPONENTS)


def test_every_documented_minimum_is_itself_chargeable() -> None:
    for currency, minimum in MINIMUM_CHARGES.items():
        assert minimum_charge(currency) == minimum
        stripe_amount(minimum, currency)


def test_the_tables_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        STRIPE_EXPONENTS["ISK"] = 0  # type: ignore[index]


# ---- properties, for every currency ----------------------------------------------


@given(st.sampled_from(CURRENCIES), st.integers(min_value=-1000, max_value=10**13))
def test_an_accepted_amount_keeps_its_value_and_fits_stripes_rules(
    currency: str, amount: int
) -> None:
    sent = _outcome(amount, currency)
    if isinstance(sent, UnchargeableAmount):
        assert sent.message
        if sent.reason == "AMOUNT_NOT_POSITIVE":
            assert amount <= 0
        elif sent.reason == "AMOUNT_BELOW_MINIMUM":
            assert sent.limit_minor == minimum_charge(currency)
            assert 0 < amount < sent.limit_minor
        elif sent.reason == "AMOUNT_ABOVE_MAXIMUM":
            assert sent.limit_minor == maximum_charge(currency)
            assert amount > sent.limit_minor
        else:
            assert sent.reason == "AMOUNT_NOT_REPRESENTABLE"
            assert amount % _smallest_chargeable(currency)
        return
    stripe_exponent = STRIPE_EXPONENTS.get(currency, MINOR_UNIT_EXPONENTS[currency])
    # The same money: Stripe's digits read in Stripe's exponent are ours in ISO's.
    assert Decimal(sent.amount).scaleb(-stripe_exponent) == to_major_units(amount, currency)
    assert sent.amount % STRIPE_AMOUNT_STEPS.get(currency, 1) == 0
    assert 0 < sent.amount < 10 ** MAXIMUM_DIGITS.get(currency, 8)
    assert minimum_charge(currency) <= amount <= maximum_charge(currency)
    assert from_stripe_amount(sent.amount, currency) == amount


@given(
    st.sampled_from(CURRENCIES),
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=1, max_value=999),
)
def test_prices_on_the_step_are_chargeable_and_prices_between_steps_never(
    currency: str, multiple: int, offset: int
) -> None:
    step = _smallest_chargeable(currency)
    amount = multiple * step
    if amount > maximum_charge(currency):
        assert price_amount_problem(amount, currency) is not None
        return
    assert price_amount_problem(amount, currency) is None
    if amount >= minimum_charge(currency):
        sent = stripe_amount(amount, currency)
        assert from_stripe_amount(sent.amount, currency) == amount
    if offset % step:
        assert price_amount_problem(amount + offset % step, currency) is not None


@given(st.sampled_from(CURRENCIES))
def test_the_limits_are_accepted_and_one_past_them_is_not(currency: str) -> None:
    low, high = minimum_charge(currency), maximum_charge(currency)
    assert 0 < low <= high
    stripe_amount(low, currency)
    stripe_amount(high, currency)
    next_writable = high + _smallest_chargeable(currency)
    assert refusal(next_writable, currency).reason == "AMOUNT_ABOVE_MAXIMUM"
    if low > 1:
        assert refusal(low - 1, currency).reason in {
            "AMOUNT_BELOW_MINIMUM",
            "AMOUNT_NOT_REPRESENTABLE",
        }


def _smallest_chargeable(currency: str) -> int:
    """Our smallest amount Stripe can write in `currency`, found by trying:
    independent of how the module computes it."""
    return next(
        amount for amount in range(1, 1001) if price_amount_problem(amount, currency) is None
    )


def _outcome(amount: int, currency: str) -> StripeAmount | UnchargeableAmount:
    try:
        return stripe_amount(amount, currency)
    except UnchargeableAmount as refused:
        return refused


def test_a_refund_below_the_charge_minimum_is_still_a_refund() -> None:
    from billingos_pricing.stripe_amounts import stripe_refund_amount

    assert stripe_refund_amount(10, "USD").amount == 10
    assert stripe_refund_amount(5, "ISK").amount == 500
    with pytest.raises(UnchargeableAmount) as refused:
        stripe_refund_amount(1005, "KWD")
    assert refused.value.reason == "AMOUNT_NOT_REPRESENTABLE"
    with pytest.raises(UnchargeableAmount):
        stripe_refund_amount(0, "USD")
