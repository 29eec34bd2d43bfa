"""AIP-158 pagination: `page_size` + opaque `page_token`, keyset underneath.

Every list pages by its rows' UUIDv7 ids, newest first. A token records the
last id returned and a digest of the list's filters, so a token reused with
other filters is refused instead of returning a wrong page; a token that does
not hold an id is refused too (tokens are not signed: anything may come back).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from billingos_kit.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
_TOKEN_VERSION = 1


class HasId(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


Row = TypeVar("Row", bound=HasId)


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

    def cut(self, rows: Sequence[Row]) -> tuple[Sequence[Row], str]:
        """The page's rows and the token of the next page ("" on the last)."""
        if len(rows) > self.size:
            kept = rows[: self.size]
            return kept, self.next_token(str(kept[-1].id))
        return rows, ""

    def next_token(self, last_key: str) -> str:
        """The token that continues this list after `last_key`."""
        payload = {"v": _TOKEN_VERSION, "after": last_key, "f": self.filters_digest}
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_request(
    page_size: int,
    page_token: str,
    filters: Mapping[str, str],
    *,
    default_size: int = DEFAULT_PAGE_SIZE,
    max_size: int = MAX_PAGE_SIZE,
) -> PageRequest:
    """Validates `page_size`/`page_token` for a list with the given filters."""
    if page_size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    size = default_size if page_size == 0 else min(page_size, max_size)
    digest = _digest(filters)
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
