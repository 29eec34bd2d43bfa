"""Proration to the second, as Stripe does it: when a subscription changes in
the middle of a period, the price already paid is credited, and the new price
charged, for the exact share of the period left after the change.

The share is counted in **whole seconds**: each timestamp is truncated to
its second before anything is counted, because Stripe counts seconds and
because the instants come from different clocks (the request, the database,
the worker): a few microseconds of jitter between them must never move a
cent, nor make a change at the very start of a period look like one before
it.

The arithmetic is integer only: amount × seconds / total is one exact
integer division, rounded once by THE rule (half away from zero, so a credit
of −0.5 is −1, the mirror of the charge it undoes). No float, and no Decimal
division that could round before the rule does.

Splitting a period into k consecutive pieces and prorating the amount over
each gives back the whole amount within k/2 minor units: every piece rounds
once, by at most half a unit. A credit for one price plus a charge for
another, in the same window, is within 1 minor unit of prorating their
difference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from billingos_pricing.amounts import MAX_AMOUNT_MINOR, PricingError

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class ProrationWindow:
    """A period and the moment in it when the subscription changed; refused
    at construction when it is not one, so its seconds are always sound."""

    period_start: dt.datetime  # aware
    period_end: dt.datetime  # aware, at least a second after period_start
    change_time: dt.datetime  # aware, period_start <= change_time <= period_end

    def __post_init__(self) -> None:
        start = _whole_seconds(self.period_start, "period_start")
        end = _whole_seconds(self.period_end, "period_end")
        change = _whole_seconds(self.change_time, "change_time")
        if end <= start:
            raise PricingError("period_end", "must be at least a second after period_start")
        if not start <= change <= end:
            raise PricingError("change_time", "must be within the period, start and end included")

    @property
    def seconds_total(self) -> int:
        return _whole_seconds(self.period_end, "period_end") - _whole_seconds(
            self.period_start, "period_start"
        )

    @property
    def seconds_remaining(self) -> int:
        return _whole_seconds(self.period_end, "period_end") - _whole_seconds(
            self.change_time, "change_time"
        )


def portion(amount_minor: int, seconds: int, total_seconds: int) -> int:
    """amount × seconds / total_seconds, rounded once, half away from zero.
    The one place a proration rounds: every piece of a split period goes
    through here, which is what bounds a split's error by half a unit a
    piece. The amount may be negative (a difference of two prices)."""
    _check_amount(amount_minor)
    if not _is_int(total_seconds) or total_seconds <= 0:
        raise PricingError("total_seconds", "must be a whole number of seconds above 0")
    if not _is_int(seconds) or not 0 <= seconds <= total_seconds:
        raise PricingError("seconds", "must be a whole number of seconds from 0 to total_seconds")
    return _divide_half_up(amount_minor * seconds, total_seconds)


def prorated_amount(amount_minor: int, window: ProrationWindow) -> int:
    """The share of `amount_minor` for what is left of the period after the
    change: amount × remaining / total seconds, rounded once."""
    return portion(amount_minor, window.seconds_remaining, window.seconds_total)


def charge_for_remaining(amount_minor: int, window: ProrationWindow) -> int:
    """What the new price costs from the change to the end of the period
    (0 or more). A price is never negative: one given here is refused
    rather than turned into a credit by its sign."""
    _check_price(amount_minor)
    return prorated_amount(amount_minor, window)


def credit_for_unused(amount_minor: int, window: ProrationWindow) -> int:
    """What is given back of a price already paid for the whole period, for
    the time after the change (0 or less): the exact mirror of the charge
    for the same price, because the rule rounds halves away from zero."""
    _check_price(amount_minor)
    return -prorated_amount(amount_minor, window)


def _whole_seconds(moment: dt.datetime, field: str) -> int:
    """Seconds since the epoch, truncated (floored) to the second. Counted
    against a UTC epoch, never by subtracting two datetimes of one zone:
    Python subtracts those by their wall clocks, which across a DST change
    is an hour off."""
    if not isinstance(moment, dt.datetime):
        raise PricingError(field, "must be a datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise PricingError(field, "must be timezone-aware")
    return (moment - _EPOCH) // _SECOND


def _check_amount(amount_minor: int) -> None:
    if not _is_int(amount_minor):
        raise PricingError("amount_minor", "must be an integer number of minor units")
    if abs(amount_minor) > MAX_AMOUNT_MINOR:
        raise PricingError(
            "amount_minor", f"must be between -{MAX_AMOUNT_MINOR} and {MAX_AMOUNT_MINOR}"
        )


def _check_price(amount_minor: int) -> None:
    _check_amount(amount_minor)
    if amount_minor < 0:
        raise PricingError("amount_minor", "must not be negative (a price)")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator (> 0) rounded half away from zero, exactly."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient
