"""Where counting stands: the global progress of the balance worker (every
caught-up meter is counted through it; a meter behind — new, recounting,
archived — has its own `counted_watermark` below it).

Callers that start a window or stop a meter here (a reset, an archive) hold
the meter's row lock and read the progress plainly (no lock:
the worker takes the progress row first and then meter rows, so locking
them the other way round would deadlock). That is enough: a pass that
counts this meter waits for the meter's lock, and a pass that does not has
nothing of the meter to count, so the progress read is where the meter's
counting stands either way."""

from __future__ import annotations

from billingos_kit.db import Connection


async def global_progress(connection: Connection, *, lock: str = "") -> int:
    value = await connection.fetchval(
        f"SELECT watermark FROM metering.balance_progress WHERE id = 1 {lock}"  # noqa: S608
    )
    return int(value)
