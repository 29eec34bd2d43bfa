"""Work on its own loop: it runs in another thread, stops when told, and its
failure reaches the caller (the service then reports NOT_SERVING)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from billingos_kit.own_loop import on_own_loop


async def test_work_runs_on_another_loop_and_stops_when_told() -> None:
    seen: dict[str, object] = {}
    running = threading.Event()

    async def work(stop: asyncio.Event) -> None:
        seen["thread"] = threading.current_thread().name
        seen["loop"] = asyncio.get_running_loop()
        running.set()
        await stop.wait()
        seen["stopped"] = True

    stop = asyncio.Event()
    task = asyncio.ensure_future(on_own_loop("probe", work)(stop))
    assert await asyncio.to_thread(running.wait, 5)
    assert seen["thread"] == "billingos-probe"
    assert seen["loop"] is not asyncio.get_running_loop()
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert seen["stopped"] is True


async def test_a_failure_of_the_work_is_the_callers() -> None:
    async def work(stop: asyncio.Event) -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError, match="broken"):
        await asyncio.wait_for(on_own_loop("failing", work)(asyncio.Event()), 5)


async def test_cancelling_the_caller_stops_the_work_and_waits_for_its_end() -> None:
    ended = threading.Event()

    async def work(stop: asyncio.Event) -> None:
        try:
            await stop.wait()
            await asyncio.sleep(0.05)  # its own cleanup
        finally:
            ended.set()

    task = asyncio.ensure_future(on_own_loop("cancelled", work)(asyncio.Event()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ended.is_set()
