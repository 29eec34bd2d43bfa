"""Webhook endpoints (webhook_endpoints.proto): an organization's URLs that
receive its events, their signing secrets, and what was delivered to them.
Works in the caller's scope; raises domain errors; knows no protobuf.

The secret is shown on create and on rotation only. A rotation keeps the
replaced secret signing beside the new one for a grace period, so a
receiver can switch secrets without a delivery it cannot verify."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from billingos_customers import events
from billingos_customers.drafts import WebhookEndpointFields
from billingos_customers.models import WebhookDelivery, WebhookEndpoint
from billingos_customers.repository import (
    DeliveryFilter,
    OrganizationRepository,
    WebhookDeliveryRepository,
    WebhookEndpointRepository,
)
from billingos_customers.webhook_envelope import new_secret
from billingos_customers.webhook_urls import check_url
from billingos_customers.webhook_vocabulary import POSTED_TYPES, DeliveryStatus, DisabledReason
from billingos_kit.errors import FailedPrecondition, InvalidArgument
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import ListFilter, Page, PageRequest
from billingos_kit.repository import apply_changes
from billingos_kit.validation import Violations, check_text

PREFIX = "webhook_endpoint"
MAX_DESCRIPTION_LENGTH = 256
DEFAULT_GRACE = dt.timedelta(hours=24)
MAX_GRACE = dt.timedelta(days=7)
DEFAULT_MAX_ENDPOINTS = 50
NO_FILTERS = ListFilter()
WEBHOOK_ENDPOINT_MASK = UpdateMask(
    PREFIX,
    updatable=("url", "description", "event_types", "disabled"),
    immutable={
        "organization_id": "an endpoint belongs to the organization that created it",
    },
)


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown in this response only


class WebhookEndpointService:
    """Webhook endpoints of the scope's organization, and their deliveries."""

    def __init__(
        self,
        scope: CallScope,
        *,
        development_mode_allowed: bool = False,
        max_endpoints: int = DEFAULT_MAX_ENDPOINTS,
    ) -> None:
        self._scope = scope
        self._development_mode_allowed = development_mode_allowed
        self._max_endpoints = max_endpoints
        self._endpoints = WebhookEndpointRepository(scope)
        self._deliveries = WebhookDeliveryRepository(scope)

    async def create(self, fields: WebhookEndpointFields) -> EndpointWithSecret:
        """Creates an endpoint with a new secret; announces
        `webhook_endpoint.created`. Its URL must pass the SSRF rules for the
        organization's mode (webhook_urls.py)."""
        await self._check(fields, WEBHOOK_ENDPOINT_MASK.updatable)
        await self._check_room()
        now = self._scope.clock.now()
        secret = new_secret()
        endpoint = WebhookEndpoint(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            url=fields.url,
            description=fields.description.strip(),
            event_types=_event_types(fields.event_types),
            secret=secret,
            previous_secret=None,
            previous_secret_expires_at=None,
            last_sequence=0,
            failing_since=None,
            disabled_at=now if fields.disabled else None,
            disabled_reason=DisabledReason.BY_REQUEST if fields.disabled else None,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        await self._endpoints.insert(endpoint)
        await self._scope.outbox.add(events.webhook_endpoint_created(endpoint))
        return EndpointWithSecret(endpoint, secret)

    async def get(self, endpoint_id: uuid.UUID, *, for_update: bool = False) -> WebhookEndpoint:
        return await self._endpoints.require(endpoint_id, for_update=for_update)

    async def list_page(self, page: PageRequest) -> Page[WebhookEndpoint]:
        return await self._endpoints.page(NO_FILTERS, page)

    async def update(
        self, endpoint_id: uuid.UUID, fields: WebhookEndpointFields, paths: Sequence[str]
    ) -> WebhookEndpoint:
        """Applies the fields named in `paths`; announces
        `webhook_endpoint.updated` if any changed. Enabling an endpoint
        forgets its failures: its waiting deliveries go out again."""
        await self._check(fields, paths)
        endpoint = await self._endpoints.require(endpoint_id, for_update=True)
        now = self._scope.clock.now()
        wanted: dict[str, object] = {}
        if "url" in paths:
            wanted["url"] = fields.url
        if "description" in paths:
            wanted["description"] = fields.description.strip()
        if "event_types" in paths:
            wanted["event_types"] = _event_types(fields.event_types)
        changed = apply_changes(endpoint, wanted)
        columns = list(changed)
        if "disabled" in paths and fields.disabled != (endpoint.disabled_at is not None):
            if fields.disabled:
                endpoint.disabled_at, endpoint.disabled_reason = now, DisabledReason.BY_REQUEST
            else:
                endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
                await self._deliveries.restart_open(endpoint.id, now)
            changed.append("disabled")
            columns += ["disabled_at", "disabled_reason", "failing_since"]
        if not changed:
            return endpoint
        endpoint.updated_at = now
        await self._endpoints.update(endpoint, [*columns, "updated_at"])
        await self._scope.outbox.add(events.webhook_endpoint_updated(endpoint, changed))
        return endpoint

    async def delete(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        """Deletes the endpoint (the row stays, with its deliveries, for
        history); nothing more is posted to it: its open deliveries fail."""
        endpoint = await self._endpoints.require(endpoint_id, for_update=True)
        now = self._scope.clock.now()
        await self._endpoints.soft_delete(endpoint, now)
        await self._deliveries.close_open(endpoint.id, now, "its endpoint was deleted")
        await self._scope.outbox.add(events.webhook_endpoint_deleted(endpoint))
        return endpoint

    async def rotate_secret(self, endpoint_id: uuid.UUID, grace_seconds: int) -> EndpointWithSecret:
        """A new secret; the current one signs beside it for `grace_seconds`
        (0: 24 hours). A secret from an earlier rotation still in its grace
        is dropped: two secrets sign at most."""
        if grace_seconds < 0 or dt.timedelta(seconds=grace_seconds) > MAX_GRACE:
            raise InvalidArgument(
                "grace_seconds", f"must be 0 to {int(MAX_GRACE.total_seconds())} seconds"
            )
        grace = dt.timedelta(seconds=grace_seconds) if grace_seconds else DEFAULT_GRACE
        endpoint = await self._endpoints.require(endpoint_id, for_update=True)
        now = self._scope.clock.now()
        secret = new_secret()
        endpoint.previous_secret, endpoint.secret = endpoint.secret, secret
        endpoint.previous_secret_expires_at = now + grace
        endpoint.updated_at = now
        await self._endpoints.update(
            endpoint, ["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
        )
        await self._scope.outbox.add(events.webhook_endpoint_updated(endpoint, ["secret"]))
        return EndpointWithSecret(endpoint, secret)

    async def list_deliveries(
        self, endpoint_id: uuid.UUID, page: PageRequest, where: DeliveryFilter
    ) -> Page[WebhookDelivery]:
        """An endpoint's deliveries, newest first (a deleted endpoint's too:
        its history stays readable by id)."""
        if await self._endpoints.get_any(endpoint_id) is None:
            raise self._endpoints.not_found(str(endpoint_id))
        return await self._deliveries.page(where, page)

    async def redeliver(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
        """Starts a new series of attempts for the delivery, due now, with
        the same body and `webhook-id`; of a live endpoint's delivery only.
        It waits its turn: while another delivery of the endpoint is being
        posted, or one is being posted right now, nothing is posted twice at
        once (an attempt in flight counts as the new series' first)."""
        await self._endpoints.require(endpoint_id)
        delivery = await self._deliveries.require(delivery_id, for_update=True)
        if delivery.endpoint_id != endpoint_id:
            raise self._deliveries.not_found(str(delivery_id))
        now = self._scope.clock.now()
        delivery.status = DeliveryStatus.PENDING
        delivery.series_attempts = 0
        delivery.series_started_at = None
        delivery.next_attempt_at = now
        delivery.updated_at = now
        await self._deliveries.update(
            delivery,
            ["status", "series_attempts", "series_started_at", "next_attempt_at", "updated_at"],
        )
        return delivery

    async def _check_room(self) -> None:
        """At most `max_endpoints` live endpoints: each event is posted once
        per endpoint, so the count bounds what one event costs the sender.
        One create of the organization at a time, so two cannot both take
        the last place."""
        await self._endpoints.hold_lock("customers.webhook_endpoints.create", "room")
        count = await self._endpoints.count_live()
        if count >= self._max_endpoints:
            raise FailedPrecondition(
                f"the organization has {count} webhook endpoints; at most "
                f"{self._max_endpoints} may exist (delete one first)",
                reason="WEBHOOK_ENDPOINT_LIMIT_REACHED",
            )

    async def _check(self, fields: WebhookEndpointFields, paths: Sequence[str]) -> None:
        violations = Violations()
        if "description" in paths:
            check_text(
                violations,
                f"{PREFIX}.description",
                fields.description,
                max_length=MAX_DESCRIPTION_LENGTH,
            )
        if "event_types" in paths:
            for index, event_type in enumerate(fields.event_types):
                if event_type not in POSTED_TYPES:
                    violations.add(
                        f"{PREFIX}.event_types[{index}]",
                        f"{event_type!r} is not an event type webhooks post; see docs/webhooks.md",
                    )
        violations.raise_if_any()
        if "url" in paths:
            organization = await OrganizationRepository(self._scope).require(
                self._scope.organization_id
            )
            await check_url(
                fields.url,
                development_mode=organization.development_mode and self._development_mode_allowed,
            )


def _event_types(given: Sequence[str]) -> list[str]:
    return sorted(set(given))
