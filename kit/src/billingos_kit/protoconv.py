"""Conversions between protobuf well-known types and Python values."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from billingos_kit.errors import FieldViolation, ValidationFailed

MetadataValue = str | float | bool


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def timestamp(moment: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """A Timestamp for an aware datetime (None stays unset)."""
    if moment is None:
        return None
    # As Timestamp.FromDatetime (a naive time is UTC), in a third of its
    # time: an event or a response of a list carries dozens of these.
    since = (moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)) - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000
    )


def optional_bool(message: Message, field: str) -> bool | None:
    """A `google.protobuf.BoolValue` field (a list filter, say): None when the
    caller did not set it, which a plain bool cannot tell from false."""
    if not message.HasField(field):
        return None
    return bool(getattr(message, field).value)


def metadata_to_proto(values: Mapping[str, Any]) -> dict[str, struct_pb2.Value]:
    converted: dict[str, struct_pb2.Value] = {}
    for key, item in values.items():
        value = struct_pb2.Value()
        if isinstance(item, bool):
            value.bool_value = item
        elif isinstance(item, (int, float)):
            value.number_value = float(item)
        else:
            value.string_value = str(item)
        converted[key] = value
    return converted


def metadata_from_proto(
    values: Mapping[str, struct_pb2.Value], field: str
) -> tuple[dict[str, MetadataValue], list[FieldViolation]]:
    """Plain values from a metadata map, with a violation per unsupported value."""
    plain: dict[str, MetadataValue] = {}
    violations: list[FieldViolation] = []
    for key in sorted(values):
        value = values[key]
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            plain[key] = value.string_value
        elif kind == "bool_value":
            plain[key] = value.bool_value
        elif kind == "number_value" and math.isfinite(value.number_value):
            number = value.number_value
            plain[key] = int(number) if number.is_integer() else number
        else:
            violations.append(
                FieldViolation(f"{field}.{key}", "must be a string, a finite number or a boolean")
            )
    return plain, violations


class MetadataReader:
    """Reads several metadata maps of one request, collecting every problem,
    so a servicer raises them together with `raise_if_any`."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def read(self, values: Mapping[str, struct_pb2.Value], field: str) -> dict[str, MetadataValue]:
        plain, problems = metadata_from_proto(values, field)
        self.violations += problems
        return plain

    def raise_if_any(self) -> None:
        if self.violations:
            raise ValidationFailed(self.violations)
