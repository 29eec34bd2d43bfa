"""The public catalog (public.proto): an organization's products that are not
archived, with their active prices, for pricing tables and checkout pages. No
API key and no organization of the call: the organization is found by slug
or id in the read copy the customers context's events fill; nothing private
is returned (no metadata, no archived items)."""

from __future__ import annotations

from billingos_catalog.models import KnownOrganization
from billingos_catalog.products import with_prices
from billingos_catalog.repository import (
    KnownOrganizations,
    PriceRepository,
    ProductFilter,
    ProductRepository,
)
from billingos_catalog.views import ProductView
from billingos_kit.errors import InvalidArgument
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import canonical_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.validation import ORGANIZATION_SLUG, ascii_lower

# What public pages list: never an archived product.
PUBLIC_PRODUCTS = ProductFilter(archived=False)


class PublicCatalog:
    """Reads across organizations, each read bound to the organization found."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._organizations = KnownOrganizations(scope)

    async def products(self, organization: str, page: PageRequest) -> Page[ProductView]:
        """One page of the organization's active products, newest first.
        Changes nothing; NotFound for an organization the catalog does not know."""
        if not organization.strip():
            raise InvalidArgument("organization", "give the organization's slug or id")
        found = await self._find(organization)
        if found is None:
            raise self._organizations.not_found(organization)
        listed = await ProductRepository(self._scope, found.id).page(PUBLIC_PRODUCTS, page)
        prices = PriceRepository(self._scope, found.id)
        return Page(await with_prices(prices, listed.items), listed.next_page_token)

    async def _find(self, slug_or_id: str) -> KnownOrganization | None:
        """By canonical id, or by slug (ASCII, any case); nothing else can name one."""
        organization_id = canonical_id(slug_or_id)
        if organization_id is not None:
            return await self._organizations.get(organization_id)
        slug = ascii_lower(slug_or_id)
        if not ORGANIZATION_SLUG.matches(slug):
            return None
        return await self._organizations.get_by_slug(slug)
