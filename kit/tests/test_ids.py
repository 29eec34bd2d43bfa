"""UUIDv7 ids: version and variant right, and ordered by creation within the
process, even when many share one frozen millisecond."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billingos_kit.clock import UTC, FrozenClock, SystemClock
from billingos_kit.errors import InvalidArgument
from billingos_kit.ids import first_id_at, new_id, new_ids, parse_id

START = dt.datetime(2026, 5, 17, 8, 30, 15, 123000, tzinfo=UTC)


def millis_of(value: uuid.UUID) -> int:
    return value.int >> 80


def millis_at(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def assert_strictly_increasing(values: list[uuid.UUID]) -> None:
    for earlier, later in itertools.pairwise(values):
        assert earlier < later
        # Text and bytes order agree with creation order too: keys and Postgres sort them.
        assert str(earlier) < str(later)
        assert earlier.bytes < later.bytes


def test_ids_are_version_7_with_the_rfc_variant() -> None:
    value = new_id(FrozenClock(START))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert (value.int >> 62) & 0b11 == 0b10


def test_a_fresh_generator_stamps_the_clocks_millisecond() -> None:
    value = new_id(FrozenClock(START))
    assert millis_of(value) == millis_at(START)


def test_ids_made_under_one_frozen_millisecond_are_strictly_increasing() -> None:
    clock = FrozenClock(START)
    made = [new_id(clock) for _ in range(1000)]
    assert_strictly_increasing(made)
    assert len(set(made)) == len(made)


def test_more_ids_than_the_counter_holds_borrow_the_next_millisecond_and_stay_ordered() -> None:
    clock = FrozenClock(START)
    made = [new_id(clock) for _ in range(0x1000 + 10)]
    assert_strictly_increasing(made)
    assert all(value.version == 7 for value in made)
    assert millis_of(made[0]) == millis_at(START)
    assert millis_of(made[-1]) == millis_at(START) + 1


def test_advancing_the_clock_moves_the_ids_millisecond_along() -> None:
    clock = FrozenClock(START)
    before = new_id(clock)
    clock.advance(dt.timedelta(seconds=2))
    after = new_id(clock)
    assert millis_of(after) - millis_of(before) == 2000


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=5_000),  # milliseconds to advance
            st.integers(min_value=1, max_value=200),  # ids made at that time
        ),
        min_size=1,
        max_size=20,
    )
)
def test_ids_are_strictly_increasing_under_any_advances_of_a_frozen_clock(
    steps: list[tuple[int, int]],
) -> None:
    clock = FrozenClock(START)
    made: list[uuid.UUID] = []
    for advance_ms, count in steps:
        clock.advance(dt.timedelta(milliseconds=advance_ms))
        made += [new_id(clock) for _ in range(count)]
        assert millis_of(made[-1]) >= millis_at(clock.now())
    assert_strictly_increasing(made)
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in made)


def test_parse_id_accepts_a_uuid() -> None:
    value = new_id(FrozenClock(START))
    assert parse_id(str(value), "customer.id") == value


CANONICAL = "must be an id in canonical UUID form (lower-case hex with hyphens)"
SOME_ID = "0196d0a4-1e2f-7a3b-8c4d-5e6f7a8b9c0d"


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        ("", "is required"),
        ("not-a-uuid", CANONICAL),
        ("1234", CANONICAL),
        # Spellings uuid.UUID accepts for the same id: only one is ours.
        (SOME_ID.upper(), CANONICAL),
        (SOME_ID.replace("-", ""), CANONICAL),
        ("{" + SOME_ID + "}", CANONICAL),
        ("urn:uuid:" + SOME_ID, CANONICAL),
        (SOME_ID + "\n", CANONICAL),
        (SOME_ID.replace("a", "\uff41", 1), CANONICAL),  # a full-width "a"
    ],
)
def test_parse_id_refuses_bad_input_naming_the_field(raw: str, description: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_id(raw, "customer.id")
    assert [(v.field, v.description) for v in refused.value.violations] == [
        ("customer.id", description)
    ]


def test_a_frozen_clocks_ids_follow_its_own_time_whatever_other_clocks_did() -> None:
    """Module-wide state used to carry a real clock's later millisecond over
    to a frozen clock's ids, so they no longer told the frozen time."""
    new_id(SystemClock())  # today, later than START
    frozen = FrozenClock(START)
    made = new_id(frozen)
    assert made.int >> 80 == int(START.timestamp() * 1000)


def test_a_batch_of_ids_steps_as_single_calls_do() -> None:
    batched, single = (FrozenClock(dt.datetime(2026, 5, 1, tzinfo=UTC)) for _ in range(2))
    batch = new_ids(batched, 5000)  # past the 12-bit counter: borrows milliseconds
    one_by_one = [new_id(single) for _ in range(5000)]
    # Each id is the one before, counted on within its millisecond, or on
    # overflow the next millisecond from zero: both ways alike.
    assert _steps_by_the_rule(batch)
    assert _steps_by_the_rule(one_by_one)
    assert _millisecond(batch[0]) == _millisecond(one_by_one[0])
    ordered = [*batch, new_id(batched)]
    assert ordered == sorted(ordered)
    assert len(set(ordered)) == len(ordered)
    assert all(found.version == 7 for found in batch)
    assert new_ids(batched, 0) == []


def _millisecond(found: uuid.UUID) -> int:
    return found.int >> 80


def _counter(found: uuid.UUID) -> int:
    return (found.int >> 64) & 0xFFF


def _steps_by_the_rule(ids: list[uuid.UUID]) -> bool:
    for before, after in itertools.pairwise(ids):
        same = _millisecond(after) == _millisecond(before)
        if same and _counter(after) == _counter(before) + 1:
            continue
        if (
            _millisecond(after) == _millisecond(before) + 1
            and _counter(before) == 0xFFF
            and _counter(after) == 0
        ):
            continue
        return False
    return True


def test_first_id_at_bounds_every_id_made_before_its_millisecond() -> None:
    moment = dt.datetime(2026, 3, 1, 12, 0, 0, 123_000, tzinfo=UTC)
    bound = first_id_at(moment)
    assert (bound.version, bound.variant) == (7, uuid.RFC_4122)
    earlier = FrozenClock(moment - dt.timedelta(milliseconds=1))
    same = FrozenClock(moment)
    assert max(new_ids(earlier, 100)) < bound
    assert min(new_ids(same, 5)) >= bound
