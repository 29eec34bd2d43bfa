"""Money as an invoice prints it: the ISO code and the amount from its
integer minor units by the currency's exponent (USD 1,234.56, JPY 1,235,
KWD 1.235), never through a float. The major units are the pricing
package's (`billingos_pricing.amounts.to_major_units`, as its
`format_amount`); this adds only the invoice's shape: the code first (not
a symbol: "$" is a dozen currencies, and an invoice must not be
ambiguous), the digits grouped by thousands with ",", and the sign before
the code."""

from __future__ import annotations

from billingos_pricing.amounts import to_major_units


def money_text(amount_minor: int, currency: str) -> str:
    amount = to_major_units(abs(amount_minor), currency)
    sign = "-" if amount_minor < 0 else ""
    return f"{sign}{currency.upper()} {amount:,f}"
