"""Failed API-key checks, counted per client address.

Each address has a token bucket of `per_minute` tokens that refills at that
rate; a failed check (no key, an unknown or a revoked one) spends a token.
With the bucket empty, every request from the address is refused with 429 and
a Retry-After, valid key or not: a guesser learns nothing until the bucket
refills, and nobody is asked. Counting happens in the process that checks the
key (every service checks the keys of the calls it serves, keycheck.py), so
the limit holds per process; the gateway passes the client address it trusts
(see `[network]` in gateway/gateway.toml).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass

from billingos_kit.clock import Clock

MAX_TRACKED_ADDRESSES = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float  # clock seconds when `tokens` was computed


class TokenBuckets:
    """A token bucket per key (a client address, an organization), each of
    `per_minute` tokens refilling at that rate; full buckets are forgotten
    and the oldest dropped past `max_addresses`, so memory stays bounded."""

    def __init__(
        self, clock: Clock, per_minute: int, max_addresses: int = MAX_TRACKED_ADDRESSES
    ) -> None:
        self._clock = clock
        self._capacity = float(per_minute)
        self._refill_per_second = per_minute / 60.0
        self._max_addresses = max_addresses
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None if it may now."""
        bucket = self._current(address)
        if bucket is None or bucket.tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self._refill_per_second))

    def take(self, address: str) -> int | None:
        """Spends a token of `address`'s if it has one (None); else the
        seconds until it will, spending nothing."""
        wait = self.retry_after(address)
        if wait is None:
            self.spend(address)
        return wait

    def spend(self, address: str) -> None:
        bucket = self._current(address) or _Bucket(self._capacity, self._now())
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
        self._buckets[address] = bucket
        self._buckets.move_to_end(address)
        while len(self._buckets) > self._max_addresses:
            self._buckets.popitem(last=False)

    def refund(self, address: str) -> None:
        """Gives back a token spent up front on a check that then succeeded
        (spent before asking, so concurrent guesses cannot all slip past)."""
        bucket = self._current(address)
        if bucket is not None:
            bucket.tokens = min(self._capacity, bucket.tokens + 1.0)

    def _current(self, address: str) -> _Bucket | None:
        bucket = self._buckets.get(address)
        if bucket is None:
            return None
        now = self._now()
        bucket.tokens = min(
            self._capacity, bucket.tokens + (now - bucket.at) * self._refill_per_second
        )
        bucket.at = now
        if bucket.tokens >= self._capacity:
            del self._buckets[address]  # full again: forget the address
            return None
        return bucket

    def _now(self) -> float:
        return self._clock.now().timestamp()


class FailedCheckThrottle(TokenBuckets):
    """Failed credential checks per client address (see the module's doc)."""

    def record_failure(self, address: str) -> None:
        self.spend(address)


def client_network(address: str) -> str:
    """What a per-client limit counts by: an IPv4 address as it is, an IPv6
    one by its /64 (one subscriber's network: a host picks any address in
    it at will); anything else as given."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)
