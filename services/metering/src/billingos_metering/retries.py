"""Which meters' own work (a balance catch-up, a rollup rebuild) failed,
and when each may be tried again: the wait doubles with every failure, up
to MAX_RETRY_SECONDS, so one broken meter is retried without crowding out
the others. Kept in memory: a restart tries every meter again at once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

MAX_RETRY_SECONDS = 300.0


class Retries:
    def __init__(self) -> None:
        # Per failing meter: when to try again, and how many times it failed.
        self._failing: dict[uuid.UUID, tuple[float, int]] = {}

    def __len__(self) -> int:
        return len(self._failing)

    def due(self, meter_ids: Sequence[uuid.UUID], now: float) -> list[uuid.UUID]:
        """Those of `meter_ids` not waiting out a failure, in order."""
        return [m for m in meter_ids if self._failing.get(m, (0.0, 0))[0] <= now]

    def failed(self, meter_id: uuid.UUID, now: float) -> float:
        """Records a failure; returns the wait before the next try."""
        _, failures = self._failing.get(meter_id, (0.0, 0))
        delay = min(2.0**failures, MAX_RETRY_SECONDS)
        self._failing[meter_id] = (now + delay, failures + 1)
        return delay

    def succeeded(self, meter_id: uuid.UUID) -> None:
        self._failing.pop(meter_id, None)
