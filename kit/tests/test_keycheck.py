"""The API-key check every service runs (keycheck.py), against a key store
held in memory and a frozen clock: what is cached and for how long, which
refusal says what, the per-client-network throttle, and one lookup per key however
many calls wait for it."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from billingos_kit.clock import FrozenClock
from billingos_kit.errors import TooManyRequests, Unauthenticated, Unavailable
from billingos_kit.keycheck import KeyCheck, NoKeyLookup, VerifiedKey
from billingos_kit.scopes import Scope
from billingos_kit.testing.plugin import TEST_EPOCH

CACHE_TIME = dt.timedelta(seconds=5)
ALLOWANCE = 5
GOOD = VerifiedKey(uuid.uuid4(), uuid.uuid4(), frozenset({Scope.READ, Scope.WRITE}))


class KeyStore:
    """The keys the owner knows, counting how often it is asked; `gate`, when
    set, holds every answer until opened; `failing` makes it unreachable."""

    def __init__(self) -> None:
        self.keys: dict[str, VerifiedKey] = {"bos_good": GOOD}
        self.asked: list[str] = []
        self.gate: asyncio.Event | None = None
        self.failing = False

    async def find(self, secret: str) -> VerifiedKey | None:
        self.asked.append(secret)
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise Unavailable("the key store is down")
        return self.keys.get(secret)

    async def close(self) -> None:
        return None


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(TEST_EPOCH)


@pytest.fixture
def store() -> KeyStore:
    return KeyStore()


@pytest.fixture
def check(store: KeyStore, clock: FrozenClock) -> KeyCheck:
    return KeyCheck(store, clock, cache_time=CACHE_TIME, failed_checks_per_minute=ALLOWANCE)


async def test_a_verified_key_is_trusted_for_the_cache_time_then_asked_again(
    check: KeyCheck, store: KeyStore, clock: FrozenClock
) -> None:
    for _ in range(3):
        assert await check.verify("Bearer bos_good", "192.0.2.1") == GOOD
    assert store.asked == ["bos_good"]
    del store.keys["bos_good"]  # revoked
    clock.advance(CACHE_TIME - dt.timedelta(milliseconds=1))
    assert await check.verify("bearer  bos_good ", "192.0.2.1") == GOOD
    clock.advance(dt.timedelta(milliseconds=1))
    with pytest.raises(Unauthenticated) as refused:
        await check.verify("Bearer bos_good", "192.0.2.1")
    assert refused.value.reason == "API_KEY_INVALID"
    assert store.asked == ["bos_good", "bos_good"]


@pytest.mark.parametrize(
    "authorization", ["", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "bos_good", "Token bos_good"]
)
async def test_no_bearer_key_is_missing_and_nobody_is_asked(
    check: KeyCheck, store: KeyStore, authorization: str
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await check.verify(authorization, "192.0.2.1")
    assert refused.value.reason == "API_KEY_MISSING"
    assert refused.value.response_headers == {"www-authenticate": "Bearer"}
    assert store.asked == []


async def test_an_unknown_key_is_asked_once_per_cache_time(
    check: KeyCheck, store: KeyStore, clock: FrozenClock
) -> None:
    for _ in range(3):
        with pytest.raises(Unauthenticated) as refused:
            await check.verify("Bearer bos_guess", "192.0.2.1")
        assert refused.value.reason == "API_KEY_INVALID"
        assert refused.value.response_headers == {"www-authenticate": "Bearer"}
    assert store.asked == ["bos_guess"]
    store.keys["bos_guess"] = GOOD  # created since
    clock.advance(CACHE_TIME)
    assert await check.verify("Bearer bos_guess", "192.0.2.1") == GOOD


async def test_an_address_past_its_allowance_is_refused_whatever_its_key(
    check: KeyCheck, store: KeyStore, clock: FrozenClock
) -> None:
    for index in range(ALLOWANCE):
        with pytest.raises(Unauthenticated):
            await check.verify(f"Bearer bos_guess{index}" if index % 2 else "", "192.0.2.9")
    asked = len(store.asked)
    with pytest.raises(TooManyRequests) as limited:
        await check.verify("Bearer bos_good", "192.0.2.9")
    assert limited.value.reason == "RATE_LIMITED"
    assert limited.value.retry_after_seconds == 12  # a failure forgiven every 12 s
    assert limited.value.response_headers == {"retry-after": "12"}
    assert len(store.asked) == asked  # nobody asked
    assert await check.verify("Bearer bos_good", "192.0.2.10") == GOOD
    clock.advance(dt.timedelta(seconds=12))
    assert await check.verify("Bearer bos_good", "192.0.2.9") == GOOD


async def test_calls_waiting_for_one_key_share_one_lookup(check: KeyCheck, store: KeyStore) -> None:
    store.gate = asyncio.Event()
    calls = [asyncio.create_task(check.verify("Bearer bos_good", "192.0.2.1")) for _ in range(20)]
    await asyncio.sleep(0)
    store.gate.set()
    assert await asyncio.gather(*calls) == [GOOD] * 20
    assert store.asked == ["bos_good"]


async def test_a_failed_lookup_reaches_every_waiting_call_and_is_not_remembered(
    check: KeyCheck, store: KeyStore
) -> None:
    store.gate = asyncio.Event()
    store.failing = True
    calls = [asyncio.create_task(check.verify("Bearer bos_good", "192.0.2.1")) for _ in range(3)]
    await asyncio.sleep(0)
    store.gate.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(outcome, Unavailable) for outcome in outcomes)
    store.failing = False
    assert await check.verify("Bearer bos_good", "192.0.2.1") == GOOD
    assert store.asked == ["bos_good", "bos_good"]


async def test_a_call_that_goes_away_leaves_the_lookup_to_the_others(
    check: KeyCheck, store: KeyStore
) -> None:
    store.gate = asyncio.Event()
    first = asyncio.create_task(check.verify("Bearer bos_good", "192.0.2.1"))
    await asyncio.sleep(0)
    second = asyncio.create_task(check.verify("Bearer bos_good", "192.0.2.1"))
    await asyncio.sleep(0)
    first.cancel()  # its client went away
    await asyncio.sleep(0)
    store.gate.set()
    assert await second == GOOD
    assert first.cancelled()
    assert store.asked == ["bos_good"]


async def test_every_waiting_call_that_goes_away_stays_cancelled(
    check: KeyCheck, store: KeyStore
) -> None:
    store.gate = asyncio.Event()
    calls = [asyncio.create_task(check.verify("Bearer bos_good", "192.0.2.1")) for _ in range(3)]
    await asyncio.sleep(0)
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    assert all(call.cancelled() for call in calls)
    store.gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    # The lookup finished for nobody, and its answer serves the next call.
    assert await check.verify("Bearer bos_good", "192.0.2.1") == GOOD
    assert store.asked == ["bos_good"]


async def test_an_answer_is_timed_from_the_question_not_its_arrival(
    check: KeyCheck, store: KeyStore, clock: FrozenClock
) -> None:
    """A slow lookup must not stretch how long a revoked key keeps working."""
    store.gate = asyncio.Event()
    waiting = asyncio.create_task(check.verify("Bearer bos_good", "192.0.2.1"))
    await asyncio.sleep(0)
    clock.advance(dt.timedelta(seconds=2))  # the answer takes 2 s
    store.gate.set()
    assert await waiting == GOOD
    del store.keys["bos_good"]  # revoked just after the read
    clock.advance(CACHE_TIME - dt.timedelta(seconds=2))
    with pytest.raises(Unauthenticated):
        await check.verify("Bearer bos_good", "192.0.2.1")


async def test_a_process_told_nowhere_to_check_keys_refuses_keyed_calls(
    clock: FrozenClock,
) -> None:
    check = KeyCheck(
        NoKeyLookup(), clock, cache_time=CACHE_TIME, failed_checks_per_minute=ALLOWANCE
    )
    with pytest.raises(Unavailable) as refused:
        await check.verify("Bearer bos_good", "192.0.2.1")
    assert refused.value.reason == "KEY_CHECK_UNCONFIGURED"


async def test_guesses_at_once_cannot_all_slip_past_the_throttle(
    check: KeyCheck, store: KeyStore
) -> None:
    """Each lookup spends its token before it asks: twenty guesses waiting on
    the owner together still get only the allowance's worth of lookups."""
    store.gate = asyncio.Event()
    guesses = [
        asyncio.create_task(check.verify(f"Bearer bos_guess{n}", "192.0.2.7")) for n in range(20)
    ]
    await asyncio.sleep(0)
    store.gate.set()
    outcomes = await asyncio.gather(*guesses, return_exceptions=True)
    assert len(store.asked) == ALLOWANCE
    assert sum(isinstance(o, Unauthenticated) for o in outcomes) == ALLOWANCE
    assert sum(isinstance(o, TooManyRequests) for o in outcomes) == 20 - ALLOWANCE


async def test_a_good_key_or_an_owner_outage_costs_the_address_nothing(
    check: KeyCheck, store: KeyStore
) -> None:
    store.failing = True
    for _ in range(ALLOWANCE + 2):
        with pytest.raises(Unavailable):
            await check.verify("Bearer bos_good", "192.0.2.8")
    store.failing = False
    for n in range(ALLOWANCE + 2):
        store.keys[f"bos_new{n}"] = GOOD
        assert await check.verify(f"Bearer bos_new{n}", "192.0.2.8") == GOOD


async def test_a_secret_that_is_no_api_key_is_refused_without_asking(
    check: KeyCheck, store: KeyStore
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await check.verify("Bearer sk_live_123", "192.0.2.1")
    assert refused.value.reason == "API_KEY_INVALID"
    assert store.asked == []


async def test_addresses_of_one_ipv6_64_share_one_allowance(
    check: KeyCheck, store: KeyStore, clock: FrozenClock
) -> None:
    """A host picks any address of its /64 at will: rotating through them
    buys no fresh allowance, while the next /64 has its own."""
    for index in range(ALLOWANCE):
        with pytest.raises(Unauthenticated):
            await check.verify(f"Bearer bos_guess{index}", f"2001:db8:1:2::{index + 1:x}")
    for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"):
        with pytest.raises(TooManyRequests):
            await check.verify("Bearer bos_good", address)
    assert await check.verify("Bearer bos_good", "2001:db8:1:3::1") == GOOD
    clock.advance(dt.timedelta(seconds=12))
    assert await check.verify("Bearer bos_good", "2001:db8:1:2:abcd::9") == GOOD


async def test_a_refund_goes_back_to_the_network_that_spent_it(
    check: KeyCheck, store: KeyStore
) -> None:
    """A lookup spends its token up front and a good key gives it back, to
    the same /64 whichever of its addresses asked."""
    for index in range(ALLOWANCE - 1):
        with pytest.raises(Unauthenticated):
            await check.verify(f"Bearer bos_guess{index}", f"2001:db8:5::{index + 1:x}")
    for n in range(3):
        store.keys[f"bos_new{n}"] = GOOD
        assert await check.verify(f"Bearer bos_new{n}", f"2001:db8:5::aa{n}") == GOOD
    with pytest.raises(Unauthenticated):
        await check.verify("Bearer bos_last_guess", "2001:db8:5::ff")
    with pytest.raises(TooManyRequests):
        await check.verify("Bearer bos_good", "2001:db8:5::1")


async def test_calls_without_a_client_address_share_one_unknown_allowance(
    check: KeyCheck,
) -> None:
    for index in range(ALLOWANCE):
        with pytest.raises(Unauthenticated):
            await check.verify(f"Bearer bos_guess{index}", "" if index % 2 else " ")
    with pytest.raises(TooManyRequests):
        await check.verify("Bearer bos_good", "")
    assert await check.verify("Bearer bos_good", "192.0.2.1") == GOOD
