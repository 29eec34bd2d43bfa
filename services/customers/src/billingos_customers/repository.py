"""Every query of the customers service. Repositories never commit and hold no
business rules; each tenant query filters by organization.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billingos_customers.models import ApiKey, Customer, Organization


class OrganizationRepository:
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


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey) -> None:
        self._session.add(key)
        await self._session.flush()

    async def get(self, organization_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        found = await self._session.execute(
            select(ApiKey)
            .where(ApiKey.organization_id == organization_id, ApiKey.id == key_id)
            .with_for_update()
        )
        return found.scalar_one_or_none()

    async def find_active_by_hash(self, secret_hash: bytes) -> ApiKey | None:
        found = await self._session.execute(
            select(ApiKey).where(ApiKey.secret_hash == secret_hash, ApiKey.revoked_at.is_(None))
        )
        return found.scalar_one_or_none()

    async def list_page(
        self, organization_id: uuid.UUID, *, limit: int, before_id: uuid.UUID | None
    ) -> Sequence[ApiKey]:
        query = select(ApiKey).where(ApiKey.organization_id == organization_id)
        if before_id is not None:
            query = query.where(ApiKey.id < before_id)
        found = await self._session.execute(query.order_by(ApiKey.id.desc()).limit(limit))
        return found.scalars().all()


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, customer: Customer) -> None:
        self._session.add(customer)
        await self._session.flush()

    async def flush(self) -> None:
        await self._session.flush()

    async def get_live(
        self, organization_id: uuid.UUID, customer_id: uuid.UUID, *, for_update: bool = False
    ) -> Customer | None:
        query = select(Customer).where(
            Customer.organization_id == organization_id,
            Customer.id == customer_id,
            Customer.deleted_at.is_(None),
        )
        if for_update:
            query = query.with_for_update()
        found = await self._session.execute(query)
        return found.scalar_one_or_none()

    async def get_live_by_external_id(
        self, organization_id: uuid.UUID, external_id: str
    ) -> Customer | None:
        found = await self._session.execute(
            select(Customer).where(
                Customer.organization_id == organization_id,
                Customer.external_id == external_id,
                Customer.deleted_at.is_(None),
            )
        )
        return found.scalar_one_or_none()

    async def list_page(
        self,
        organization_id: uuid.UUID,
        *,
        limit: int,
        before_id: uuid.UUID | None,
        email: str | None,
        external_id: str | None,
    ) -> Sequence[Customer]:
        """Live customers, newest first (ids are UUIDv7, so id order is creation order)."""
        query = select(Customer).where(
            Customer.organization_id == organization_id, Customer.deleted_at.is_(None)
        )
        if email:
            query = query.where(func.lower(Customer.email) == email.lower())
        if external_id:
            query = query.where(Customer.external_id == external_id)
        if before_id is not None:
            query = query.where(Customer.id < before_id)
        found = await self._session.execute(query.order_by(Customer.id.desc()).limit(limit))
        return found.scalars().all()
