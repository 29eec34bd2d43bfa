"""Waiting in a test for work that runs apart from the call that caused it
(consumers, the relay, a service's workers): poll until it shows, with a
bound, never a fixed sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], seconds: float = 15.0, every: float = 0.05
) -> T:
    """`check()`'s first answer that is not None; AssertionError past `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found is not None:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(every)
