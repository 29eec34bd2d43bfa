"""Keeping the webhook tables bounded: finished deliveries (their bodies
hold customers' data) and their attempts are purged once older than the
retention (30 days by default), and a secret a rotation replaced is
dropped once its grace is over. Runs beside the sender, on its loop.

Open deliveries are never purged: a deleted endpoint's are failed when it
is deleted, and a disabled endpoint's wait for it to be enabled again, for
a whole retention period at most (then they are failed, and purged in
turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from billingos_customers.repository import ExpiredWebhookRows, ReplacedSecrets
from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.repository import OnConnection

log = logging.getLogger(__name__)

# Deliveries deleted per transaction: short locks, short transactions.
PURGE_BATCH = 1_000
PURGE_EVERY_SECONDS = 3_600.0


@dataclass(frozen=True)
class Purged:
    deliveries: int
    secrets: int


class WebhookRetention:
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
                log.exception("purging webhook deliveries failed; retrying later")
            else:
                if purged.deliveries or purged.secrets:
                    log.info(
                        "webhook retention",
                        extra={"deliveries": purged.deliveries, "secrets": purged.secrets},
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._every_seconds)

    async def purge(self) -> Purged:
        """One pass: every finished delivery past the retention (in batches)
        and every replaced secret past its grace."""
        now = self._clock.now()
        before = now - self._keep_for
        async with self._database.transaction() as connection:
            await ExpiredWebhookRows(OnConnection(connection)).close_abandoned(before, now)
        deliveries = 0
        while True:
            async with self._database.transaction() as connection:
                batch = await ExpiredWebhookRows(OnConnection(connection)).purge_deliveries(
                    before, PURGE_BATCH
                )
            deliveries += batch
            if batch < PURGE_BATCH:
                break
        async with self._database.transaction() as connection:
            secrets = await ReplacedSecrets(OnConnection(connection)).forget_expired(now)
        return Purged(deliveries, secrets)
