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
import threading
from collections.abc import Callable, Coroutine
from typing import Any

Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def on_own_loop(name: str, work: Work) -> Work:
    """`work(stop)` to run on a new loop in a new thread; the result is a
    worker for `ServiceApp.add_worker` that stops it when its own `stop` is
    set (or it is cancelled), waits for it to end, and fails if it fails."""

    async def run(stop: asyncio.Event) -> None:
        started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = (
            concurrent.futures.Future()
        )
        ended: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def inner() -> None:
            own_stop = asyncio.Event()
            started.set_result((asyncio.get_running_loop(), own_stop))
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
        loop, own_stop = await asyncio.wrap_future(started)
        finished: asyncio.Future[None] = asyncio.wrap_future(ended)
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        waiting: set[asyncio.Future[Any]] = {finished, stopping}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not ended.done():
                loop.call_soon_threadsafe(own_stop.set)
            # To its end even if this task is cancelled: the thread holds
            # connections, and must close them before the process goes on.
            await asyncio.shield(finished)
        await finished  # raises what the work raised

    return run
