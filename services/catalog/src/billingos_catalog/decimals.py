"""Decimals as the API writes them: plain text ("0.0125", "-5", "1000"),
never an exponent, a NaN or a non-ASCII digit; and back, without trailing
zeros. Quantities, sub-cent amounts, rates and tax percentages all travel
this way (money itself is integer minor units)."""

from __future__ import annotations

import re
from decimal import Decimal

# No sign but '-' (the pricing checkers then refuse a negative by name).
_PLAIN = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


def parse_decimal(text: str) -> Decimal | None:
    """The decimal `text` writes, or None for anything else ("1e3", "NaN",
    "", "٣")."""
    candidate = text.strip()
    if not _PLAIN.fullmatch(candidate):
        return None
    value = Decimal(candidate)
    # "-0" is 0: a negative zero would pass every "not negative" rule and be
    # echoed back as "-0".
    return value.copy_abs() if value.is_zero() else value


def plain(value: Decimal | None) -> str | None:
    """A Decimal as plain text without trailing zeros ("0.0125", "1000",
    never "1.25E-2" or "1E+3"); None stays None."""
    if value is None:
        return None
    text = f"{value.copy_abs() if value.is_zero() else value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
