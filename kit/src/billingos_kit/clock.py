"""The only place BillingOS reads the time.

Services receive a `Clock` and ask it; nothing else calls the wall clock. A
`FrozenClock` stands still until told to move, which is what test clocks and
the tests themselves use to make renewals and expiries happen on demand.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

UTC = dt.UTC


class Clock(Protocol):
    """A source of aware UTC datetimes."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = _require_aware(start)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Moves forward by `delta` (never backwards) and returns the new time."""
        if delta < dt.timedelta(0):
            raise ValueError("a clock never moves backwards")
        self._now += delta
        return self._now

    def set(self, moment: dt.datetime) -> None:
        """Jumps to `moment`, which must not be before the current time."""
        moment = _require_aware(moment)
        if moment < self._now:
            raise ValueError("a clock never moves backwards")
        self._now = moment


def _require_aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC)
