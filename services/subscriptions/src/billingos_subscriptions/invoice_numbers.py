"""An order's invoice number: its id (a UUIDv7) in Crockford's base32, the
26 characters of a ULID. Derived, so it never changes and needs no counter
of its own; unique, because the id is; and increasing with time, because a
UUIDv7 begins with its millisecond and base32 keeps the order (the EU's
"sequential number which uniquely identifies the invoice" allows gaps).
Support finds the order from it (`order_of_invoice_number`)."""

from __future__ import annotations

import uuid

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
_DIGITS = 26  # 26 × 5 = 130 bits, the first two always 0


def invoice_number(order_id: uuid.UUID) -> str:
    value = order_id.int
    digits = []
    for _ in range(_DIGITS):
        value, digit = divmod(value, 32)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def order_of_invoice_number(number: str) -> uuid.UUID | None:
    """The order id an invoice number was made from, or None."""
    if len(number) != _DIGITS:
        return None
    value = 0
    for character in number.upper():
        digit = _ALPHABET.find(character)
        if digit < 0:
            return None
        value = value * 32 + digit
    if value >> 128:
        return None
    return uuid.UUID(int=value)
