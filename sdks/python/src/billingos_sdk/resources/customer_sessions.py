"""``/v1/customer-sessions``: tokens for the customer portal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict, Unpack

from .._http import Operation
from ..models import CustomerSession
from ._base import AsyncResource, SyncResource, present


class CustomerSessionCreateParams(TypedDict, total=False):
    """Give `customer_id` or `external_customer_id`."""

    customer_id: str
    external_customer_id: str
    ttl_seconds: int
    """60 to 86400; unset: an hour."""


def _create(params: Mapping[str, object], key: str | None) -> Operation[CustomerSession]:
    return Operation(
        "POST",
        "/v1/customer-sessions",
        CustomerSession.from_json,
        body=present(params),
        idempotency_key=key,
    )


class CustomerSessions(SyncResource):
    def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[CustomerSessionCreateParams]
    ) -> CustomerSession:
        """A session whose ``token`` (in this answer only) the customer's
        browser sends to the customer-portal routes."""
        return self._send(_create(params, idempotency_key))


class AsyncCustomerSessions(AsyncResource):
    async def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[CustomerSessionCreateParams]
    ) -> CustomerSession:
        """A session whose ``token`` (in this answer only) the customer's
        browser sends to the customer-portal routes."""
        return await self._send(_create(params, idempotency_key))
