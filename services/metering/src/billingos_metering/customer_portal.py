"""The customer portal's usage (customer_portal.proto): the session's
customer's customer meters, each with its meter's name. The kit has
verified the token and bound the call to the session's organization; the
list is also bounded by the session's customer
(`CallScope.portal_customer_id`), and no request names a customer.

What a customer meter holds is customer_meters.py's: consumption in the
current window (since the last credit reset), credits and balance, as the
balance worker keeps them. Archived meters are left out: they no longer
count, and a customer would read a figure that stopped moving as current.
A meter the customer never used nor was credited on has no customer meter,
and so no line either.
"""

from __future__ import annotations

from dataclasses import dataclass

from billingos_kit.grpc.scope import CallScope
from billingos_kit.pagination import Page, page_request
from billingos_metering.models import MeterRow
from billingos_metering.repository import (
    CustomerMeterRepository,
    MeterRepository,
    PortalMeterFilter,
)
from billingos_metering.views import CustomerMeterView, view_of


@dataclass(frozen=True)
class PortalMeterView:
    meter: MeterRow
    usage: CustomerMeterView


class PortalCustomerMeters:
    """The session's customer's standing on each live meter."""

    def __init__(self, scope: CallScope) -> None:
        self._customer_id = scope.portal_customer_id
        self._meters = MeterRepository(scope)
        self._rows = CustomerMeterRepository(scope)

    async def list_page(self, page_size: int, page_token: str) -> Page[PortalMeterView]:
        """One page, newest customer meter first; changes nothing."""
        where = PortalMeterFilter(customer_id=self._customer_id, live_meters=True)
        found = await self._rows.page(where, page_request(page_size, page_token, where))
        meters = {m.id: m for m in await self._meters.of_ids({r.meter_id for r in found.items})}
        views = [
            PortalMeterView(meters[row.meter_id], view_of(meters[row.meter_id], row))
            for row in found.items
            # A meter archived between the two reads: left out, as it
            # would have been a moment later.
            if row.meter_id in meters and meters[row.meter_id].archived_at is None
        ]
        return Page(views, found.next_page_token)
