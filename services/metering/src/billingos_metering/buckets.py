"""Quantity buckets: a half-open range [start, end) cut at local calendar
boundaries of a time zone (hours, midnights, Mondays, firsts of the month,
New Year), so a day in Berlin starts at its midnight whatever the offset and
lasts 23 or 25 hours when the clocks change. The first and last buckets are
clipped to the range, so the buckets always cover it exactly, with no gap
and no overlap: the stores group events by these instants and nothing else.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billingos_metering.vocabulary import Interval

MAX_BUCKETS = 1000
UTC = dt.UTC


class TooManyBuckets(ValueError):
    def __init__(self, count: int) -> None:
        super().__init__(f"the range spans more than {MAX_BUCKETS} buckets ({count} or more)")
        self.count = count


@functools.cache
def _zone_names() -> frozenset[str]:
    """The IANA zones of the zone database, without the files that are not
    zones of a place: `localtime` (the server's own setting) and `Factory`;
    `right/…` (leap-second clocks, whose midnights are off) and `posix/…`
    are not in the list at all."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory"})


def zone(name: str) -> ZoneInfo | None:
    """The IANA zone, or None if there is no such zone ("" is UTC)."""
    if not name:
        return ZoneInfo("UTC")
    if len(name) > 64 or name not in _zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def bucket_bounds(
    start: dt.datetime, end: dt.datetime, interval: Interval, tz: ZoneInfo
) -> list[dt.datetime]:
    """[start, b1, …, end]: bucket i is [bounds[i], bounds[i + 1]). All UTC.
    Raises TooManyBuckets past MAX_BUCKETS."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise ValueError("end must be after start")
    bounds = [start]
    boundary = _next_boundary(start, interval, tz)
    while boundary < end:
        if len(bounds) >= MAX_BUCKETS:
            raise TooManyBuckets(len(bounds) + 1)
        bounds.append(boundary)
        boundary = _next_boundary(boundary, interval, tz)
    bounds.append(end)
    return bounds


def _next_boundary(instant: dt.datetime, interval: Interval, tz: ZoneInfo) -> dt.datetime:
    """The first local calendar boundary strictly after `instant`."""
    local = instant.astimezone(tz)
    if interval is Interval.HOUR:
        # An hour later in real time, floored to the local hour (zones whose
        # offset changes by half an hour realign here). The repeated hour of
        # an autumn change is its own bucket: the floor keeps the fold.
        later = (instant + dt.timedelta(hours=1)).astimezone(tz)
        candidate = _hour_start(later, tz)
        if candidate <= instant:
            # The floor read as its first occurrence, before `instant`: when
            # the clocks went back at a quarter past (Chatham, 03:45 → 02:45)
            # the hour's second occurrence is the boundary.
            floored = later.replace(minute=0, second=0, microsecond=0, tzinfo=None)
            second = floored.replace(tzinfo=tz, fold=1).astimezone(UTC)
            if second > instant and second.astimezone(tz).replace(tzinfo=None) == floored:
                return second
            candidate = _hour_start((instant + dt.timedelta(hours=2)).astimezone(tz), tz)
        return candidate
    day = local.date()
    if interval is Interval.DAY:
        following = day + dt.timedelta(days=1)
    elif interval is Interval.WEEK:
        following = day + dt.timedelta(days=7 - day.weekday())
    elif interval is Interval.MONTH:
        following = (
            dt.date(day.year + 1, 1, 1) if day.month == 12 else dt.date(day.year, day.month + 1, 1)
        )
    else:
        following = dt.date(day.year + 1, 1, 1)
    return _start_of_day(following, tz)


def _hour_start(local: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    floored = local.replace(minute=0, second=0, microsecond=0)
    candidate = floored.astimezone(UTC)
    if candidate.astimezone(tz).replace(tzinfo=None) != floored.replace(tzinfo=None):
        return _first_instant(floored, tz)  # the floor fell in a gap
    return candidate


def _start_of_day(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return _first_instant(dt.datetime(day.year, day.month, day.day, tzinfo=tz), tz)


def _first_instant(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The first instant at or after the local wall-clock time `wall`: the
    time itself, or, when the clocks skip it (a gap), the instant they jump."""
    earlier = wall.replace(fold=0).astimezone(UTC)
    if earlier.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return earlier
    # In a gap: fold=0 reads it with the offset before the change, which
    # lands after the jump; the jump itself is the first local instant of
    # the new hour or day. Walk back to it, minute by minute (gaps are short).
    probe = earlier
    while (probe - dt.timedelta(minutes=1)).astimezone(tz).replace(tzinfo=None) >= wall.replace(
        tzinfo=None
    ):
        probe -= dt.timedelta(minutes=1)
    return probe
