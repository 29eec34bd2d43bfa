"""The rules of an ingested event, checked straight on the request's
messages: this is the hot path (a thousand events a call, tens of thousands
a second), so each event is read once, field by field, into the event to
store, with no draft object in between. Every problem of every event is
collected, under its index, so a merchant fixes a rejected batch in one go."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from billingos.metering.v1 import usage_events_pb2
from billingos_kit.clock import Clock
from billingos_kit.ids import canonical_id, new_ids
from billingos_kit.validation import Violations
from billingos_metering.filters import EventValue
from billingos_metering.store import NewEvent

MAX_NAME_LENGTH = 128
MAX_ID_LENGTH = 256
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_STRING_LENGTH = 1000
# Integers from this on cannot pass through a JSON number (a double) exactly
# (2^53 + 1 arrives as 2^53), and fractions below the smallest are refused too:
# sums then stay exact in any precision the stores and balances use.
MAX_EXACT_INTEGER = 2**53
SMALLEST_FRACTION = 1e-12

# One C encoder for every event: JSONEncoder.encode builds a new one per call,
# a cost paid a thousand times a request. (CPython's json speedups; the
# plain encoder where they are missing.)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_encode_chunks: Any = (
    _make_encoder(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    if _make_encoder is not None
    else None
)


def encode_metadata(metadata: dict[str, EventValue]) -> str:
    """The metadata as compact JSON (non-ASCII kept as is)."""
    if not metadata:
        return "{}"
    if _encode_chunks is None:
        return _ENCODER.encode(metadata)
    return "".join(_encode_chunks(metadata, 0))


@dataclass(frozen=True)
class IngestLimits:
    max_events: int
    horizon: dt.timedelta
    future_tolerance: dt.timedelta


def check_events(
    events: Sequence[usage_events_pb2.UsageEventInput], limits: IngestLimits, clock: Clock
) -> list[NewEvent]:
    """The events to store (customer_id set where the event names its
    customer by id; by external id, ingest resolves it), or ValidationFailed
    naming every problem."""
    violations = Violations()
    if not events:
        violations.add("events", "must hold at least one event")
    elif len(events) > limits.max_events:
        violations.add(
            "events", f"must hold at most {limits.max_events} events (got {len(events)})"
        )
    violations.raise_if_any()
    now = clock.now()
    oldest, newest = now - limits.horizon, now + limits.future_tolerance
    ids = new_ids(clock, len(events))
    checked: list[NewEvent] = []
    found = violations.found
    for index, event in enumerate(events):
        at = f"events[{index}]"
        before = len(found)
        name = event.name
        if not name or len(name) > MAX_NAME_LENGTH or not name.strip():
            if not name.strip():
                violations.add(f"{at}.name", "is required")
            else:
                violations.add(f"{at}.name", f"must be 1 to {MAX_NAME_LENGTH} characters")
        customer_id = _customer(violations, at, event)
        timestamp = now
        if event.HasField("timestamp"):
            timestamp = _timestamp(violations, f"{at}.timestamp", event, oldest, newest, limits)
        metadata = (
            _metadata(violations, f"{at}.metadata", event) if event.HasField("metadata") else {}
        )
        external_id = event.external_id or None
        if external_id is not None and len(external_id) > MAX_ID_LENGTH:
            violations.add(f"{at}.external_id", f"must be at most {MAX_ID_LENGTH} characters")
        if len(found) == before:
            checked.append(
                NewEvent(
                    ids[index],
                    name,
                    customer_id,
                    event.external_customer_id or None,
                    timestamp,
                    metadata,
                    encode_metadata(metadata),
                    external_id,
                )
            )
    violations.raise_if_any()
    return checked


def _customer(
    violations: Violations, at: str, event: usage_events_pb2.UsageEventInput
) -> uuid.UUID | None:
    by_id, by_external = event.customer_id, event.external_customer_id
    if by_id and by_external:
        violations.add(f"{at}.customer_id", "give customer_id or external_customer_id, not both")
        return None
    if by_id:
        parsed = canonical_id(by_id)
        if parsed is None:
            violations.add(
                f"{at}.customer_id", "must be an id in canonical UUID form (lower-case hex)"
            )
        return parsed
    if not by_external:
        violations.add(f"{at}.customer_id", "give customer_id or external_customer_id")
    elif len(by_external) > MAX_ID_LENGTH:
        violations.add(f"{at}.external_customer_id", f"must be at most {MAX_ID_LENGTH} characters")
    return None


def _timestamp(
    violations: Violations,
    field: str,
    event: usage_events_pb2.UsageEventInput,
    oldest: dt.datetime,
    newest: dt.datetime,
    limits: IngestLimits,
) -> dt.datetime:
    try:
        timestamp = event.timestamp.ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        violations.add(field, "is not a valid time")
        return oldest
    if timestamp > newest:
        seconds = int(limits.future_tolerance.total_seconds())
        violations.add(field, f"is more than {seconds} seconds in the future")
    elif timestamp < oldest:
        violations.add(field, f"is older than the ingest horizon ({limits.horizon.days} days)")
    return timestamp


def _metadata(
    violations: Violations, field: str, event: usage_events_pb2.UsageEventInput
) -> dict[str, EventValue]:
    """String, number and boolean values only. (The kit has refused NUL
    characters in every string of the request already: billingos_kit.grpc.inputs.)"""
    fields = event.metadata.fields
    if len(fields) > MAX_METADATA_KEYS:
        violations.add(field, f"must have at most {MAX_METADATA_KEYS} keys")
        return {}
    metadata: dict[str, EventValue] = {}
    for key in fields:
        value = fields[key]
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            violations.add(field, f"keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters")
            continue
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            text = value.string_value
            if len(text) > MAX_METADATA_STRING_LENGTH:
                violations.add(
                    f"{field}.{key}", f"must be at most {MAX_METADATA_STRING_LENGTH} characters"
                )
            metadata[key] = text
        elif kind == "number_value":
            number = value.number_value
            if not math.isfinite(number):
                violations.add(f"{field}.{key}", "must be a finite number")
            elif number.is_integer():
                if abs(number) >= MAX_EXACT_INTEGER:
                    violations.add(
                        f"{field}.{key}", f"integers must be below {MAX_EXACT_INTEGER} in size"
                    )
                metadata[key] = int(number)
            elif abs(number) < SMALLEST_FRACTION:
                violations.add(
                    f"{field}.{key}", f"must be 0 or at least {SMALLEST_FRACTION} in size"
                )
            else:
                metadata[key] = number
        elif kind == "bool_value":
            metadata[key] = value.bool_value
        elif kind in ("struct_value", "list_value"):
            violations.add(f"{field}.{key}", "must be a string, number or boolean (no nesting)")
        else:
            violations.add(f"{field}.{key}", "must be a string, number or boolean (not null)")
    return metadata
