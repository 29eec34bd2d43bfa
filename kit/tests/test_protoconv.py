"""Metadata maps between `google.protobuf.Value` and plain Python values."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from billingos_kit.protoconv import metadata_from_proto, metadata_to_proto, timestamp

FIELD = "customer.metadata"


def string(value: str) -> struct_pb2.Value:
    return struct_pb2.Value(string_value=value)


def number(value: float) -> struct_pb2.Value:
    return struct_pb2.Value(number_value=value)


def boolean(value: bool) -> struct_pb2.Value:
    return struct_pb2.Value(bool_value=value)


def test_strings_numbers_and_booleans_come_back_as_plain_values() -> None:
    plain, violations = metadata_from_proto(
        {"plan": string("pro"), "seats": number(3), "ratio": number(2.5), "vip": boolean(True)},
        FIELD,
    )
    assert violations == []
    assert plain == {"plan": "pro", "seats": 3, "ratio": 2.5, "vip": True}


def test_whole_numbers_come_back_as_int_and_booleans_stay_bool() -> None:
    plain, _ = metadata_from_proto(
        {"seats": number(3.0), "negative": number(-12), "vip": boolean(False)}, FIELD
    )
    assert type(plain["seats"]) is int
    assert type(plain["negative"]) is int
    assert plain["negative"] == -12
    assert type(plain["vip"]) is bool


def null() -> struct_pb2.Value:
    return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)


def nested_struct() -> struct_pb2.Value:
    value = struct_pb2.Value()
    value.struct_value.update({"a": 1})
    return value


def nested_list() -> struct_pb2.Value:
    value = struct_pb2.Value()
    value.list_value.extend([1, "two"])
    return value


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: number(math.nan), id="nan"),
        pytest.param(lambda: number(math.inf), id="infinity"),
        pytest.param(lambda: number(-math.inf), id="negative-infinity"),
        pytest.param(nested_struct, id="struct"),
        pytest.param(nested_list, id="list"),
        pytest.param(null, id="null"),
        pytest.param(struct_pb2.Value, id="no-value-at-all"),
    ],
)
def test_unsupported_values_are_refused_naming_field_and_key(
    make: Callable[[], struct_pb2.Value],
) -> None:
    plain, violations = metadata_from_proto({"ok": string("fine"), "bad": make()}, FIELD)
    assert [violation.field for violation in violations] == [f"{FIELD}.bad"]
    assert plain == {"ok": "fine"}


def test_every_bad_key_is_reported_in_key_order() -> None:
    _, violations = metadata_from_proto(
        {"zeta": null(), "alpha": number(math.nan), "mid": string("ok")}, FIELD
    )
    assert [violation.field for violation in violations] == [f"{FIELD}.alpha", f"{FIELD}.zeta"]


metadata_values = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(values=st.dictionaries(st.text(min_size=1, max_size=10), metadata_values, max_size=8))
def test_supported_metadata_survives_a_round_trip(
    values: dict[str, str | bool | int | float],
) -> None:
    plain, violations = metadata_from_proto(metadata_to_proto(values), FIELD)
    assert violations == []
    assert plain == values
    for key, original in values.items():
        if isinstance(original, bool):
            assert type(plain[key]) is bool
        elif isinstance(original, int):
            assert type(plain[key]) is int


def test_timestamp_keeps_the_instant_and_leaves_none_unset() -> None:
    moment = dt.datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=dt.UTC)
    converted = timestamp(moment)
    assert converted is not None
    assert converted.ToDatetime(tzinfo=dt.UTC) == moment
    assert timestamp(None) is None


@given(
    st.datetimes(timezones=st.none() | st.timezones()),
)
def test_timestamp_is_what_protobufs_own_conversion_gives(moment: dt.datetime) -> None:
    # Naive is UTC, aware keeps its instant, before 1970 has positive nanos.
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment)
    assert timestamp(moment) == expected
