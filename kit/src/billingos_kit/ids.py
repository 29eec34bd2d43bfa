"""Identifiers: UUIDv7 made in Python (Postgres 15 has no `uuidv7()`), and
parsing of ids that arrive in requests, so a malformed id is a 400 naming the
field rather than a database error.
"""

from __future__ import annotations

import os
import threading
import uuid

from billingos_kit.clock import Clock
from billingos_kit.errors import InvalidArgument

_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def new_id(clock: Clock) -> uuid.UUID:
    """A UUIDv7 from the clock's time, monotonic within this process.

    Under a frozen clock many ids share one millisecond; a 12-bit counter in
    `rand_a` keeps them ordered by creation, and on overflow the millisecond is
    borrowed from the future rather than breaking the order.
    """
    global _last_ms, _sequence
    millis = int(clock.now().timestamp() * 1000)
    with _lock:
        if millis <= _last_ms:
            _sequence += 1
            if _sequence > 0xFFF:
                _last_ms += 1
                _sequence = 0
            millis = _last_ms
        else:
            _last_ms = millis
            _sequence = int.from_bytes(os.urandom(2), "big") & 0x3FF
        sequence = _sequence
    random_tail = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= sequence << 64
    value |= 0b10 << 62
    value |= random_tail
    return uuid.UUID(int=value)


def canonical_id(value: str) -> uuid.UUID | None:
    """The id `value` spells in the canonical form BillingOS prints (36
    characters, lower case, hyphens), or None. Python's `uuid.UUID` also takes
    braces, `urn:uuid:`, upper case and no hyphens: one id would then have many
    spellings (in logs, idempotency fingerprints, path checks); only one is accepted."""
    if len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value else None


def parse_id(value: str, field: str) -> uuid.UUID:
    """Parses a request id, raising InvalidArgument naming `field` when malformed."""
    if not value:
        raise InvalidArgument(field, "is required")
    parsed = canonical_id(value)
    if parsed is None:
        raise InvalidArgument(
            field, "must be an id in canonical UUID form (lower-case hex with hyphens)"
        )
    return parsed
