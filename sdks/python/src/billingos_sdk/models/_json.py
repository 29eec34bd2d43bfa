"""Reading proto3 JSON leniently.

Every reader takes a missing key as the proto default and ignores keys it
does not know, so a server newer than this SDK (a new field, a field left
out because it is at its default) never breaks parsing; the whole object
stays reachable as each model's ``raw``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

T = TypeVar("T")

Json = Mapping[str, Any]


def text(data: Json, key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def integer(data: Json, key: str) -> int:
    """An int32 (a JSON number) or an int64 (proto3 JSON prints it as a
    string, ``"2900"``)."""
    found = optional_integer(data, key)
    return 0 if found is None else found


def optional_integer(data: Json, key: str) -> int | None:
    value = data.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return int(value)
        except ValueError:
            return None
    return None


def boolean(data: Json, key: str) -> bool:
    return data.get(key) is True


def decimal(data: Json, key: str) -> Decimal | None:
    """A decimal string (``"1500.5"``); None when empty: exact, unlike float."""
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    if isinstance(value, str) and value.strip():
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


def timestamp(data: Json, key: str) -> dt.datetime | None:
    """An RFC 3339 timestamp, timezone-aware; None when unset."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def mapping(data: Json, key: str) -> dict[str, Any]:
    value = data.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def optional_mapping(data: Json, key: str) -> dict[str, Any] | None:
    value = data.get(key)
    return dict(value) if isinstance(value, Mapping) else None


def strings(data: Json, key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def nested(data: Json, key: str, parse: Callable[[Json], T]) -> T | None:
    value = data.get(key)
    return parse(value) if isinstance(value, Mapping) else None


def each(data: Json, key: str, parse: Callable[[Json], T]) -> tuple[T, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(parse(v) for v in value if isinstance(v, Mapping))
