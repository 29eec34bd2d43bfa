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


async def test_cancelling_the_caller_cancels_the_work_and_waits_for_its_end() -> None:
    running, cleaned_up = threading.Event(), threading.Event()

    async def work(stop: asyncio.Event) -> None:
        running.set()
        try:
            await asyncio.sleep(3600)  # a step that does not look at stop
        finally:
            await asyncio.sleep(0.05)  # its own cleanup, to its end
            cleaned_up.set()

    task = asyncio.ensure_future(on_own_loop("cancelled", work)(asyncio.Event()))
    assert await asyncio.to_thread(running.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert cleaned_up.is_set()


async def test_cancelled_before_the_work_started_it_is_still_ended() -> None:
    ended = threading.Event()

    async def work(stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    task = asyncio.ensure_future(on_own_loop("early", work)(asyncio.Event()))
    await asyncio.sleep(0)  # the thread is starting
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert ended.is_set()
