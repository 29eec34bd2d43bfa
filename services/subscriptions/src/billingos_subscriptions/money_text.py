"""Money as an invoice prints it: the ISO code and the amount from its
integer minor units by the currency's exponent (USD 1,234.56, JPY 1,235,
KWD 1.235), never through a float. The code rather than a symbol: "$" is a
dozen currencies, and an invoice must not be ambiguous."""

from __future__ import annotations

from billingos_pricing.currencies import minor_unit_exponent


def money_text(amount_minor: int, currency: str) -> str:
    exponent = minor_unit_exponent(currency)
    whole, fraction = divmod(abs(amount_minor), 10**exponent)
    text = f"{whole:,}"
    if exponent:
        text += "." + str(fraction).zfill(exponent)
    sign = "-" if amount_minor < 0 else ""
    return f"{sign}{currency.upper()} {text}"
