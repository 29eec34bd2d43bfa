"""The failed-key-check throttle's arithmetic, on a frozen clock."""

from __future__ import annotations

import datetime as dt

from billingos_kit.clock import FrozenClock
from billingos_kit.testing.plugin import TEST_EPOCH
from billingos_kit.throttle import FailedCheckThrottle


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
