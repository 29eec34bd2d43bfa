"""Clocks: a frozen clock moves only forward, only when told, in aware UTC."""

from __future__ import annotations

import datetime as dt

import pytest

from billingos_kit.clock import UTC, FrozenClock, SystemClock

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_frozen_clock_stands_still_until_told_to_move() -> None:
    clock = FrozenClock(START)
    assert clock.now() == START
    assert clock.now() == START


def test_advance_moves_forward_and_returns_the_new_time() -> None:
    clock = FrozenClock(START)
    moved = clock.advance(dt.timedelta(days=1, seconds=5))
    assert moved == START + dt.timedelta(days=1, seconds=5)
    assert clock.now() == moved


def test_advancing_by_nothing_is_allowed() -> None:
    clock = FrozenClock(START)
    assert clock.advance(dt.timedelta(0)) == START


def test_advance_never_moves_backwards() -> None:
    clock = FrozenClock(START)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(dt.timedelta(microseconds=-1))
    assert clock.now() == START


def test_set_jumps_forward_or_stays() -> None:
    clock = FrozenClock(START)
    clock.set(START)
    assert clock.now() == START
    later = START + dt.timedelta(hours=3)
    clock.set(later)
    assert clock.now() == later


def test_set_never_moves_backwards() -> None:
    clock = FrozenClock(START)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(START - dt.timedelta(microseconds=1))
    assert clock.now() == START


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(dt.datetime(2026, 3, 1, 12, 0))


def test_naive_set_is_refused() -> None:
    clock = FrozenClock(START)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(dt.datetime(2027, 1, 1))
    assert clock.now() == START


def test_times_in_other_zones_are_kept_as_the_same_instant_in_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    clock = FrozenClock(dt.datetime(2026, 3, 1, 14, 0, tzinfo=plus_two))
    assert clock.now() == START
    assert clock.now().utcoffset() == dt.timedelta(0)
    clock.set(dt.datetime(2026, 3, 1, 15, 0, tzinfo=plus_two))
    assert clock.now() == START + dt.timedelta(hours=1)
    assert clock.now().utcoffset() == dt.timedelta(0)


def test_a_backwards_jump_in_another_zone_is_still_refused() -> None:
    clock = FrozenClock(START)
    # 13:00 at +02:00 is 11:00 UTC: an hour before the clock, though it reads later.
    with pytest.raises(ValueError, match="backwards"):
        clock.set(dt.datetime(2026, 3, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))))


def test_system_clock_reads_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == dt.timedelta(0)
