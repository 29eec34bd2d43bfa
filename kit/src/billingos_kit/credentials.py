"""What the API-key check (keycheck.py) and the customer-session check
(sessioncheck.py) share: reading `Authorization: Bearer <secret>`, the
prefixes that tell the two kinds of secret apart without asking anyone, and
the answers of the credentials' owner (the customers service), kept by the
secret's SHA-256 for a short while and asked for once per secret however
many calls wait.

Both checks spend the same per-client-network throttle (throttle.py), so a
guesser gets one allowance of failed checks, whichever kind of secret it
tries, and whichever address of its IPv6 /64 it sends from.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from billingos_kit.clock import Clock
from billingos_kit.errors import TooManyRequests
from billingos_kit.throttle import FailedCheckThrottle

# How every API key secret starts; anything else is no key, known without asking.
API_KEY_PREFIX = "bos_"
# How every customer session token starts. Not a continuation of the API-key
# prefix: a check tells the two apart by their first four characters.
CUSTOMER_SESSION_PREFIX = "bcs_"
MAX_CACHED_SECRETS = 10_000
# What a 401 carries, so a client knows which scheme is expected.
CHALLENGE = {"www-authenticate": "Bearer"}

T = TypeVar("T")


def bearer(authorization: str) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` value, or None."""
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return None
    return secret


def digest_of(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def throttled(wait: int) -> TooManyRequests:
    return TooManyRequests(
        "too many requests with a missing or invalid credential from this address; "
        "retry after the Retry-After delay",
        wait,
    )


class Expiring(Generic[T]):
    """Values by key for a while (by the injected clock), the oldest dropped
    past `max_entries`."""

    def __init__(self, clock: Clock, ttl: dt.timedelta, max_entries: int) -> None:
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[dt.datetime, T]] = OrderedDict()

    def get(self, key: bytes) -> T | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if self._clock.now() - found[0] >= self._ttl:
            del self._entries[key]
            return None
        return found[1]

    def put(self, key: bytes, value: T, *, at: dt.datetime | None = None) -> None:
        self._entries[key] = (at or self._clock.now(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class OwnerAnswers(Generic[T]):
    """The owner's answers about secrets, by digest: a verified credential is
    trusted for `cache_time` and a secret found to be none is refused as long,
    so a busy credential costs no call; a revoked one stops working within
    `cache_time` of the owner's read."""

    def __init__(
        self,
        clock: Clock,
        throttle: FailedCheckThrottle,
        cache_time: dt.timedelta,
        max_entries: int = MAX_CACHED_SECRETS,
    ) -> None:
        self.verified: Expiring[T] = Expiring(clock, cache_time, max_entries)
        self._rejected: Expiring[bool] = Expiring(clock, cache_time, max_entries)
        self._throttle = throttle
        self._clock = clock
        self._asking: dict[bytes, asyncio.Future[T | None]] = {}

    async def ask(
        self, digest: bytes, client_address: str, find: Callable[[], Awaitable[T | None]]
    ) -> T | None:
        """The credential `digest` is, or None (counted as a failed check of
        the address); `find` asks the owner, unless a recent answer said no."""
        if self._rejected.get(digest) is not None:
            self._throttle.record_failure(client_address)
            return None
        return await self._ask_once(digest, client_address, find)

    async def _ask_once(
        self, digest: bytes, client_address: str, find: Callable[[], Awaitable[T | None]]
    ) -> T | None:
        """One lookup per secret at a time, in a task of its own: the calls
        that come meanwhile share its answer (or its failure, which is not
        remembered), and a call that goes away cancels only its own wait.

        The call that starts a lookup spends its address's token first and
        gets it back if the credential is good: checked and spent in one step,
        so many guesses at once cannot all pass the throttle while they wait.
        """
        lookup = self._asking.get(digest)
        if lookup is None:
            self._throttle.record_failure(client_address)
            # The answer is as old as the question: timed from before asking,
            # a revoked credential is never trusted past `cache_time` of the read.
            asked_at = self._clock.now()
            lookup = asyncio.ensure_future(find())
            self._asking[digest] = lookup
            lookup.add_done_callback(
                lambda done: self._remember(digest, asked_at, client_address, done)
            )
        return await asyncio.shield(lookup)

    def _remember(
        self,
        digest: bytes,
        asked_at: dt.datetime,
        client_address: str,
        done: asyncio.Future[T | None],
    ) -> None:
        del self._asking[digest]
        if done.cancelled() or done.exception() is not None:
            self._throttle.refund(client_address)  # the owner failed, not the caller
            return
        found = done.result()
        if found is None:
            self._rejected.put(digest, True, at=asked_at)
        else:
            self._throttle.refund(client_address)
            self.verified.put(digest, found, at=asked_at)
