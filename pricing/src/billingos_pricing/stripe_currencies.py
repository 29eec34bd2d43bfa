"""The currencies Stripe charges in, beside the ones BillingOS can write.

currencies.py holds every circulating ISO 4217 currency; Stripe charges in
fewer (its "Supported currencies" page, docs.stripe.com/currencies, section
"Presentment currencies", plus the five "Three-decimal currencies"). A price
in a currency Stripe refuses could never be paid, so the catalog refuses it
when the price is created (`check_stripe_currency`), not at every checkout.

The payments service sends ISO's code in lower case (stripe_amounts.py), so
a currency counts as supported only when Stripe's page lists that same code.
Where the page lists only an older code of a currency (ANG, not XCG, which
replaced it in 2025; STD and MRO, the pre-2018 codes of STN and MRU), the
ISO code is refused: sending it, Stripe would refuse the charge. Currencies
the page does not list at all (IQD, LYD, and the sanctioned or
non-convertible ones: CUP, IRR, KPW, SYP...) are refused too. Re-check this
list against the page when Stripe adds a currency: a missing one is refused
with a clear message; a wrong extra one would fail at every checkout.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Final

from billingos_pricing.currencies import MINOR_UNIT_EXPONENTS, UnknownCurrency, normalize_currency

_PRESENTMENT = """
USD AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BIF BMD BND BOB BRL BSD BWP
BYN BZD CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP
GBP GEL GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JPY KES KGS KHR
KMF KRW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN
MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
SAR SBD SCR SEK SGD SHP SLE SOS SRD SZL THB TJS TOP TRY TTD TWD TZS UAH UGX UYU
UZS VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
"""
_THREE_DECIMAL = "BHD JOD KWD OMR TND"

STRIPE_CURRENCIES: Final[frozenset[str]] = frozenset(
    (_PRESENTMENT + _THREE_DECIMAL).split()
) & frozenset(MINOR_UNIT_EXPONENTS)
"""The ISO 4217 codes BillingOS prices in that Stripe charges in."""


class UnsupportedByStripe(ValueError):
    """An ISO 4217 currency BillingOS knows but Stripe does not charge in."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Stripe does not charge in {code}")
        self.code = code


def check_stripe_currency(currency: str) -> str:
    """The upper-case code of a currency Stripe charges in. UnknownCurrency
    for what is no ISO 4217 code BillingOS knows (with ASCII-only case folding,
    so `uſd` is no spelling of USD), UnsupportedByStripe for a known one Stripe
    refuses."""
    code = normalize_currency(currency)
    if code not in STRIPE_CURRENCIES:
        raise UnsupportedByStripe(code)
    return code


__all__ = ["STRIPE_CURRENCIES", "UnknownCurrency", "UnsupportedByStripe", "check_stripe_currency"]
