"""Keeping `portal_sign_ins` bounded: anyone may ask for links, and every
request writes a row (one for nobody on a miss), so rows whose link expired
more than the retention ago (7 days by default: long enough to tell which
sign-in opened which session) are deleted, in batches, every hour. An
expired link opens nothing, so keeping or purging it is only a matter of
space and record."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from billingos_customers.repository import ExpiredSignIns
from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.repository import OnConnection

log = logging.getLogger(__name__)

PURGE_BATCH = 1_000
PURGE_EVERY_SECONDS = 3_600.0


class PortalSignInRetention:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        keep_for: dt.timedelta,
        every_seconds: float = PURGE_EVERY_SECONDS,
    ) -> None:
        self._database = database
        self._clock = clock
        self._keep_for = keep_for
        self._every_seconds = every_seconds

    async def run(self, stop: asyncio.Event) -> None:
        """A purge now and then every `every_seconds` until `stop`; a failed
        pass is logged and tried again at the next."""
        while not stop.is_set():
            try:
                purged = await self.purge()
            except Exception:
                log.exception("purging portal sign-in links failed; retrying later")
            else:
                if purged:
                    log.info("portal sign-in retention", extra={"sign_ins": purged})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._every_seconds)

    async def purge(self) -> int:
        """One pass, batch by batch, each its own short transaction; how many
        rows went."""
        expired_before = self._clock.now() - self._keep_for
        purged = 0
        while True:
            async with self._database.transaction() as connection:
                batch = await ExpiredSignIns(OnConnection(connection)).purge(
                    expired_before, PURGE_BATCH
                )
            purged += batch
            if batch < PURGE_BATCH:
                return purged
