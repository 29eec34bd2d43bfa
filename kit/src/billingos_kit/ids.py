"""Identifiers: UUIDv7 made in Python (Postgres 15 has no `uuidv7()`), and
parsing of ids that arrive in requests, so a malformed id is a 400 naming the
field rather than a database error.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
import weakref

from billingos_kit.clock import Clock
from billingos_kit.errors import InvalidArgument

_lock = threading.Lock()


class _Sequence:
    """Where one clock's ids are: the last millisecond used and the counter in it."""

    __slots__ = ("counter", "last_ms")

    def __init__(self) -> None:
        self.last_ms = 0
        self.counter = 0


# Per clock, not per process: a FrozenClock's ids follow its own time even
# when a SystemClock in the same process has handed out later ones.
_sequences: weakref.WeakKeyDictionary[Clock, _Sequence] = weakref.WeakKeyDictionary()


def new_id(clock: Clock) -> uuid.UUID:
    """A UUIDv7 from the clock's time, monotonic for that clock.

    Under a frozen clock many ids share one millisecond; a 12-bit counter in
    `rand_a` keeps them ordered by creation, and on overflow the millisecond is
    borrowed from the future rather than breaking the order.
    """
    return new_ids(clock, 1)[0]


def new_ids(clock: Clock, count: int) -> list[uuid.UUID]:
    """`count` UUIDv7s in creation order, as `count` calls of `new_id` would
    give them, for one clock read, one lock and one read of randomness (a
    thousand usage events in one request)."""
    millis = int(clock.now().timestamp() * 1000)
    stamps: list[tuple[int, int]] = []
    with _lock:
        state = _sequences.get(clock)
        if state is None:
            state = _sequences[clock] = _Sequence()
        for _ in range(count):
            if millis <= state.last_ms:
                state.counter += 1
                if state.counter > 0xFFF:
                    state.last_ms += 1
                    state.counter = 0
            else:
                state.last_ms = millis
                state.counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
            stamps.append((state.last_ms, state.counter))
    randomness = os.urandom(8 * count)
    tail_mask = (1 << 62) - 1
    found = []
    for index, (stamp, sequence) in enumerate(stamps):
        tail = int.from_bytes(randomness[8 * index : 8 * index + 8], "big") & tail_mask
        value = ((stamp & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (sequence << 64)
        found.append(uuid.UUID(int=value | (0b10 << 62) | tail))
    return found


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


def first_id_at(when: dt.datetime) -> uuid.UUID:
    """The smallest UUIDv7 of `when`'s millisecond: every id made earlier
    sorts below it, so `id < first_id_at(t)` is a range scan of the primary
    key for "made before t" (a purge needs no index on a time column)."""
    milliseconds = int(when.timestamp() * 1000)
    return uuid.UUID(int=(milliseconds << 80) | (0x7 << 76) | (0b10 << 62))
