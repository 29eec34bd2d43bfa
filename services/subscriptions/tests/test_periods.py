"""Calendar billing periods: the worked examples of docs/billing-rules.md
("Periods and proration"), the DST gaps and repeats, refusals, and
properties over any anchor, interval and zone (boundaries grow, a period
contains its moment, the anchor's day comes back whenever the month has it)."""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billingos_subscriptions import periods
from billingos_subscriptions.periods import (
    BillingInterval,
    IntervalUnit,
    boundary,
    period_at,
)

UTC = dt.UTC
UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = dt.timedelta(hours=1)
DAILY = BillingInterval(IntervalUnit.DAY)
WEEKLY = BillingInterval(IntervalUnit.WEEK)
MONTHLY = BillingInterval(IntervalUnit.MONTH)
QUARTERLY = BillingInterval(IntervalUnit.MONTH, 3)
YEARLY = BillingInterval(IntervalUnit.YEAR)


def boundaries(
    anchor: dt.datetime, interval: BillingInterval, count: int, zone: ZoneInfo
) -> list[dt.datetime]:
    return [boundary(anchor, interval, n, zone) for n in range(count)]


def local_dates(instants: list[dt.datetime], zone: ZoneInfo) -> list[str]:
    return [instant.astimezone(zone).strftime("%Y-%m-%d %H:%M") for instant in instants]


def hours(instants: list[dt.datetime]) -> list[float]:
    return [(b - a) / HOUR for a, b in itertools.pairwise(instants)]


# ---- the worked examples (docs/billing-rules.md) ------------------------------


def test_example_a_a_jan_31_anchor_renews_on_the_last_day_then_the_31st() -> None:
    anchor = dt.datetime(2027, 1, 31, 9, tzinfo=UTC)
    assert local_dates(boundaries(anchor, MONTHLY, 6, UTC_ZONE), UTC_ZONE) == [
        "2027-01-31 09:00",
        "2027-02-28 09:00",
        "2027-03-31 09:00",
        "2027-04-30 09:00",
        "2027-05-31 09:00",
        "2027-06-30 09:00",
    ]


def test_example_a_in_a_leap_year_february_has_the_29th() -> None:
    anchor = dt.datetime(2028, 1, 31, 9, tzinfo=UTC)
    assert local_dates(boundaries(anchor, MONTHLY, 3, UTC_ZONE), UTC_ZONE) == [
        "2028-01-31 09:00",
        "2028-02-29 09:00",
        "2028-03-31 09:00",
    ]


def test_example_b_a_feb_29_yearly_anchor() -> None:
    anchor = dt.datetime(2028, 2, 29, tzinfo=UTC)
    assert [b.date().isoformat() for b in boundaries(anchor, YEARLY, 5, UTC_ZONE)] == [
        "2028-02-29",
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
    ]


def test_example_c_the_local_time_of_day_is_kept_whatever_the_offset() -> None:
    anchor = dt.datetime(2027, 1, 31, 9, tzinfo=BERLIN)  # 08:00 UTC
    chain = boundaries(anchor, MONTHLY, 3, BERLIN)
    assert local_dates(chain, BERLIN) == [
        "2027-01-31 09:00",
        "2027-02-28 09:00",
        "2027-03-31 09:00",
    ]
    assert [b.hour for b in chain] == [8, 8, 7]  # CEST from March 28
    assert all(b.tzinfo is UTC for b in chain)


def test_example_d_daily_periods_of_23_and_25_hours_in_berlin() -> None:
    spring = boundaries(dt.datetime(2027, 3, 26, tzinfo=BERLIN), DAILY, 5, BERLIN)
    assert hours(spring) == [24, 24, 23, 24]  # March 28 has 23 hours
    autumn = boundaries(dt.datetime(2027, 10, 30, tzinfo=BERLIN), DAILY, 4, BERLIN)
    assert hours(autumn) == [24, 25, 24]  # October 31 has 25
    assert {b.astimezone(BERLIN).hour for b in spring + autumn} == {0}


def test_example_d_weekly_periods_across_new_york_changes() -> None:
    monday_noon = dt.datetime(2027, 3, 8, 12, tzinfo=NEW_YORK)
    assert hours(boundaries(monday_noon, WEEKLY, 3, NEW_YORK)) == [167, 168]
    autumn = dt.datetime(2027, 11, 1, 12, tzinfo=NEW_YORK)
    assert hours(boundaries(autumn, WEEKLY, 3, NEW_YORK)) == [169, 168]


def test_example_e_a_skipped_local_time_is_the_instant_of_the_jump() -> None:
    # Berlin skips 02:00-03:00 on 2027-03-28: the 28th at 02:30 is 03:00 CEST.
    anchor = dt.datetime(2027, 2, 28, 2, 30, tzinfo=BERLIN)
    chain = boundaries(anchor, MONTHLY, 3, BERLIN)
    assert local_dates(chain, BERLIN) == [
        "2027-02-28 02:30",
        "2027-03-28 03:00",
        "2027-04-28 02:30",
    ]
    assert chain[1] == dt.datetime(2027, 3, 28, 1, tzinfo=UTC)


def test_example_e_daily_at_0230_across_new_yorks_spring_change() -> None:
    anchor = dt.datetime(2027, 3, 13, 2, 30, tzinfo=NEW_YORK)
    chain = boundaries(anchor, DAILY, 3, NEW_YORK)
    assert local_dates(chain, NEW_YORK) == [
        "2027-03-13 02:30",
        "2027-03-14 03:00",  # 02:30 does not exist that day
        "2027-03-15 02:30",
    ]
    assert hours(chain) == [23.5, 23.5]


def test_example_f_a_repeated_local_time_is_its_first_occurrence() -> None:
    # New York repeats 01:00-02:00 on 2027-11-07.
    first = dt.datetime(2027, 11, 7, 1, 30, tzinfo=NEW_YORK)  # EDT, 05:30 UTC
    second = first.replace(fold=1)  # EST, 06:30 UTC
    assert boundary(first, DAILY, 0, NEW_YORK) == dt.datetime(2027, 11, 7, 5, 30, tzinfo=UTC)
    assert boundary(second, DAILY, 0, NEW_YORK) == dt.datetime(2027, 11, 7, 6, 30, tzinfo=UTC)
    # the next day's 01:30 happens once: 25 hours after the first, 24 after the second
    assert hours(boundaries(first, DAILY, 2, NEW_YORK)) == [25]
    assert hours(boundaries(second, DAILY, 2, NEW_YORK)) == [24]
    # a boundary landing on the repeat takes its first occurrence
    october = dt.datetime(2027, 10, 7, 1, 30, tzinfo=NEW_YORK)
    assert boundary(october, MONTHLY, 1, NEW_YORK) == dt.datetime(2027, 11, 7, 5, 30, tzinfo=UTC)


def test_an_anchor_written_in_a_gap_is_the_instant_python_reads() -> None:
    # 02:30 on 2027-03-28 does not exist in Berlin; Python reads it with the
    # winter offset (fold=0): 01:30 UTC, which a Berlin clock shows as 03:30.
    written = dt.datetime(2027, 3, 28, 2, 30, tzinfo=BERLIN)
    instant = written.astimezone(UTC)
    assert instant == dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert boundaries(written, DAILY, 3, BERLIN) == boundaries(instant, DAILY, 3, BERLIN)
    assert local_dates(boundaries(written, DAILY, 2, BERLIN), BERLIN)[1] == "2027-03-29 03:30"


def test_a_zone_that_skipped_a_whole_day_makes_one_empty_period() -> None:
    # Samoa went from 2011-12-29 23:59:59 (UTC-10) to 2011-12-31 00:00 (UTC+14).
    apia = ZoneInfo("Pacific/Apia")
    anchor = dt.datetime(2011, 12, 28, tzinfo=apia)
    chain = boundaries(anchor, DAILY, 5, apia)
    assert chain[2] == chain[3] == dt.datetime(2011, 12, 30, 10, tzinfo=UTC)
    assert period_at(anchor, DAILY, chain[2], apia) == (3, chain[3], chain[4])
    assert period_at(anchor, DAILY, chain[2] - dt.timedelta(seconds=1), apia)[0] == 1


def test_example_g_quarterly_from_jan_31() -> None:
    anchor = dt.datetime(2027, 1, 31, tzinfo=UTC)
    assert [b.date().isoformat() for b in boundaries(anchor, QUARTERLY, 5, UTC_ZONE)] == [
        "2027-01-31",
        "2027-04-30",
        "2027-07-31",
        "2027-10-31",
        "2028-01-31",
    ]


# ---- period_at ----------------------------------------------------------------


def test_a_moment_on_a_boundary_belongs_to_the_period_starting_there() -> None:
    anchor = dt.datetime(2027, 1, 31, 9, tzinfo=UTC)
    march = dt.datetime(2027, 3, 31, 9, tzinfo=UTC)
    assert period_at(anchor, MONTHLY, march, UTC_ZONE) == (
        2,
        march,
        dt.datetime(2027, 4, 30, 9, tzinfo=UTC),
    )
    just_before = march - dt.timedelta(microseconds=1)
    assert period_at(anchor, MONTHLY, just_before, UTC_ZONE) == (
        1,
        dt.datetime(2027, 2, 28, 9, tzinfo=UTC),
        march,
    )
    assert period_at(anchor, MONTHLY, anchor, UTC_ZONE)[0] == 0


def test_every_ten_days() -> None:
    anchor = dt.datetime(2027, 3, 20, 12, tzinfo=BERLIN)
    every_ten = BillingInterval(IntervalUnit.DAY, 10)
    n, start, end = period_at(anchor, every_ten, dt.datetime(2027, 4, 15, tzinfo=UTC), BERLIN)
    assert n == 2
    assert local_dates([start, end], BERLIN) == ["2027-04-09 12:00", "2027-04-19 12:00"]
    assert (boundary(anchor, every_ten, 1, BERLIN) - anchor) / HOUR == 239  # spans March 28


def test_a_moment_in_another_zone_is_the_same_instant() -> None:
    anchor = dt.datetime(2027, 1, 1, tzinfo=BERLIN)
    january_31_in_new_york = dt.datetime(2027, 1, 31, 18, 30, tzinfo=NEW_YORK)  # Feb 1 in Berlin
    assert period_at(anchor, MONTHLY, january_31_in_new_york, BERLIN)[0] == 1


def test_a_moment_before_the_anchor_is_refused() -> None:
    anchor = dt.datetime(2027, 1, 31, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"^moment: "):
        period_at(anchor, MONTHLY, anchor - dt.timedelta(microseconds=1), UTC_ZONE)


def test_period_at_steps_a_few_boundaries_not_thousands(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    computed = periods._boundary

    def counting(*args: object) -> dt.datetime:
        nonlocal calls
        calls += 1
        return computed(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(periods, "_boundary", counting)
    anchor = dt.datetime(2020, 3, 1, 23, 30, tzinfo=BERLIN)
    n, start, end = period_at(anchor, DAILY, dt.datetime(2030, 3, 31, 21, tzinfo=UTC), BERLIN)
    assert n == 3681
    assert calls <= 4
    assert local_dates([start, end], BERLIN) == ["2030-03-30 23:30", "2030-03-31 23:30"]


# ---- refusals -----------------------------------------------------------------


@pytest.mark.parametrize("count", [0, -1, 366, True, 1.0])
def test_an_interval_count_outside_1_to_365_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match=r"^count: "):
        BillingInterval(IntervalUnit.MONTH, count)


def test_an_interval_unit_must_be_an_interval_unit() -> None:
    with pytest.raises(ValueError, match=r"^unit: "):
        BillingInterval("month", 1)  # type: ignore[arg-type]


def test_naive_datetimes_and_negative_boundaries_are_refused() -> None:
    naive = dt.datetime(2027, 1, 31)
    aware = naive.replace(tzinfo=UTC)
    with pytest.raises(ValueError, match=r"^anchor: "):
        boundary(naive, MONTHLY, 1, UTC_ZONE)
    with pytest.raises(ValueError, match=r"^anchor: "):
        period_at(naive, MONTHLY, aware, UTC_ZONE)
    with pytest.raises(ValueError, match=r"^moment: "):
        period_at(aware, MONTHLY, naive, UTC_ZONE)
    with pytest.raises(ValueError, match=r"^n: "):
        boundary(aware, MONTHLY, -1, UTC_ZONE)


def test_a_boundary_past_the_calendar_is_refused() -> None:
    anchor = dt.datetime(2027, 1, 31, tzinfo=UTC)
    for interval, n in ((YEARLY, 8000), (DAILY, 10**9), (WEEKLY, 10**12)):
        with pytest.raises(ValueError, match=r"^n: "):
            boundary(anchor, interval, n, UTC_ZONE)


# ---- properties ---------------------------------------------------------------

# Zones with gaps and repeats of an hour, of half an hour (Lord Howe), at
# midnight (Santiago), and none (Kolkata).
ZONES = [
    UTC_ZONE,
    BERLIN,
    NEW_YORK,
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("America/Santiago"),
    ZoneInfo("Asia/Kolkata"),
]
zones = st.sampled_from(ZONES)
any_time = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2060, 1, 1), timezones=zones
)
# Half the anchors at the small hours, where the clocks change, so daily and
# weekly boundaries land in gaps and repeats often.
small_hours = st.builds(
    lambda moment, hour, quarter: moment.replace(hour=hour, minute=15 * quarter),
    any_time,
    st.integers(0, 3),
    st.integers(0, 3),
)
anchors = any_time | small_hours
intervals = st.builds(BillingInterval, st.sampled_from(IntervalUnit), st.integers(1, 40))
indexes = st.integers(min_value=0, max_value=120)


def clamped(day: dt.date, months: int) -> dt.date:
    """The calendar month `months` later, the day clamped, written
    independently of the module (calendar.monthrange, year and month apart)."""
    year = day.year + (day.month - 1 + months) // 12
    month = (day.month - 1 + months) % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def is_a_jump(instant: dt.datetime, zone: ZoneInfo) -> bool:
    """The clocks changed offset at this very instant."""
    before = (instant - dt.timedelta(seconds=1)).astimezone(zone).utcoffset()
    return before != instant.astimezone(zone).utcoffset()


@given(anchors, intervals, indexes, zones)
def test_boundaries_strictly_increase(
    anchor: dt.datetime, interval: BillingInterval, n: int, zone: ZoneInfo
) -> None:
    assert boundary(anchor, interval, n, zone) < boundary(anchor, interval, n + 1, zone)


@given(
    anchors,
    intervals,
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=3660)),
    zones,
)
def test_the_period_at_a_moment_contains_it(
    anchor: dt.datetime, interval: BillingInterval, elapsed: dt.timedelta, zone: ZoneInfo
) -> None:
    moment = anchor.astimezone(UTC) + elapsed
    n, start, end = period_at(anchor, interval, moment, zone)
    assert start <= moment < end
    assert (start, end) == (
        boundary(anchor, interval, n, zone),
        boundary(anchor, interval, n + 1, zone),
    )


def assert_first_instant_at_or_after(
    result: dt.datetime, wall: dt.datetime, zone: ZoneInfo
) -> None:
    """`result` is the first instant a clock in `zone` shows `wall` (naive)
    or later: the wall time itself, its first occurrence when it repeats,
    the jump when the clocks skip it."""
    local = result.astimezone(zone)
    shown = local.replace(tzinfo=None)
    assert shown == wall or (shown > wall and is_a_jump(result, zone))
    assert (result - dt.timedelta(microseconds=1)).astimezone(zone).replace(tzinfo=None) < wall
    assert local.fold == 0  # never the second occurrence


@given(anchors, intervals, indexes.filter(lambda n: n > 0), zones)
def test_the_local_calendar_keeps_the_anchors_day_and_time(
    anchor: dt.datetime, interval: BillingInterval, n: int, zone: ZoneInfo
) -> None:
    wall = anchor.astimezone(UTC).astimezone(zone)  # as a clock in `zone` showed it
    steps = n * interval.count
    if interval.unit is IntervalUnit.DAY:
        expected = wall.date() + dt.timedelta(days=steps)
    elif interval.unit is IntervalUnit.WEEK:
        expected = wall.date() + dt.timedelta(weeks=steps)
    elif interval.unit is IntervalUnit.MONTH:
        expected = clamped(wall.date(), steps)
    else:
        expected = clamped(wall.date(), 12 * steps)
    result = boundary(anchor, interval, n, zone)
    # (in these zones no gap crosses midnight, so the jump keeps the date)
    assert result.astimezone(zone).date() == expected
    assert_first_instant_at_or_after(result, dt.datetime.combine(expected, wall.time()), zone)


# Where the clocks change in 2027: the local wall time the skipped (gap) or
# repeated (fold) stretch starts at. An hour, half an hour, at midnight.
LORD_HOWE, SANTIAGO = ZONES[3], ZONES[4]
CHANGES = [
    (BERLIN, dt.datetime(2027, 3, 28, 2)),  # gap
    (BERLIN, dt.datetime(2027, 10, 31, 2)),  # fold
    (NEW_YORK, dt.datetime(2027, 3, 14, 2)),
    (NEW_YORK, dt.datetime(2027, 11, 7, 1)),
    (LORD_HOWE, dt.datetime(2027, 10, 3, 2)),  # 30 minutes
    (LORD_HOWE, dt.datetime(2027, 4, 4, 1, 30)),
    (SANTIAGO, dt.datetime(2027, 9, 5, 0)),  # midnight is skipped
    (SANTIAGO, dt.datetime(2027, 4, 3, 23)),
]


@given(
    st.sampled_from(CHANGES),
    st.sampled_from([IntervalUnit.DAY, IntervalUnit.WEEK, IntervalUnit.MONTH]),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=-30, max_value=90),
)
def test_boundaries_landing_on_a_clock_change(
    change: tuple[ZoneInfo, dt.datetime], unit: IntervalUnit, n: int, minutes: int
) -> None:
    zone, start = change
    target = start + dt.timedelta(minutes=minutes)
    if unit is IntervalUnit.MONTH:
        anchor_wall = dt.datetime.combine(clamped(target.date(), -n), target.time())
        assume(anchor_wall.day == target.day)  # Sep 30 would renew Oct 30, not 31
    else:
        days = n * (7 if unit is IntervalUnit.WEEK else 1)
        anchor_wall = target - dt.timedelta(days=days)
    anchor = anchor_wall.replace(tzinfo=zone)
    result = boundary(anchor, BillingInterval(unit), n, zone)
    assert_first_instant_at_or_after(result, target, zone)


def test_the_clock_changes_are_changes() -> None:
    for zone, start in CHANGES:
        instant = dt.datetime.combine(start.date(), dt.time(12), zone).astimezone(UTC)
        offsets = {(instant + k * HOUR).astimezone(zone).utcoffset() for k in range(-24, 24)}
        assert len(offsets) == 2


@given(
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.integers(1, 365),
    indexes,
)
def test_utc_months_are_plain_clamped_month_arithmetic(
    naive: dt.datetime, count: int, n: int
) -> None:
    anchor = naive.replace(tzinfo=UTC)
    expected = dt.datetime.combine(clamped(naive.date(), n * count), naive.time(), UTC)
    assert boundary(anchor, BillingInterval(IntervalUnit.MONTH, count), n, UTC_ZONE) == expected


def test_a_boundary_at_the_instant_of_a_half_hour_fall_back() -> None:
    """Lord Howe turns 02:00 back to 01:30: 02:00 then happens once, after
    the repeat; with fold=0 Python reads it as the instant the clocks turn
    back (found by the property test above in CI)."""
    zone = ZoneInfo("Australia/Lord_Howe")
    anchor = dt.datetime(2026, 11, 4, 2, 0, tzinfo=zone)
    found = boundary(anchor, BillingInterval(IntervalUnit.MONTH, 1), 5, zone)
    assert found == dt.datetime(2027, 4, 3, 15, 30, tzinfo=dt.UTC)
    assert found.astimezone(zone).replace(tzinfo=None) == dt.datetime(2027, 4, 4, 2, 0)
