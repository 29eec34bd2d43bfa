"""The retry schedule of a failed renewal charge (dunning).

A failed renewal makes the subscription past_due; the charge is retried on a
schedule, and when the last retry fails too the subscription is cancelled
and its access revoked. The default is the owner's: 3 retries over 10 days
(3, 7 and 10 days after the first failure). An organization may set its own.

Every retry is placed **from the first failure**, not from the attempt
before it: a worker that runs a retry late (an outage, a backlog) must not
push the rest of the schedule back, so "over 10 days" stays 10 days. The
delays are elapsed time, added in UTC: a customer given 3 days gets 72
hours, whichever zone the first failure was stamped in (adding a timedelta
to a zoned datetime adds wall-clock time, an hour off across DST).

A retry time may already be past when the caller asks (it ran late): the
caller charges at once. Retrying at once when the customer sets a new
payment method is the caller's too; it does not change the schedule.

Errors are ValueErrors whose message starts with the field:
`retry_delays[2]: …`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

UTC = dt.UTC
MAX_RETRIES = 10
MAX_RETRY_DELAY = dt.timedelta(days=60)


@dataclass(frozen=True, slots=True)
class DunningPolicy:
    """When to retry, as offsets from the first failure. Checked by
    `validate` (where a policy is set) and again by `after_failure`, so a
    policy stored before a rule tightened cannot schedule anything odd."""

    retry_delays: tuple[dt.timedelta, ...]  # strictly increasing, each in (0, 60 days]

    @classmethod
    def default(cls) -> DunningPolicy:
        """3 retries over 10 days."""
        return cls((dt.timedelta(days=3), dt.timedelta(days=7), dt.timedelta(days=10)))

    def validate(self) -> None:
        delays = self.retry_delays
        if not isinstance(delays, tuple):
            raise ValueError("retry_delays: must be a tuple of durations")
        if len(delays) > MAX_RETRIES:
            raise ValueError(f"retry_delays: must have at most {MAX_RETRIES} retries")
        for index, delay in enumerate(delays):
            field = f"retry_delays[{index}]"
            if not isinstance(delay, dt.timedelta):
                raise ValueError(f"{field}: must be a duration")
            if delay <= dt.timedelta(0):
                raise ValueError(f"{field}: must be after the first failure")
            if delay > MAX_RETRY_DELAY:
                raise ValueError(f"{field}: must be at most 60 days after the first failure")
            if index and delay <= delays[index - 1]:
                raise ValueError(
                    f"{field}: must be later than retry_delays[{index - 1}] (retries are in order)"
                )


@dataclass(frozen=True, slots=True)
class DunningStep:
    """What to do after a failed attempt: charge again at `retry_at`, or
    (give_up, retry_at None) cancel and revoke now."""

    retry_at: dt.datetime | None  # UTC
    give_up: bool


_GIVE_UP = DunningStep(retry_at=None, give_up=True)


def after_failure(
    policy: DunningPolicy, first_failure_at: dt.datetime, failed_attempts: int, retryable: bool
) -> DunningStep:
    """The step after the `failed_attempts`-th failure of a renewal charge
    (1: the original charge just failed; every retry that failed counts).

    Retry k (k = failed_attempts) is due at first_failure_at +
    retry_delays[k - 1]; past the last retry, give up. A failure retrying
    cannot fix (retryable=False: a lost or stolen card, a closed account, as
    payments reports it) gives up at once: retrying would only charge a dead
    card again and keep the access of a customer who will not pay."""
    policy.validate()
    if first_failure_at.tzinfo is None or first_failure_at.utcoffset() is None:
        raise ValueError("first_failure_at: must be timezone-aware")
    if isinstance(failed_attempts, bool) or not isinstance(failed_attempts, int):
        raise ValueError("failed_attempts: must be a whole number")
    if failed_attempts < 1:
        raise ValueError("failed_attempts: must be 1 or more (this failure included)")
    if not retryable or failed_attempts > len(policy.retry_delays):
        return _GIVE_UP
    retry_at = first_failure_at.astimezone(UTC) + policy.retry_delays[failed_attempts - 1]
    return DunningStep(retry_at=retry_at, give_up=False)
