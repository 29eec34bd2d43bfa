"""Where a meter's customer meters stand: the global progress of the balance
worker (every caught-up meter is counted through it) or, for a meter behind
(new, recounting, archived), its own watermark.

Callers hold the meter's row lock and read the progress plainly (no lock:
the worker takes the progress row first and then meter rows, so locking
them the other way round would deadlock). That is enough: a pass that
counts this meter waits for the meter's lock, and a pass that does not has
nothing of the meter to count, so the progress read is where the meter's
counting stands either way."""

from __future__ import annotations

from billingos_kit.db import Connection
from billingos_metering.models import MeterRow


async def global_progress(connection: Connection, *, lock: str = "") -> int:
    value = await connection.fetchval(
        f"SELECT watermark FROM metering.balance_progress WHERE id = 1 {lock}"  # noqa: S608
    )
    return int(value)


async def counted_through(connection: Connection, meter: MeterRow) -> int:
    """The watermark below which the meter's customer meters hold every event."""
    if meter.counted_watermark is not None:
        return meter.counted_watermark
    return await global_progress(connection)
