"""ISO 4217 currencies a merchant can price in, with their minor-unit exponent.

Active circulating currencies as of 2026 (Bulgaria's lev left for the euro on
1 January 2026; the Netherlands Antillean guilder became the Caribbean guilder
XCG in 2025). Fund codes (BOV, CHE, CHW, COU, MXV, USN, UYI, UYW, CLF),
precious metals and the SDR are not priced in and are left out.
"""

from __future__ import annotations

_ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
_TWO_DECIMAL = """
AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD
KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG
SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH
USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
"""

MINOR_UNIT_EXPONENTS: dict[str, int] = {
    **{code: 0 for code in _ZERO_DECIMAL.split()},
    **{code: 2 for code in _TWO_DECIMAL.split()},
    **{code: 3 for code in _THREE_DECIMAL.split()},
}


class UnknownCurrency(ValueError):
    """Not an ISO 4217 code BillingOS prices in."""


def normalize_currency(code: str) -> str:
    """The upper-case code, or UnknownCurrency. Only ASCII letters are folded:
    `"uſd".upper()` is "USD" in Python, and no such spelling is a currency;
    nor is one with spaces or a newline around it."""
    if not code.isascii() or not code.isalpha():
        raise UnknownCurrency(code)
    normalized = code.upper()
    if normalized not in MINOR_UNIT_EXPONENTS:
        raise UnknownCurrency(code)
    return normalized


def minor_unit_exponent(code: str) -> int:
    """Digits after the decimal point: JPY 0, USD 2, KWD 3."""
    return MINOR_UNIT_EXPONENTS[normalize_currency(code)]
