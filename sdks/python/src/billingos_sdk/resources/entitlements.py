"""``/v1/entitlements/check``: may this customer use this feature now?"""

from __future__ import annotations

from .._http import Operation
from ..models import Entitlement
from ._base import AsyncResource, SyncResource


def _check(
    feature: str, customer_id: str | None, external_customer_id: str | None
) -> Operation[Entitlement]:
    query = {
        "feature": feature,
        "customer_id": customer_id,
        "external_customer_id": external_customer_id,
    }
    return Operation("GET", "/v1/entitlements/check", Entitlement.from_json, query=query)


class Entitlements(SyncResource):
    def check(
        self,
        feature: str,
        *,
        customer_id: str | None = None,
        external_customer_id: str | None = None,
    ) -> Entitlement:
        """Give exactly one of `customer_id` and `external_customer_id`. An
        unknown feature is an answer (not allowed, reason
        ``ENTITLEMENT_REASON_UNKNOWN_FEATURE``), not an error."""
        return self._send(_check(feature, customer_id, external_customer_id))


class AsyncEntitlements(AsyncResource):
    async def check(
        self,
        feature: str,
        *,
        customer_id: str | None = None,
        external_customer_id: str | None = None,
    ) -> Entitlement:
        """Give exactly one of `customer_id` and `external_customer_id`. An
        unknown feature is an answer (not allowed, reason
        ``ENTITLEMENT_REASON_UNKNOWN_FEATURE``), not an error."""
        return await self._send(_check(feature, customer_id, external_customer_id))
