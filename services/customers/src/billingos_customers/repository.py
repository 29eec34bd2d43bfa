"""Every query of the customers service (on the kit's TenantRepository).
Repositories never commit and hold no business rules; each tenant query
filters by organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billingos_customers.models import ApiKey, Customer, Organization
from billingos_kit.repository import TenantRepository
from billingos_kit.validation import ascii_lower


class OrganizationRepository:
    """Organizations are the tenants themselves: looked up across tenants."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, organization_id: uuid.UUID) -> Organization | None:
        return await self._session.get(Organization, organization_id)

    async def slug_taken(self, slug: str) -> bool:
        found = await self._session.execute(
            select(Organization.id).where(Organization.slug == slug)
        )
        return found.first() is not None

    async def add(self, organization: Organization) -> None:
        self._session.add(organization)
        await self._session.flush()


class ApiKeyRepository(TenantRepository[ApiKey]):
    model = ApiKey

    async def find_active_by_hash(self, secret_hash: bytes) -> ApiKey | None:
        """The key presented to the gateway, across organizations (it names one)."""
        found = await self._session.execute(
            select(ApiKey).where(ApiKey.secret_hash == secret_hash, ApiKey.revoked_at.is_(None))
        )
        return found.scalar_one_or_none()

    async def list_page(
        self, organization_id: uuid.UUID, *, limit: int, before_id: uuid.UUID | None
    ) -> Sequence[ApiKey]:
        return await self.page(self.scoped(organization_id), limit=limit, before_id=before_id)


class CustomerRepository(TenantRepository[Customer]):
    model = Customer

    async def get_live_by_external_id(
        self, organization_id: uuid.UUID, external_id: str
    ) -> Customer | None:
        query = self.scoped(organization_id).where(Customer.external_id == external_id)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def list_page(
        self,
        organization_id: uuid.UUID,
        *,
        limit: int,
        before_id: uuid.UUID | None,
        email: str | None,
        external_id: str | None,
    ) -> Sequence[Customer]:
        query = self.scoped(organization_id)
        if email:
            # ASCII folding on both sides (Postgres's C collation folds A-Z
            # only), so no lookalike character finds another address.
            query = query.where(func.lower(Customer.email.collate("C")) == ascii_lower(email))
        if external_id:
            query = query.where(Customer.external_id == external_id)
        return await self.page(query, limit=limit, before_id=before_id)
