"""Lists that follow ``next_page_token`` for the caller.

A list method returns a pager at once, sending nothing: iterating it fetches
page after page (passing each ``next_page_token`` back as ``page_token``)
until the server sends an empty token, so ``for customer in
billingos.customers.list():`` sees every customer however many there are;
`page()` fetches exactly one page, for callers that keep the token
themselves (a "next" button in a dashboard).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page: its items and the token of the next (empty on the last)."""

    items: tuple[T, ...]
    next_page_token: str

    @property
    def has_next(self) -> bool:
        return bool(self.next_page_token)


class SyncPager(Generic[T]):
    """Iterates every item of a list, fetching pages as needed."""

    def __init__(self, fetch: Callable[[str], Page[T]]) -> None:
        self._fetch = fetch

    def page(self, page_token: str = "") -> Page[T]:
        """One page: the first, or the one `page_token` names."""
        return self._fetch(page_token)

    def pages(self) -> Iterator[Page[T]]:
        token = ""
        while True:
            current = self._fetch(token)
            yield current
            # A token repeated would loop for ever; stop rather than hang.
            if not current.next_page_token or current.next_page_token == token:
                return
            token = current.next_page_token

    def __iter__(self) -> Iterator[T]:
        for current in self.pages():
            yield from current.items


class AsyncPager(Generic[T]):
    """Iterates every item of a list with ``async for``, fetching pages as
    needed."""

    def __init__(self, fetch: Callable[[str], Awaitable[Page[T]]]) -> None:
        self._fetch = fetch

    async def page(self, page_token: str = "") -> Page[T]:
        """One page: the first, or the one `page_token` names."""
        return await self._fetch(page_token)

    async def pages(self) -> AsyncIterator[Page[T]]:
        token = ""
        while True:
            current = await self._fetch(token)
            yield current
            if not current.next_page_token or current.next_page_token == token:
                return
            token = current.next_page_token

    async def __aiter__(self) -> AsyncIterator[T]:
        async for current in self.pages():
            for item in current.items:
                yield item
