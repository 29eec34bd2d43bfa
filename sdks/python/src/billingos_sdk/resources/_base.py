"""What every resource shares: how it reaches the client, and how a list
answer becomes a `Page`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .._http import AsyncSend, SyncSend
from ..models import _json as j
from ..pagination import Page

T = TypeVar("T")

# Values merchants may put in metadata: the API refuses nesting.
MetadataValue = str | int | float | bool
Metadata = Mapping[str, MetadataValue]


class SyncResource:
    def __init__(self, send: SyncSend) -> None:
        self._send = send


class AsyncResource:
    def __init__(self, send: AsyncSend) -> None:
        self._send = send


def page_of(key: str, parse: Callable[[j.Json], T]) -> Callable[[j.Json], Page[T]]:
    """The parser of a list answer whose items are under `key`."""

    def parse_page(data: j.Json) -> Page[T]:
        return Page(items=j.each(data, key, parse), next_page_token=j.text(data, "next_page_token"))

    return parse_page


def present(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` without the None values, which mean "not given"."""
    return {k: v for k, v in params.items() if v is not None}
