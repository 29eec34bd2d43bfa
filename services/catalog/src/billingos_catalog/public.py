"""The public catalog: an organization's products that are not archived, with
their active prices, for pricing tables and checkout pages. No API key; found
by the organization's slug or id; nothing private (no metadata, no archived
items)."""

from __future__ import annotations

import uuid

from billingos_catalog.products import ProductPage
from billingos_catalog.repository import OrganizationDirectory, PriceRepository, ProductRepository
from billingos_catalog.views import ProductView
from billingos_kit.errors import NotFound
from billingos_kit.grpc.scope import CallScope
from billingos_kit.pagination import PageRequest


class PublicCatalog:
    def __init__(self, scope: CallScope) -> None:
        self._organizations = OrganizationDirectory(scope.session)
        self._products = ProductRepository(scope.session)
        self._prices = PriceRepository(scope.session)

    async def products(self, organization: str, page: PageRequest) -> ProductPage:
        found = await self._organizations.find(organization.strip())
        if found is None:
            raise NotFound("organization", organization)
        before = uuid.UUID(page.after) if page.after else None
        rows = await self._products.list_page(
            found.id,
            limit=page.size + 1,
            before_id=before,
            archived=False,
            recurring=None,
            query_text=None,
        )
        token = ""
        if len(rows) > page.size:
            rows = rows[: page.size]
            token = page.next_token(str(rows[-1].id))
        prices = await self._prices.active_by_product([p.id for p in rows])
        return ProductPage([ProductView(p, prices.get(p.id, [])) for p in rows], token)
