"""The retry schedule of a failed renewal: the default's three retries over
ten days, giving up (after the last retry, or at once when retrying cannot
help), and the policy's refusals."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_subscriptions.dunning import (
    MAX_RETRIES,
    DunningPolicy,
    DunningStep,
    after_failure,
)

UTC = dt.UTC
DAY = dt.timedelta(days=1)
FIRST_FAILURE = dt.datetime(2027, 3, 1, 9, tzinfo=UTC)
GIVE_UP = DunningStep(retry_at=None, give_up=True)


def test_the_default_is_three_retries_over_ten_days() -> None:
    policy = DunningPolicy.default()
    steps = [after_failure(policy, FIRST_FAILURE, attempts, True) for attempts in (1, 2, 3, 4)]
    assert steps == [
        DunningStep(dt.datetime(2027, 3, 4, 9, tzinfo=UTC), give_up=False),
        DunningStep(dt.datetime(2027, 3, 8, 9, tzinfo=UTC), give_up=False),
        DunningStep(dt.datetime(2027, 3, 11, 9, tzinfo=UTC), give_up=False),
        GIVE_UP,  # the third retry was the fourth failure
    ]
    assert after_failure(policy, FIRST_FAILURE, 9, True) == GIVE_UP


def test_a_failure_retrying_cannot_fix_gives_up_at_once() -> None:
    for attempts in (1, 2, 3):
        assert after_failure(DunningPolicy.default(), FIRST_FAILURE, attempts, False) == GIVE_UP


def test_a_policy_without_retries_gives_up_after_the_first_failure() -> None:
    assert after_failure(DunningPolicy(()), FIRST_FAILURE, 1, True) == GIVE_UP


def test_retries_are_placed_from_the_first_failure_in_elapsed_time() -> None:
    # First failure the evening before Berlin skips an hour: 3 days is 72 hours.
    berlin = ZoneInfo("Europe/Berlin")
    first = dt.datetime(2027, 3, 27, 20, tzinfo=berlin)
    step = after_failure(DunningPolicy((3 * DAY,)), first, 1, True)
    assert step.retry_at == dt.datetime(2027, 3, 30, 19, tzinfo=UTC)  # 21:00 CEST
    assert step.retry_at is not None
    assert step.retry_at.tzinfo is UTC
    assert step.retry_at - first == 3 * DAY


def test_a_custom_policy() -> None:
    policy = DunningPolicy((dt.timedelta(hours=12), 2 * DAY, 5 * DAY, 14 * DAY, 30 * DAY))
    policy.validate()
    retry_times = [after_failure(policy, FIRST_FAILURE, k, True).retry_at for k in range(1, 6)]
    assert retry_times == [FIRST_FAILURE + delay for delay in policy.retry_delays]
    assert after_failure(policy, FIRST_FAILURE, 6, True) == GIVE_UP


# ---- refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("delays", "field"),
    [
        ((3 * DAY, 3 * DAY), "retry_delays[1]"),  # not increasing
        ((3 * DAY, 7 * DAY, 5 * DAY), "retry_delays[2]"),
        ((dt.timedelta(0),), "retry_delays[0]"),  # no retry at the failure itself
        ((DAY, -DAY), "retry_delays[1]"),
        ((DAY, 61 * DAY), "retry_delays[1]"),  # too long
        ((60 * DAY + dt.timedelta(seconds=1),), "retry_delays[0]"),
        (tuple(DAY * (i + 1) for i in range(MAX_RETRIES + 1)), "retry_delays"),  # too many
        ([DAY], "retry_delays"),
        ((3,), "retry_delays[0]"),
    ],
)
def test_bad_policies_name_the_field(delays: tuple[dt.timedelta, ...], field: str) -> None:
    policy = DunningPolicy(delays)
    with pytest.raises(ValueError, match=f"^{re.escape(field)}: "):
        policy.validate()
    with pytest.raises(ValueError, match=f"^{re.escape(field)}: "):
        after_failure(policy, FIRST_FAILURE, 1, True)


def test_the_limits_themselves_are_allowed() -> None:
    DunningPolicy(tuple(DAY * (i + 1) for i in range(MAX_RETRIES))).validate()
    DunningPolicy((dt.timedelta(microseconds=1), 60 * DAY)).validate()


def test_bad_attempts_are_refused() -> None:
    policy = DunningPolicy.default()
    for attempts in (0, -1, True):
        with pytest.raises(ValueError, match=r"^failed_attempts: "):
            after_failure(policy, FIRST_FAILURE, attempts, True)
    with pytest.raises(ValueError, match=r"^first_failure_at: "):
        after_failure(policy, dt.datetime(2027, 3, 1), 1, True)


# ---- properties ---------------------------------------------------------------

delays = st.lists(
    st.timedeltas(min_value=dt.timedelta(seconds=1), max_value=dt.timedelta(days=60)),
    unique=True,
    max_size=MAX_RETRIES,
).map(lambda found: tuple(sorted(found)))


@given(delays, st.integers(min_value=1, max_value=MAX_RETRIES + 2))
def test_a_schedule_retries_in_order_then_gives_up(
    retry_delays: tuple[dt.timedelta, ...], attempts: int
) -> None:
    policy = DunningPolicy(retry_delays)
    policy.validate()
    step = after_failure(policy, FIRST_FAILURE, attempts, True)
    if attempts > len(retry_delays):
        assert step == GIVE_UP
        return
    assert not step.give_up
    assert step.retry_at == FIRST_FAILURE + retry_delays[attempts - 1]
    if attempts > 1:
        earlier = after_failure(policy, FIRST_FAILURE, attempts - 1, True).retry_at
        assert earlier is not None
        assert earlier < step.retry_at
