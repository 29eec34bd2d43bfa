"""The failed-key-check throttle's arithmetic, on a frozen clock."""

from __future__ import annotations

import datetime as dt

import pytest

from billingos_kit.clock import FrozenClock
from billingos_kit.testing.plugin import TEST_EPOCH
from billingos_kit.throttle import FailedCheckThrottle, TokenBuckets, client_network


def test_an_address_is_throttled_after_its_allowance_and_refills_with_time() -> None:
    clock = FrozenClock(TEST_EPOCH)
    throttle = FailedCheckThrottle(clock, per_minute=3)
    for _ in range(3):
        assert throttle.retry_after("192.0.2.1") is None
        throttle.record_failure("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 20  # a token per 20 s
    assert throttle.retry_after("192.0.2.2") is None  # another address
    clock.advance(dt.timedelta(seconds=19))
    assert throttle.retry_after("192.0.2.1") == 1
    clock.advance(dt.timedelta(seconds=1))
    assert throttle.retry_after("192.0.2.1") is None
    throttle.record_failure("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 20


def test_the_throttle_forgets_the_oldest_addresses_past_its_bound() -> None:
    throttle = FailedCheckThrottle(FrozenClock(TEST_EPOCH), per_minute=1, max_addresses=2)
    for address in ("a", "b", "c"):
        throttle.record_failure(address)
    assert throttle.retry_after("a") is None
    assert throttle.retry_after("c") is not None


def test_token_buckets_take_spends_only_while_tokens_are_left() -> None:
    clock = FrozenClock(TEST_EPOCH)
    buckets = TokenBuckets(clock, per_minute=2)
    assert buckets.take("org") is None
    assert buckets.take("org") is None
    assert buckets.take("org") == 30  # empty: nothing spent, 30 s to a token
    assert buckets.take("org") == 30
    buckets.refund("org")
    assert buckets.take("org") is None
    clock.advance(dt.timedelta(seconds=30))
    assert buckets.take("org") is None
    assert buckets.take("other") is None


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not an address", "not an address"),
    ],
)
def test_a_client_network_is_its_ipv4_address_or_its_ipv6_64(address: str, network: str) -> None:
    assert client_network(address) == network
