"""AIP-158 pagination: `page_size` + opaque `page_token`, keyset underneath.

Every list pages by its rows' UUIDv7 ids, newest first. A list's filters are
one `ListFilter` object, which both narrows the query (the repository asks it
for its conditions) and is digested into the token: a token reused with other
filters is refused instead of returning a wrong page, and nothing can filter
the query without being part of that digest. A token that does not hold an id
is refused too (tokens are not signed: anything may come back).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Table

from billingos_kit.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
_TOKEN_VERSION = 1


class HasId(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


Row = TypeVar("Row", bound=HasId)
Item = TypeVar("Item")


@dataclass(frozen=True)
class Page(Generic[Item]):
    """One page of a list and the token of the next ("" on the last)."""

    items: Sequence[Item]
    next_page_token: str


@dataclass(frozen=True)
class ListFilter:
    """The filters of one list, as a frozen dataclass whose fields are None
    when not filtering. Subclasses say, per field, the condition it adds
    (`conditions`), reading its value from `bindparam(<field name>)`, and may
    transform values before they are bound (`bound`)."""

    def conditions(self, table: Table) -> list[ColumnElement[bool]]:
        wanted = self.where(table)
        return [wanted[name] for name in self.shape()]

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        """The condition of each field, for when it is set."""
        return {}

    def shape(self) -> tuple[str, ...]:
        """Which fields are set: the statement differs per shape, not per value."""
        return tuple(f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None)

    def values(self) -> dict[str, Any]:
        return {name: self.bound(name, getattr(self, name)) for name in self.shape()}

    def bound(self, name: str, value: Any) -> Any:
        return value

    def token_fields(self) -> dict[str, str]:
        """What the page token is bound to: every field, as bound (so two
        spellings the query treats alike share their pages)."""
        found: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            found[f.name] = "" if value is None else str(self.bound(f.name, value))
        return found


@dataclass(frozen=True)
class PageRequest:
    """A validated page request: how many rows, after which id."""

    size: int
    after: uuid.UUID | None
    filters_digest: str

    @property
    def fetch_size(self) -> int:
        """Rows to ask the database for: one more than the page, to know if
        another page follows."""
        return self.size + 1

    def cut(self, rows: Sequence[Item]) -> Page[Item]:
        """The page's rows (which have an `id`) and the token of the next page
        ("" on the last)."""
        if len(rows) > self.size:
            kept = rows[: self.size]
            return Page(kept, self.next_token(str(getattr(kept[-1], "id"))))  # noqa: B009
        return Page(rows, "")

    def next_token(self, last_key: str) -> str:
        """The token that continues this list after `last_key`."""
        payload = {"v": _TOKEN_VERSION, "after": last_key, "f": self.filters_digest}
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_request(
    page_size: int,
    page_token: str,
    filters: ListFilter | Mapping[str, str],
    *,
    default_size: int = DEFAULT_PAGE_SIZE,
    max_size: int = MAX_PAGE_SIZE,
) -> PageRequest:
    """Validates `page_size`/`page_token` for a list with the given filters."""
    if page_size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    size = default_size if page_size == 0 else min(page_size, max_size)
    digest = _digest(filters.token_fields() if isinstance(filters, ListFilter) else filters)
    if not page_token:
        return PageRequest(size, None, digest)
    payload = _decode(page_token)
    if payload.get("f") != digest:
        raise InvalidArgument("page_token", "was issued for a list with other filters")
    try:
        after = uuid.UUID(str(payload["after"]))
    except ValueError:
        raise InvalidArgument("page_token", "is not a token this list returned") from None
    return PageRequest(size, after, digest)


def _decode(token: str) -> dict[str, object]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidArgument("page_token", "is not a token this list returned") from None
    if (
        not isinstance(payload, dict)
        or payload.get("v") != _TOKEN_VERSION
        or not isinstance(payload.get("after"), str)
    ):
        raise InvalidArgument("page_token", "is not a token this list returned")
    return payload


def _digest(filters: Mapping[str, str]) -> str:
    canonical = json.dumps(dict(sorted(filters.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
