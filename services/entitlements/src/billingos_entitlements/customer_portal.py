"""The customer portal's reads (customer_portal.proto): each bounded by the
customer session's customer, which the kit puts in the call's scope from the
token; a request has no field to name another."""

from __future__ import annotations

from billingos_entitlements.benefit_grants import BenefitGrantService, GrantView
from billingos_entitlements.repository import GrantFilter
from billingos_kit.grpc.scope import CallScope
from billingos_kit.pagination import Page, page_request


class PortalGrants:
    def __init__(self, scope: CallScope) -> None:
        self._scope = scope

    async def list_page(
        self, is_granted: bool | None, page_size: int, page_token: str
    ) -> Page[GrantView]:
        """One page of the session's customer's grants, newest first."""
        where = GrantFilter(customer_id=self._scope.portal_customer_id, is_granted=is_granted)
        page = page_request(page_size, page_token, where)
        return await BenefitGrantService(self._scope).list_page(where, page)
