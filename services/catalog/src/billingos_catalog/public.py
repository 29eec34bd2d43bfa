"""The public catalog: an organization's products that are not archived, with
their active prices, for pricing tables and checkout pages. No API key; found
by the organization's slug or id; nothing private (no metadata, no archived
items)."""

from __future__ import annotations

from billingos_catalog.models import KnownOrganization
from billingos_catalog.products import ProductPage
from billingos_catalog.repository import OrganizationDirectory, PriceRepository, ProductRepository
from billingos_catalog.views import ProductView
from billingos_kit.errors import NotFound
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import canonical_id
from billingos_kit.pagination import PageRequest
from billingos_kit.validation import ORGANIZATION_SLUG, ascii_lower


class PublicCatalog:
    def __init__(self, scope: CallScope) -> None:
        self._organizations = OrganizationDirectory(scope.session)
        self._products = ProductRepository(scope.session)
        self._prices = PriceRepository(scope.session)

    async def products(self, organization: str, page: PageRequest) -> ProductPage:
        found = await self._find(organization)
        if found is None:
            raise NotFound("organization", organization)
        rows = await self._products.list_page(
            found.id,
            limit=page.fetch_size,
            before_id=page.after,
            archived=False,
            recurring=None,
            query_text=None,
        )
        rows, token = page.cut(rows)
        prices = await self._prices.active_by_product(found.id, [p.id for p in rows])
        return ProductPage([ProductView(p, prices.get(p.id, [])) for p in rows], token)

    async def _find(self, slug_or_id: str) -> KnownOrganization | None:
        """By canonical id, or by slug (ASCII, any case); nothing else can name one."""
        organization_id = canonical_id(slug_or_id)
        if organization_id is not None:
            return await self._organizations.find_by_id(organization_id)
        slug = ascii_lower(slug_or_id)
        if not ORGANIZATION_SLUG.matches(slug):
            return None
        return await self._organizations.find_by_slug(slug)
