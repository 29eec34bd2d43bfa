"""Calendar billing periods: where each period of a subscription starts and
ends, in the organization's billing time zone (UTC unless it chose one).

A customer who subscribes on the 31st at 09:00 expects to be billed "on the
31st at 09:00, or the month's last day when it has no 31st", in the
organization's own calendar, whatever the offset. So the arithmetic is done
on the local wall clock and only the result is turned into an instant:

- Every boundary is computed **from the anchor**, never by chaining periods:
  chaining would let a short month eat the day for good (Jan 31 → Feb 28 →
  Mar 28). From the anchor, a Jan 31 monthly subscription renews Feb 28 (29
  in a leap year), Mar 31, Apr 30: the day is clamped to the month's length
  and restored when the month has it. A Feb 29 yearly anchor renews Feb 28
  in common years and Feb 29 in leap years.
- The anchor's local time of day is kept. Days and weeks add local calendar
  days, so across a DST change a daily period lasts 23 or 25 hours.
- A local time the clocks skip (a spring-forward gap) becomes **the first
  instant at or after it**: the instant of the jump (02:30 in Berlin on the
  last Sunday of March is 03:00 CEST). Never later than needed, and the same
  rule as the metering buckets. A local time that happens twice (autumn)
  is its **first** occurrence (fold=0). Both rules are monotone, so
  boundaries never go backwards.
- The anchor is an instant: boundary 0 is that instant exactly (the second
  occurrence of an autumn repeat included), and its wall time is what a
  clock in `zone` showed then, however the datetime was written (a
  datetime given in a gap is read as Python reads it, fold=0, then shown
  as the clock showed it).

One degenerate case the rules cannot avoid: a zone that skipped a whole
calendar day (Samoa, 2011-12-30) maps a daily boundary on that day and the
next one to the same instant, an empty period that `period_at` never
returns (it always finds start <= moment < end).

Errors are ValueErrors whose message starts with the field: `count: …`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = dt.UTC
MAX_INTERVAL_COUNT = 365
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = dt.timedelta(seconds=1)


class IntervalUnit(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


_DAYS = {IntervalUnit.DAY: 1, IntervalUnit.WEEK: 7}


@dataclass(frozen=True, slots=True)
class BillingInterval:
    """Every `count` units (quarterly is MONTH × 3); refused at construction
    when it is not one, so every function below can trust it."""

    unit: IntervalUnit
    count: int = 1  # 1..MAX_INTERVAL_COUNT

    def __post_init__(self) -> None:
        if not isinstance(self.unit, IntervalUnit):
            raise ValueError(f"unit: must be one of {', '.join(IntervalUnit)}")
        count = self.count
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError("count: must be a whole number")
        if not 1 <= count <= MAX_INTERVAL_COUNT:
            raise ValueError(f"count: must be from 1 to {MAX_INTERVAL_COUNT}")


def boundary(anchor: dt.datetime, interval: BillingInterval, n: int, zone: ZoneInfo) -> dt.datetime:
    """The n-th period boundary after `anchor` (n=0 is the anchor itself), in
    UTC: period n runs from boundary n to boundary n + 1. Always computed
    from the anchor (module doc), so boundary 5 does not depend on 1–4."""
    _check_aware(anchor, "anchor")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("n: must be a whole number, 0 or more")
    if n == 0:
        return anchor.astimezone(UTC)
    return _boundary(_wall(anchor, zone), interval, n, zone)


def period_at(
    anchor: dt.datetime, interval: BillingInterval, moment: dt.datetime, zone: ZoneInfo
) -> tuple[int, dt.datetime, dt.datetime]:
    """(n, start, end): the period containing `moment`, start <= moment < end,
    in UTC. A moment exactly on a boundary belongs to the period that starts
    there. A moment before the anchor is refused: there is no period before
    the first, and a negative n would only hide a caller's mix-up of
    subscriptions or clocks.

    n is first estimated from the local calendar (whole periods of months or
    days between the two local dates), then corrected by stepping; a moment
    ten years into a daily subscription costs a few boundaries, not 3,650."""
    _check_aware(anchor, "anchor")
    _check_aware(moment, "moment")
    first = anchor.astimezone(UTC)
    instant = moment.astimezone(UTC)
    if instant < first:
        raise ValueError("moment: must not be before the anchor, where the first period starts")
    wall = _wall(anchor, zone)
    n = max(_estimate(wall, interval, _wall(moment, zone)), 0)
    start = _nth(first, wall, interval, n, zone)
    while start > instant:
        n -= 1
        start = _nth(first, wall, interval, n, zone)
    end = _nth(first, wall, interval, n + 1, zone)
    # A boundary never shows a local time before its wall time, so the
    # estimate is never low; stepping up is a guard should that ever break.
    while end <= instant:
        n, start = n + 1, end
        end = _nth(first, wall, interval, n + 1, zone)
    return n, start, end


# ---- local calendar ---------------------------------------------------------


def _check_aware(moment: dt.datetime, field: str) -> None:
    if not isinstance(moment, dt.datetime):
        raise ValueError(f"{field}: must be a datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{field}: must be timezone-aware")


def _wall(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The local wall-clock time of an instant, naive, fold cleared: what the
    calendar arithmetic works on. Through UTC, because `astimezone(zone)` of
    a datetime already in `zone` returns it untouched: a wall time the clocks
    skip (02:30 on a spring-forward day) would stay a wall time no clock
    shows, and one instant would give two schedules by how it was written."""
    return moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None, fold=0)


def _estimate(wall: dt.datetime, interval: BillingInterval, moment_wall: dt.datetime) -> int:
    """The period index of `moment_wall` from the calendar alone, within one."""
    if interval.unit in (IntervalUnit.DAY, IntervalUnit.WEEK):
        days = (moment_wall.date() - wall.date()).days
        return days // (_DAYS[interval.unit] * interval.count)
    months = (moment_wall.year - wall.year) * 12 + moment_wall.month - wall.month
    per = interval.count * (12 if interval.unit is IntervalUnit.YEAR else 1)
    return months // per


def _nth(
    first: dt.datetime, wall: dt.datetime, interval: BillingInterval, n: int, zone: ZoneInfo
) -> dt.datetime:
    return first if n == 0 else _boundary(wall, interval, n, zone)


def _boundary(wall: dt.datetime, interval: BillingInterval, n: int, zone: ZoneInfo) -> dt.datetime:
    """Boundary n >= 1 of an anchor whose local wall time is `wall`."""
    steps = n * interval.count
    try:
        if interval.unit in (IntervalUnit.DAY, IntervalUnit.WEEK):
            day = wall.date() + dt.timedelta(days=steps * _DAYS[interval.unit])
        else:
            months = steps * (12 if interval.unit is IntervalUnit.YEAR else 1)
            day = _add_months(wall.date(), months)
    except OverflowError:
        raise ValueError("n: lands past the end of the calendar") from None
    return _first_instant_at_or_after(dt.datetime.combine(day, wall.time()), zone)


def _add_months(day: dt.date, months: int) -> dt.date:
    """`months` calendar months later, the day clamped to the month's length."""
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    if year > dt.MAXYEAR:
        raise OverflowError
    month = month_index + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _first_instant_at_or_after(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The first instant whose local time in `zone` is `wall` or later, in
    UTC: the first occurrence of a repeated time, the jump of a skipped one."""
    earlier = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(earlier, zone) == wall:
        return earlier
    # A wall time at the very instant of a backward change (02:00 on Lord
    # Howe's half-hour fall-back) reads, with fold=0, as the instant the
    # clocks turn back: its one real occurrence is fold=1's.
    later = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if _wall(later, zone) == wall:
        return later
    # In a gap, fold=1 reads `wall` with the offset after the change, an
    # instant before the jump; fold=0 with the offset before, one after it.
    # The jump is a whole second between them: bisect (a gap is at most a day).
    low, high = sorted((_seconds(later), _seconds(earlier)))
    high += 1
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(_EPOCH + middle * _SECOND, zone) >= wall:
            high = middle
        else:
            low = middle
    return _EPOCH + high * _SECOND


def _seconds(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _SECOND
