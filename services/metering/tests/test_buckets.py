"""Time-zone bucketing: buckets cover the range exactly, start at local
calendar boundaries, and a DST day has 23 or 25 hours."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billingos_metering.buckets import MAX_BUCKETS, TooManyBuckets, bucket_bounds, zone
from billingos_metering.vocabulary import Interval

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")


def test_berlin_days_across_the_spring_change_have_23_hours() -> None:
    start = dt.datetime(2026, 3, 28, tzinfo=BERLIN)
    end = dt.datetime(2026, 3, 31, tzinfo=BERLIN)
    bounds = bucket_bounds(start, end, Interval.DAY, BERLIN)
    hours = [(b - a) / dt.timedelta(hours=1) for a, b in itertools.pairwise(bounds)]
    assert hours == [24, 23, 24]
    assert [b.astimezone(BERLIN).hour for b in bounds] == [0, 0, 0, 0]


def test_berlin_day_of_the_autumn_change_has_25_hours() -> None:
    start = dt.datetime(2026, 10, 25, tzinfo=BERLIN).astimezone(UTC)
    bounds = bucket_bounds(start, start + dt.timedelta(hours=25), Interval.DAY, BERLIN)
    assert len(bounds) == 2
    assert bounds[1].astimezone(BERLIN) == dt.datetime(2026, 10, 26, tzinfo=BERLIN)


def test_a_midnight_the_clocks_skip_starts_the_day_at_the_jump() -> None:
    # Santiago moves its clocks from 00:00 to 01:00 on 2026-09-06.
    santiago = ZoneInfo("America/Santiago")
    start = dt.datetime(2026, 9, 5, 12, tzinfo=santiago).astimezone(UTC)
    bounds = bucket_bounds(start, start + dt.timedelta(days=2), Interval.DAY, santiago)
    local = bounds[1].astimezone(santiago)
    assert (local.date(), local.hour) == (dt.date(2026, 9, 6), 1)
    assert bounds[1] - dt.timedelta(seconds=1) < bounds[1]
    assert (bounds[1] - dt.timedelta(seconds=1)).astimezone(santiago).date() == dt.date(2026, 9, 5)


def test_the_repeated_autumn_hour_is_a_bucket_of_its_own() -> None:
    start = dt.datetime(2026, 10, 25, tzinfo=BERLIN).astimezone(UTC)
    bounds = bucket_bounds(start, start + dt.timedelta(hours=25), Interval.HOUR, BERLIN)
    assert len(bounds) == 26
    assert all(b - a == dt.timedelta(hours=1) for a, b in itertools.pairwise(bounds))


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    start = dt.datetime(2026, 1, 7, 15, tzinfo=UTC)  # a Wednesday
    weeks = bucket_bounds(start, start + dt.timedelta(days=15), Interval.WEEK, zone("") or BERLIN)
    assert [b.weekday() for b in weeks[1:-1]] == [0, 0]
    months = bucket_bounds(start, dt.datetime(2026, 4, 2, tzinfo=UTC), Interval.MONTH, BERLIN)
    assert [b.astimezone(BERLIN).day for b in months[1:-1]] == [1, 1, 1]


def test_india_hours_start_at_the_half_hour_utc() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    bounds = bucket_bounds(start, start + dt.timedelta(hours=3), Interval.HOUR, kolkata)
    assert [b.minute for b in bounds[1:-1]] == [30, 30, 30]


def test_too_many_buckets_is_refused() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    bucket_bounds(start, start + dt.timedelta(hours=MAX_BUCKETS), Interval.HOUR, BERLIN)
    with pytest.raises(TooManyBuckets):
        bucket_bounds(start, start + dt.timedelta(hours=MAX_BUCKETS + 2), Interval.HOUR, BERLIN)


@pytest.mark.parametrize("name", ["Nowhere/City", "../../etc/passwd", "/etc/localtime", "x" * 65])
def test_unknown_zones_are_none(name: str) -> None:
    assert zone(name) is None


ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
]


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(
        min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    length=st.timedeltas(min_value=dt.timedelta(seconds=1), max_value=dt.timedelta(days=40)),
    interval=st.sampled_from(list(Interval)),
    zone_name=st.sampled_from(ZONES),
)
def test_buckets_cover_the_range_and_start_at_local_boundaries(
    start: dt.datetime, length: dt.timedelta, interval: Interval, zone_name: str
) -> None:
    tz = ZoneInfo(zone_name)
    end = start + length
    try:
        bounds = bucket_bounds(start, end, interval, tz)
    except TooManyBuckets:
        return
    assert bounds[0] == start
    assert bounds[-1] == end
    if interval is Interval.HOUR:
        # A local hour lasts an hour, but where the clocks go back by half an
        # hour (Lord Howe) the local hour holding the repeat lasts 90 minutes.
        longest = dt.timedelta(minutes=90 if zone_name == "Australia/Lord_Howe" else 60)
        assert all(b - a <= longest for a, b in itertools.pairwise(bounds))
    assert all(a < b for a, b in itertools.pairwise(bounds))
    for boundary in bounds[1:-1]:
        local = boundary.astimezone(tz)
        before = (boundary - dt.timedelta(microseconds=1)).astimezone(tz)
        if interval is Interval.HOUR:
            # The first instant of a new local hour.
            assert (
                before.replace(minute=0, second=0, microsecond=0, fold=0) != local.replace(fold=0)
                or before.fold != local.fold
            )
        else:
            # The first instant of a new local day.
            assert before.date() < local.date()
            if interval is Interval.WEEK:
                assert local.weekday() == 0
            if interval is Interval.MONTH:
                assert local.day == 1
            if interval is Interval.YEAR:
                assert (local.month, local.day) == (1, 1)


@pytest.mark.parametrize(
    "name",
    [
        "right/Europe/Berlin",
        "posix/Europe/Berlin",
        "localtime",
        "posixrules",
        "Factory",
        "../etc/passwd",
        "Europe/Nowhere",
    ],
)
def test_only_zones_of_places_are_time_zones(name: str) -> None:
    # right/… zones count leap seconds (their midnights are off by 27 s and
    # more), localtime is the server's own setting: none is a merchant's zone.
    assert zone(name) is None


@pytest.mark.parametrize("name", ["Europe/Berlin", "Asia/Kolkata", "UTC", "America/St_Johns", ""])
def test_zones_of_places_are(name: str) -> None:
    assert zone(name) is not None


def test_an_hour_after_a_quarter_past_fall_back_starts_at_its_second_occurrence() -> None:
    """Chatham turns 03:45 back to 02:45: from 02:45 (the repeat) the next
    local hour starts at the second 03:00, not at 04:00 (found by the
    property test above in CI)."""
    tz = ZoneInfo("Pacific/Chatham")
    start = dt.datetime(2024, 4, 6, 14, 0, tzinfo=UTC)
    bounds = bucket_bounds(start, start + dt.timedelta(hours=2), Interval.HOUR, tz)
    assert bounds[1] - bounds[0] == dt.timedelta(minutes=15)
    assert bounds[1].astimezone(tz).replace(tzinfo=None) == dt.datetime(2024, 4, 7, 3, 0)
