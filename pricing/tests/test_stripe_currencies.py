"""Currencies Stripe charges in: the ones it lists, none it does not, and
case folding that never turns a lookalike into a code."""

from __future__ import annotations

import pytest

from billingos_pricing.currencies import MINOR_UNIT_EXPONENTS, UnknownCurrency
from billingos_pricing.stripe_amounts import MINIMUM_CHARGES, STRIPE_AMOUNT_STEPS, STRIPE_EXPONENTS
from billingos_pricing.stripe_currencies import (
    STRIPE_CURRENCIES,
    UnsupportedByStripe,
    check_stripe_currency,
)


@pytest.mark.parametrize("currency", ["usd", "USD", "Eur", "jpy", "kwd", "isk", "mga", "ugx"])
def test_listed_currencies_are_accepted_in_any_ascii_case(currency: str) -> None:
    assert check_stripe_currency(currency) == currency.upper()


@pytest.mark.parametrize(
    "currency", ["IQD", "LYD", "CUP", "IRR", "KPW", "SYP", "XCG", "STN", "MRU", "ZWG"]
)
def test_iso_currencies_stripe_does_not_list_are_refused(currency: str) -> None:
    assert currency in MINOR_UNIT_EXPONENTS
    with pytest.raises(UnsupportedByStripe, match=currency):
        check_stripe_currency(currency)


@pytest.mark.parametrize(
    "spelling", ["u\u017fd", "\uff35SD", "US\u0110", " usd", "usd\n", "", "US"]
)
def test_lookalikes_and_padding_are_no_currency(spelling: str) -> None:
    with pytest.raises(UnknownCurrency):
        check_stripe_currency(spelling)


def test_every_currency_with_a_stripe_rule_is_one_stripe_charges_in() -> None:
    """The minimums and the special units are Stripe's: each such currency is
    on the list (IQD and LYD have a step rule for the day Stripe lists them)."""
    ruled = set(MINIMUM_CHARGES) | set(STRIPE_EXPONENTS) | set(STRIPE_AMOUNT_STEPS)
    not_charged = ruled - STRIPE_CURRENCIES
    assert not_charged == {"IQD", "LYD"}
    assert set(MINOR_UNIT_EXPONENTS) >= STRIPE_CURRENCIES
