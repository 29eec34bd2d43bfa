"""Failed credential checks, counted per client network.

A failed check is a request whose credential did not pass: an API key
(keycheck.py) or a portal session token (sessioncheck.py) that is missing,
unknown, expired or revoked. Both checks of a process spend one shared
throttle (credentials.py), so a guesser cannot double its allowance by
alternating between the two kinds.

Each client network has a token bucket of `per_minute` tokens that refills at
that rate; a failed check spends a token. A client network is what
`client_network` makes of the address: an IPv4 address as it is, an IPv6 one
by its /64 (a host picks any address inside its /64 at will, so counting raw
IPv6 addresses would give it a fresh allowance per address), and a missing
address the one shared "(unknown)" bucket. The throttle normalises every key
it is given itself (`FailedCheckThrottle`), for spending, refunding and
asking alike, so no caller can forget to.

With the bucket empty, every request from the network is refused with 429 and
a Retry-After, valid credential or not: a guesser learns nothing until the
bucket refills, and nobody is asked. Counting happens in the process that
checks the credential (every service checks the credentials of the calls it
serves), so the limit holds per process; the gateway passes the client
address it trusts (see `[network]` in gateway/gateway.toml).
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass

from billingos_kit.clock import Clock

MAX_TRACKED_ADDRESSES = 100_000

# The one bucket every request without a (usable) client address shares.
UNKNOWN_CLIENT = "(unknown)"


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

    def key(self, address: str) -> str:
        """The bucket `address` counts in: itself here; subclasses may
        normalise (FailedCheckThrottle counts by client network)."""
        return address

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None if it may now."""
        return self._retry_after(self.key(address))

    def take(self, address: str) -> int | None:
        """Spends a token of `address`'s if it has one (None); else the
        seconds until it will, spending nothing."""
        key = self.key(address)
        wait = self._retry_after(key)
        if wait is None:
            self._spend(key)
        return wait

    def spend(self, address: str) -> None:
        self._spend(self.key(address))

    def refund(self, address: str) -> None:
        """Gives back a token spent up front on a check that then succeeded
        (spent before asking, so concurrent guesses cannot all slip past)."""
        bucket = self._current(self.key(address))
        if bucket is not None:
            bucket.tokens = min(self._capacity, bucket.tokens + 1.0)

    def _retry_after(self, address: str) -> int | None:
        bucket = self._current(address)
        if bucket is None or bucket.tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self._refill_per_second))

    def _spend(self, address: str) -> None:
        bucket = self._current(address) or _Bucket(self._capacity, self._now())
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
        self._buckets[address] = bucket
        self._buckets.move_to_end(address)
        while len(self._buckets) > self._max_addresses:
            self._buckets.popitem(last=False)

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
    """Failed credential checks per client network (see the module's doc):
    every address it is given, to spend, refund or ask about, counts by
    `client_network`."""

    def key(self, address: str) -> str:
        return client_network(address)

    def record_failure(self, address: str) -> None:
        self.spend(address)


# client_network runs on every checked call (the throttle is asked first):
# parsing an IPv6 address costs ~17 us, a cached answer ~0.1 us.
@functools.lru_cache(maxsize=4096)
def client_network(address: str) -> str:
    """What a per-client limit counts by: an IPv4 address as it is, an IPv6
    one by its /64 (one subscriber's network: a host picks any address in
    it at will), an IPv4-mapped IPv6 one as its IPv4 address; an empty
    address (the client's is not known) the one shared UNKNOWN_CLIENT
    bucket; anything else as given. Applying it twice changes nothing."""
    address = address.strip()
    if not address:
        return UNKNOWN_CLIENT
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)
