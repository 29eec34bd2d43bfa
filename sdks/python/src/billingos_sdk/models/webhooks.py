"""Webhook endpoints and their deliveries. A delivery's ``status`` is a
string such as ``"WEBHOOK_DELIVERY_STATUS_SUCCEEDED"`` (see
`WEBHOOK_DELIVERY_STATUSES`), so a status added later reads as itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from . import _json as j

WEBHOOK_DELIVERY_STATUSES: Final = (
    "WEBHOOK_DELIVERY_STATUS_PENDING",
    "WEBHOOK_DELIVERY_STATUS_SUCCEEDED",
    "WEBHOOK_DELIVERY_STATUS_RETRYING",
    "WEBHOOK_DELIVERY_STATUS_FAILED",
)


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    organization_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    """The event types posted (``"customer.created"``, ...); empty: every type."""
    disabled: bool
    disabled_reason: str
    """``"gone"``, ``"failing"`` or ``"by_request"``; empty while enabled."""
    secret: str = field(repr=False)
    """The signing secret (``whsec_...``): only in the answers of `create`
    and `rotate_secret` (empty elsewhere, and in the replay of either with
    the same idempotency key). Keep it with the receiver. Left out of
    ``repr`` so it does not end up in a log."""
    previous_secret_expire_time: dt.datetime | None
    """Until when the secret replaced by the last rotation still signs
    beside the new one; None when one secret signs."""
    create_time: dt.datetime | None
    update_time: dt.datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: j.Json) -> WebhookEndpoint:
        return cls(
            id=j.text(data, "id"),
            organization_id=j.text(data, "organization_id"),
            url=j.text(data, "url"),
            description=j.text(data, "description"),
            event_types=j.strings(data, "event_types"),
            disabled=j.boolean(data, "disabled"),
            disabled_reason=j.text(data, "disabled_reason"),
            secret=j.text(data, "secret"),
            previous_secret_expire_time=j.timestamp(data, "previous_secret_expire_time"),
            create_time=j.timestamp(data, "create_time"),
            update_time=j.timestamp(data, "update_time"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class WebhookDelivery:
    """One event posted (or to be posted) to one endpoint."""

    id: str
    endpoint_id: str
    event_id: str
    """The ``webhook-id`` header and the envelope's ``id``: the same on every
    attempt and redelivery, what receivers deduplicate on."""
    event_type: str
    status: str
    """One of `WEBHOOK_DELIVERY_STATUSES`."""
    attempts: int
    """Attempts made, in all its series."""
    last_response_status: int
    """The HTTP status of the last answer; 0 when there was none."""
    last_error: str
    next_attempt_time: dt.datetime | None
    """When the next attempt is due; None once succeeded or failed."""
    sequence: int
    """The endpoint's ordering number (the envelope's ``sequence``)."""
    create_time: dt.datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: j.Json) -> WebhookDelivery:
        return cls(
            id=j.text(data, "id"),
            endpoint_id=j.text(data, "endpoint_id"),
            event_id=j.text(data, "event_id"),
            event_type=j.text(data, "event_type"),
            status=j.text(data, "status"),
            attempts=j.integer(data, "attempts"),
            last_response_status=j.integer(data, "last_response_status"),
            last_error=j.text(data, "last_error"),
            next_attempt_time=j.timestamp(data, "next_attempt_time"),
            sequence=j.integer(data, "sequence"),
            create_time=j.timestamp(data, "create_time"),
            raw=dict(data),
        )
