"""The rollup keeper: keeps every meter's rollups (rollups.py) current.

Built like the balance worker, with its own progress so that the two never
depend on each other: each pass adds the events stored in
[rollup_progress, safe point) to the rollups of every meter whose rollups
are not behind, and moves the progress, in one transaction (one pass at a
time across replicas: an advisory lock). A meter whose rollups are behind —
new, made by an older pod, its filter or aggregation changed (its
`rolled_spec` is not its key any more), or failed — is rebuilt or caught up
in transactions of its own, a few per pass, a failing one retried with a
doubling wait; meanwhile its quantities are read from the events.

Runs on the balance worker's loop and connections, which store no events:
their long transactions (a rebuild over years of events) do not hold the
safe point back (watermarks.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from billingos_kit.clock import Clock
from billingos_kit.db import Connection, Database
from billingos_kit.repository import OnConnection
from billingos_metering.meters import spec_of
from billingos_metering.models import MeterRow
from billingos_metering.retries import Retries
from billingos_metering.rollups import SPEC_KEY, forget
from billingos_metering.store import EventStore

log = logging.getLogger(__name__)

REBUILDS_PER_PASS = 3

_ROLLED = "m.aggregation_function <> 'unique'"
# Not behind yet, but made for another filter or aggregation than the
# meter's now: behind from here (their rebuild starts from nothing).
_MARK_CHANGED = f"""
UPDATE metering.meters m SET rolled_to = 0
WHERE {_ROLLED} AND m.rolled_to IS NULL AND m.rolled_spec IS DISTINCT FROM {SPEC_KEY}
"""  # noqa: S608 - no input in the text
_CAUGHT_UP = f"""
SELECT m.* FROM metering.meters m
WHERE m.organization_id = ANY($1::uuid[]) AND {_ROLLED} AND m.rolled_to IS NULL
  AND m.rolled_spec = {SPEC_KEY}
ORDER BY m.id
"""  # noqa: S608 - no input in the text
_BEHIND = f"""
SELECT m.id FROM metering.meters m WHERE {_ROLLED} AND m.rolled_to IS NOT NULL
ORDER BY m.rolled_to, m.id LIMIT $1
"""  # noqa: S608 - no input in the text
_BEHIND_ONE = f"""
SELECT m.*, {SPEC_KEY} AS spec_key FROM metering.meters m
WHERE m.id = $1 AND {_ROLLED} AND m.rolled_to IS NOT NULL
"""  # noqa: S608 - no input in the text
# Only if the meter is still what its rollups were made for (a change that
# committed meanwhile rolls the work back: it is redone from the new one).
_SET_POINT = f"""
UPDATE metering.meters m SET rolled_to = $2, rolled_spec = $3
WHERE m.id = $1 AND {SPEC_KEY} = $3
"""  # noqa: S608 - no input in the text


class MeterChanged(Exception):
    """The meter's filter or aggregation changed while its rollups were built."""


class RollupKeeper:
    def __init__(self, database: Database, clock: Clock, store: EventStore) -> None:
        self._database = database
        self._clock = clock
        self._store = store
        self._retries = Retries()

    async def keep_once(self) -> None:
        await self._advance()
        for meter_id in await self._behind():
            await self._rebuild(meter_id)

    async def _advance(self) -> None:
        async with self._database.transaction() as connection:
            if not await connection.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext('metering.rollups'))"
            ):
                return
            platform = OnConnection(connection)
            safe = await self._store.watermark(platform)
            progress = await _progress(connection, lock="FOR UPDATE")
            if safe <= progress:
                return
            await connection.execute(_MARK_CHANGED)
            busy = await self._store.organizations_with_events(platform, progress, safe)
            if busy:
                records = await connection.fetch(_CAUGHT_UP, list(busy))
                for meter in (MeterRow(**record) for record in records):
                    try:
                        async with connection.transaction():  # one meter's fault is its own
                            await self._roll(connection, meter, progress, safe)
                    except Exception:
                        log.exception(
                            "could not roll a meter up; it is rebuilt on its own",
                            extra={"meter_id": str(meter.id)},
                        )
                        await connection.execute(
                            "UPDATE metering.meters SET rolled_to = $2 WHERE id = $1",
                            meter.id,
                            progress,
                        )
            await connection.execute(
                "UPDATE metering.rollup_progress SET watermark = $1 WHERE id = 1", safe
            )

    async def _behind(self) -> list[uuid.UUID]:
        now = asyncio.get_running_loop().time()
        async with self._database.connection() as connection:
            records = await connection.fetch(_BEHIND, REBUILDS_PER_PASS + len(self._retries))
        ids = self._retries.due([r[0] for r in records], now)
        return ids[:REBUILDS_PER_PASS]

    async def _rebuild(self, meter_id: uuid.UUID) -> None:
        """First up to the progress without holding it (passes go on
        meanwhile), then what the passes added since, holding it briefly so
        that none moves it before the meter joins them."""
        try:
            async with self._database.transaction() as connection:
                meter, key = await self._lock_behind(connection, meter_id)
                if meter is None or meter.rolled_to is None:
                    return
                start = meter.rolled_to
                if meter.rolled_spec != key:
                    await forget(connection, meter.organization_id, meter.id)
                    start = 0
                target = await _progress(connection)
                await self._roll(connection, meter, start, target)
                await self._set_point(connection, meter, target, key)
            async with self._database.transaction() as connection:
                progress = await _progress(connection, lock="FOR SHARE")
                meter, key = await self._lock_behind(connection, meter_id)
                if meter is None or meter.rolled_to is None or meter.rolled_spec != key:
                    return
                await self._roll(connection, meter, meter.rolled_to, progress)
                await self._set_point(connection, meter, None, key)
            self._retries.succeeded(meter_id)
        except Exception:  # retried with backoff, apart from the pass
            delay = self._retries.failed(meter_id, asyncio.get_running_loop().time())
            log.exception(
                "could not rebuild a meter's rollups; retrying later",
                extra={"meter_id": str(meter_id), "retry_seconds": delay},
            )

    async def _lock_behind(
        self, connection: Connection, meter_id: uuid.UUID
    ) -> tuple[MeterRow | None, str]:
        """The meter if its rollups are behind and no other replica works on
        them (an advisory lock: the meter's row lock is the balance pass's)."""
        if not await connection.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtext('metering.rollups:' || $1::uuid::text))",
            meter_id,
        ):
            return None, ""
        record = await connection.fetchrow(_BEHIND_ONE, meter_id)
        if record is None:
            return None, ""
        values = dict(record)
        key = str(values.pop("spec_key"))
        return MeterRow(**values), key

    async def _roll(self, connection: Connection, meter: MeterRow, start: int, end: int) -> None:
        if start < end:
            scope = OnConnection(connection, meter.organization_id)
            await self._store.roll_up(scope, meter.id, spec_of(meter), (start, end))

    async def _set_point(
        self, connection: Connection, meter: MeterRow, point: int | None, key: str
    ) -> None:
        status = await connection.execute(_SET_POINT, meter.id, point, key)
        if status.split()[-1] != "1":
            raise MeterChanged(str(meter.id))


async def _progress(connection: Connection, *, lock: str = "") -> int:
    value = await connection.fetchval(
        f"SELECT watermark FROM metering.rollup_progress WHERE id = 1 {lock}"  # noqa: S608
    )
    return int(value)
