"""When to try a request again, and how long to wait first.

Kept free of I/O so the sync and the async client follow the very same
policy, and so tests can check delays without sleeping.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

# 501 means the route does not exist in this suite: waiting will not add it.
_NOT_IMPLEMENTED = 501
_TOO_MANY_REQUESTS = 429
_CONFLICT = 409
# google.rpc.Code ABORTED: a transient conflict (a serialization failure or
# deadlock, reason CONCURRENT_CHANGE; metering's METER_CATCHING_UP), which the
# server answers as 409. A 409 with another code (6, ALREADY_EXISTS: a
# duplicate external_id) is the caller's to handle and never retried.
ABORTED = 10


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded, honouring ``Retry-After``.

    Retried: 429, 5xx other than 501, a 409 whose body has ``code`` 10
    (ABORTED, a transient conflict), and network errors.

    ``max_retries`` counts retries, not attempts (3 means up to 4 requests).
    The n-th retry waits ``min(max_delay, initial_delay * 2**n)``, of which a
    random half is shaved off (so clients that failed together do not return
    together), unless the server said how long in ``Retry-After``: then that,
    exactly. A ``Retry-After`` longer than ``max_retry_after`` is not waited
    for: the error is raised, since blocking a caller for minutes is worse
    than telling it.
    """

    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    random: Callable[[], float] = field(default=_random.random, compare=False, repr=False)
    """A number in [0, 1) for the jitter; fixed in tests."""

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")

    def retries_status(self, status_code: int, rpc_code: int | None = None) -> bool:
        """Whether an answer with this status (and `google.rpc.Code`, the
        body's ``code``) is worth another try."""
        if status_code == _TOO_MANY_REQUESTS:
            return True
        if status_code == _CONFLICT:
            return rpc_code == ABORTED
        return status_code >= 500 and status_code != _NOT_IMPLEMENTED

    def delay(self, retry_number: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry `retry_number` (0-based), or None to
        give up (retries used up, or the server asks for too long a wait)."""
        if retry_number >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.max_delay, self.initial_delay * 2.0**retry_number)
        share: float = self.random()
        return ceiling / 2 + share * ceiling / 2
