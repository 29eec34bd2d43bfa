"""The failed-credential-check throttle's arithmetic, on a frozen clock."""

from __future__ import annotations

import datetime as dt

import pytest

from billingos_kit.clock import FrozenClock
from billingos_kit.testing.plugin import TEST_EPOCH
from billingos_kit.throttle import (
    UNKNOWN_CLIENT,
    FailedCheckThrottle,
    TokenBuckets,
    client_network,
)


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
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::/64", "2001:db8:1:2::/64"),  # applying it twice changes nothing
        ("", UNKNOWN_CLIENT),
        ("  ", UNKNOWN_CLIENT),
        (UNKNOWN_CLIENT, UNKNOWN_CLIENT),
        ("not an address", "not an address"),
    ],
)
def test_a_client_network_is_its_ipv4_address_or_its_ipv6_64(address: str, network: str) -> None:
    assert client_network(address) == network


def test_the_failed_check_throttle_counts_an_ipv6_client_by_its_64() -> None:
    """Spending, asking and refunding all count by client network: a client
    rotating through the addresses of its /64 gets one allowance."""
    clock = FrozenClock(TEST_EPOCH)
    throttle = FailedCheckThrottle(clock, per_minute=2)
    throttle.record_failure("2001:db8:1:2::1")
    throttle.record_failure("2001:db8:1:2:aaaa:bbbb:cccc:dddd")
    assert throttle.retry_after("2001:db8:1:2::ffff") == 30
    assert throttle.take("2001:db8:1:2::42") == 30  # nothing left to take
    assert throttle.retry_after("2001:db8:1:3::1") is None  # the next /64
    throttle.refund("2001:db8:1:2::9")
    assert throttle.retry_after("2001:db8:1:2::1") is None
    assert throttle.take("2001:db8:1:2::7") is None
    assert throttle.retry_after("2001:db8:1:2::1") == 30


def test_the_failed_check_throttle_keeps_ipv4_addresses_apart() -> None:
    throttle = FailedCheckThrottle(FrozenClock(TEST_EPOCH), per_minute=1)
    throttle.record_failure("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 60
    assert throttle.retry_after("::ffff:192.0.2.1") == 60  # the same client, mapped
    assert throttle.retry_after("192.0.2.2") is None


def test_clients_of_no_known_address_share_one_bucket() -> None:
    throttle = FailedCheckThrottle(FrozenClock(TEST_EPOCH), per_minute=1)
    throttle.record_failure("")
    assert throttle.retry_after(" ") == 60
    assert throttle.retry_after(UNKNOWN_CLIENT) == 60
    assert throttle.retry_after("192.0.2.1") is None


def test_plain_token_buckets_count_their_keys_as_given() -> None:
    """Organization ids and the like are no addresses: nothing normalised."""
    buckets = TokenBuckets(FrozenClock(TEST_EPOCH), per_minute=1)
    assert buckets.take("2001:db8:1:2::1") is None
    assert buckets.take("2001:db8:1:2::2") is None
    assert buckets.take("") is None
    assert buckets.take(" ") is None
