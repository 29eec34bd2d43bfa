"""Background work on an event loop of its own, in a thread of its own.

Why: a worker whose every step is a database round trip waits, on the loop
it shares with request handling, behind every ready callback, and a request
callback can be CPU-bound for tens of milliseconds without yielding
(metering checks a 1,000-event batch in one go). Under load, each of a
balance pass's fifteen round trips queued behind them: a pass took over a
second. On its own loop a step waits only for the GIL, which changes hands
every few milliseconds. The work must use its own asyncio resources (a
connection pool is bound to the loop that made it: give the work its own
`Database`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def on_own_loop(name: str, work: Work) -> Work:
    """`work(stop)` to run on a new loop in a new thread; the result is a
    worker for `ServiceApp.add_worker`. When its own `stop` is set, the work
    is told to stop (its `stop` is set) and awaited; when it is cancelled
    (the service's grace ran out), the work is cancelled, and still awaited
    to its end (it holds connections to close). It fails if the work fails."""

    async def run(stop: asyncio.Event) -> None:
        started: concurrent.futures.Future[_Handles] = concurrent.futures.Future()
        ended: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def inner() -> None:
            task = asyncio.current_task()
            assert task is not None
            own_stop = asyncio.Event()
            started.set_result(_Handles(asyncio.get_running_loop(), own_stop, task))
            await work(own_stop)

        def thread_main() -> None:
            try:
                asyncio.run(inner())
            except BaseException as error:  # handed to the caller's loop
                if not started.done():
                    started.set_exception(error)
                ended.set_exception(error)
            else:
                ended.set_result(None)

        thread = threading.Thread(target=thread_main, name=f"billingos-{name}", daemon=True)
        thread.start()
        finished: asyncio.Future[None] = asyncio.wrap_future(ended)
        try:
            handles = await asyncio.shield(asyncio.wrap_future(started))
            stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
            try:
                waiting: set[asyncio.Future[Any]] = {finished, stopping}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            _call(handles.loop, handles.stop.set)
        except asyncio.CancelledError:
            # The work may not have begun yet: once it has, it is cancelled.
            with contextlib.suppress(Exception):
                handles = await asyncio.shield(asyncio.wrap_future(started))
                _call(handles.loop, handles.task.cancel)
            await asyncio.shield(finished)
            raise
        await finished  # to its end; raises what the work raised

    return run


class _Handles(NamedTuple):
    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event
    task: asyncio.Task[None]


def _call(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """`callback` on `loop`'s thread, unless that loop has already closed
    (the work has ended: nothing left to tell it)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)
