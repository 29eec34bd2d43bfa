"""``/v1/webhook-endpoints``: the URLs that receive the organization's events
(signed the Standard Webhooks way: verify them with the ``standardwebhooks``
package), their signing secrets, and what was delivered to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Required, TypedDict, Unpack

from .._http import Operation, path
from ..models import WebhookDelivery, WebhookEndpoint
from ..pagination import AsyncPager, Page, SyncPager
from ._base import AsyncResource, SyncResource, page_of, present


class WebhookEndpointCreateParams(TypedDict, total=False):
    url: Required[str]
    """Where events are posted: https (http, and local addresses, only for
    an organization in development mode), a host that resolves to public
    addresses only, no user name or password, no fragment."""
    description: str
    """A label for people (``"order fulfilment"``), at most 256 characters."""
    event_types: Sequence[str]
    """The event types posted (``"subscription.created"``, ...; the list is
    in docs/webhooks.md); empty or unset: every type."""


class WebhookEndpointFields(TypedDict, total=False):
    """The fields an update changes."""

    url: str
    description: str
    event_types: Sequence[str]
    """An empty list: every type."""
    disabled: bool
    """True stops posting (the deliveries wait); False resumes, in order."""


class WebhookEndpointListParams(TypedDict, total=False):
    page_size: int


class WebhookDeliveryListParams(TypedDict, total=False):
    page_size: int
    status: str
    """Only deliveries in this status (one of `WEBHOOK_DELIVERY_STATUSES`,
    e.g. ``"WEBHOOK_DELIVERY_STATUS_FAILED"`` to find what to redeliver)."""
    event_type: str
    """Only deliveries of this event type (``"customer.created"``, ...)."""


_list_page = page_of("webhook_endpoints", WebhookEndpoint.from_json)
_deliveries_page = page_of("webhook_deliveries", WebhookDelivery.from_json)


def _create(params: Mapping[str, object], key: str | None) -> Operation[WebhookEndpoint]:
    return Operation(
        "POST",
        "/v1/webhook-endpoints",
        WebhookEndpoint.from_json,
        body=present(params),
        idempotency_key=key,
    )


def _get(endpoint_id: str) -> Operation[WebhookEndpoint]:
    return Operation(
        "GET", path("/v1/webhook-endpoints/{}", endpoint_id), WebhookEndpoint.from_json
    )


def _list(params: Mapping[str, object], page_token: str) -> Operation[Page[WebhookEndpoint]]:
    query = {**present(params), "page_token": page_token or None}
    return Operation("GET", "/v1/webhook-endpoints", _list_page, query=query)


def _update(
    endpoint_id: str,
    fields: Mapping[str, object],
    update_mask: Sequence[str] | None,
    key: str | None,
) -> Operation[WebhookEndpoint]:
    # The mask defaults to the fields given, so `description=""` clears the
    # description and `event_types=[]` posts every type again.
    mask = ",".join(update_mask if update_mask is not None else fields.keys())
    return Operation(
        "PATCH",
        path("/v1/webhook-endpoints/{}", endpoint_id),
        WebhookEndpoint.from_json,
        query={"update_mask": mask or None},
        body=dict(fields),
        idempotency_key=key,
    )


def _delete(endpoint_id: str, key: str | None) -> Operation[WebhookEndpoint]:
    return Operation(
        "DELETE",
        path("/v1/webhook-endpoints/{}", endpoint_id),
        WebhookEndpoint.from_json,
        idempotency_key=key,
    )


def _rotate_secret(
    endpoint_id: str, grace_seconds: int | None, key: str | None
) -> Operation[WebhookEndpoint]:
    return Operation(
        "POST",
        path("/v1/webhook-endpoints/{}:rotate-secret", endpoint_id),
        WebhookEndpoint.from_json,
        body=present({"grace_seconds": grace_seconds}),
        idempotency_key=key,
    )


def _list_deliveries(
    endpoint_id: str, params: Mapping[str, object], page_token: str
) -> Operation[Page[WebhookDelivery]]:
    query = {**present(params), "page_token": page_token or None}
    return Operation(
        "GET",
        path("/v1/webhook-endpoints/{}/deliveries", endpoint_id),
        _deliveries_page,
        query=query,
    )


def _redeliver(endpoint_id: str, delivery_id: str, key: str | None) -> Operation[WebhookDelivery]:
    return Operation(
        "POST",
        path("/v1/webhook-endpoints/{}/deliveries/{}:redeliver", endpoint_id, delivery_id),
        WebhookDelivery.from_json,
        body={},
        idempotency_key=key,
    )


class WebhookEndpoints(SyncResource):
    def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[WebhookEndpointCreateParams]
    ) -> WebhookEndpoint:
        """A new endpoint; its ``secret`` is in this answer only."""
        return self._send(_create(params, idempotency_key))

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        """The endpoint, without its secret."""
        return self._send(_get(endpoint_id))

    def list(self, **params: Unpack[WebhookEndpointListParams]) -> SyncPager[WebhookEndpoint]:
        """Every endpoint, newest first, without secrets."""
        return SyncPager(lambda token: self._send(_list(params, token)))

    def update(
        self,
        endpoint_id: str,
        *,
        update_mask: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        **fields: Unpack[WebhookEndpointFields],
    ) -> WebhookEndpoint:
        """Changes the fields given (or those `update_mask` names)."""
        return self._send(_update(endpoint_id, fields, update_mask, idempotency_key))

    def delete(self, endpoint_id: str, *, idempotency_key: str | None = None) -> WebhookEndpoint:
        """Nothing more is posted to it; its deliveries stay listable."""
        return self._send(_delete(endpoint_id, idempotency_key))

    def rotate_secret(
        self,
        endpoint_id: str,
        *,
        grace_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookEndpoint:
        """A new ``secret``, in this answer only. The replaced one keeps
        signing beside it for `grace_seconds` (unset or 0: 24 hours; at most
        604800, 7 days), so receivers can switch without a delivery they
        cannot verify."""
        return self._send(_rotate_secret(endpoint_id, grace_seconds, idempotency_key))

    def list_deliveries(
        self, endpoint_id: str, **params: Unpack[WebhookDeliveryListParams]
    ) -> SyncPager[WebhookDelivery]:
        """Every delivery of the endpoint, newest first."""
        return SyncPager(lambda token: self._send(_list_deliveries(endpoint_id, params, token)))

    def redeliver(
        self, endpoint_id: str, delivery_id: str, *, idempotency_key: str | None = None
    ) -> WebhookDelivery:
        """Posts the delivery again, whatever its status: a new series of
        attempts, the same ``webhook-id`` and body."""
        return self._send(_redeliver(endpoint_id, delivery_id, idempotency_key))


class AsyncWebhookEndpoints(AsyncResource):
    async def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[WebhookEndpointCreateParams]
    ) -> WebhookEndpoint:
        """A new endpoint; its ``secret`` is in this answer only."""
        return await self._send(_create(params, idempotency_key))

    async def get(self, endpoint_id: str) -> WebhookEndpoint:
        """The endpoint, without its secret."""
        return await self._send(_get(endpoint_id))

    def list(self, **params: Unpack[WebhookEndpointListParams]) -> AsyncPager[WebhookEndpoint]:
        """Every endpoint, newest first, without secrets (``async for``)."""
        return AsyncPager(lambda token: self._send(_list(params, token)))

    async def update(
        self,
        endpoint_id: str,
        *,
        update_mask: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        **fields: Unpack[WebhookEndpointFields],
    ) -> WebhookEndpoint:
        """Changes the fields given (or those `update_mask` names)."""
        return await self._send(_update(endpoint_id, fields, update_mask, idempotency_key))

    async def delete(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        """Nothing more is posted to it; its deliveries stay listable."""
        return await self._send(_delete(endpoint_id, idempotency_key))

    async def rotate_secret(
        self,
        endpoint_id: str,
        *,
        grace_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookEndpoint:
        """A new ``secret``, in this answer only. The replaced one keeps
        signing beside it for `grace_seconds` (unset or 0: 24 hours; at most
        604800, 7 days), so receivers can switch without a delivery they
        cannot verify."""
        return await self._send(_rotate_secret(endpoint_id, grace_seconds, idempotency_key))

    def list_deliveries(
        self, endpoint_id: str, **params: Unpack[WebhookDeliveryListParams]
    ) -> AsyncPager[WebhookDelivery]:
        """Every delivery of the endpoint, newest first (``async for``)."""
        return AsyncPager(lambda token: self._send(_list_deliveries(endpoint_id, params, token)))

    async def redeliver(
        self, endpoint_id: str, delivery_id: str, *, idempotency_key: str | None = None
    ) -> WebhookDelivery:
        """Posts the delivery again, whatever its status: a new series of
        attempts, the same ``webhook-id`` and body."""
        return await self._send(_redeliver(endpoint_id, delivery_id, idempotency_key))
