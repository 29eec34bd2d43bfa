"""``/v1/events/ingest``: usage events, which meters count."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Required, TypedDict

from .._http import Operation
from ..models import IngestResult
from ._base import AsyncResource, Metadata, SyncResource


class EventInput(TypedDict, total=False):
    """One usage event; give `customer_id` or `external_customer_id`."""

    name: Required[str]
    """What happened, e.g. ``"api_call"``; meters filter on it."""
    customer_id: str
    external_customer_id: str
    """The merchant's id of the customer, who need not exist yet."""
    external_id: str
    """The merchant's id of the event: a second event with it is a duplicate."""
    timestamp: dt.datetime | str
    """When it happened (timezone-aware); unset: when received."""
    metadata: Metadata
    """What meters filter and aggregate on (``{"tokens": 1500}``)."""


def _ingest(events: Sequence[EventInput], key: str | None) -> Operation[IngestResult]:
    return Operation(
        "POST",
        "/v1/events/ingest",
        IngestResult.from_json,
        body={"events": [dict(event) for event in events]},
        idempotency_key=key,
    )


class Events(SyncResource):
    def ingest(
        self, events: Sequence[EventInput], *, idempotency_key: str | None = None
    ) -> IngestResult:
        """Stores 1 to 1,000 events, all or none (one bad event refuses the
        batch, naming it)."""
        return self._send(_ingest(events, idempotency_key))


class AsyncEvents(AsyncResource):
    async def ingest(
        self, events: Sequence[EventInput], *, idempotency_key: str | None = None
    ) -> IngestResult:
        """Stores 1 to 1,000 events, all or none (one bad event refuses the
        batch, naming it)."""
        return await self._send(_ingest(events, idempotency_key))
