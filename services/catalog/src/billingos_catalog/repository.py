"""Every query of the catalog service (on the kit's TenantRepository).
Repositories never commit and hold no business rules; each tenant query
filters by organization."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billingos_catalog.models import (
    Discount,
    DiscountRedemption,
    KnownCustomer,
    KnownOrganization,
    Price,
    Product,
)
from billingos_kit.repository import TenantRepository
from billingos_kit.validation import ascii_lower


class ProductRepository(TenantRepository[Product]):
    model = Product

    async def existing_ids(
        self, organization_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        found = await self._session.execute(
            select(Product.id).where(
                Product.organization_id == organization_id, Product.id.in_(product_ids)
            )
        )
        return set(found.scalars().all())

    async def list_page(
        self,
        organization_id: uuid.UUID,
        *,
        limit: int,
        before_id: uuid.UUID | None,
        archived: bool | None,
        recurring: bool | None,
        query_text: str | None,
    ) -> Sequence[Product]:
        query = self.scoped(organization_id)
        if archived is not None:
            query = query.where(
                Product.archived_at.is_not(None) if archived else Product.archived_at.is_(None)
            )
        if recurring is not None:
            query = query.where(
                Product.recurring_interval.is_not(None)
                if recurring
                else Product.recurring_interval.is_(None)
            )
        if query_text:
            escaped = query_text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Product.name.ilike(f"%{escaped}%", escape="\\"))
        return await self.page(query, limit=limit, before_id=before_id)


class PriceRepository(TenantRepository[Price]):
    model = Price

    async def active_by_product(
        self, organization_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Price]]:
        """Active prices of several products in one query, oldest first."""
        if not product_ids:
            return {}
        found = await self._session.execute(
            self.scoped(organization_id)
            .where(Price.product_id.in_(product_ids), Price.archived_at.is_(None))
            .order_by(Price.id)
        )
        grouped: dict[uuid.UUID, list[Price]] = defaultdict(list)
        for price in found.scalars().all():
            grouped[price.product_id].append(price)
        return grouped

    async def list_page(
        self,
        organization_id: uuid.UUID,
        product_id: uuid.UUID,
        *,
        limit: int,
        before_id: uuid.UUID | None,
        archived: bool | None,
    ) -> Sequence[Price]:
        query = self.scoped(organization_id).where(Price.product_id == product_id)
        if archived is not None:
            query = query.where(
                Price.archived_at.is_not(None) if archived else Price.archived_at.is_(None)
            )
        return await self.page(query, limit=limit, before_id=before_id)


class DiscountRepository(TenantRepository[Discount]):
    model = Discount

    async def get_live_by_code(self, organization_id: uuid.UUID, code: str) -> Discount | None:
        query = self.scoped(organization_id).where(func.lower(Discount.code) == ascii_lower(code))
        return (await self._session.execute(query)).scalar_one_or_none()

    async def list_page(
        self,
        organization_id: uuid.UUID,
        *,
        limit: int,
        before_id: uuid.UUID | None,
        code: str | None,
    ) -> Sequence[Discount]:
        query = self.scoped(organization_id)
        if code:
            query = query.where(func.lower(Discount.code) == ascii_lower(code))
        return await self.page(query, limit=limit, before_id=before_id)

    async def redemption_for(
        self, organization_id: uuid.UUID, discount_id: uuid.UUID, reference: str
    ) -> DiscountRedemption | None:
        found = await self._session.execute(
            select(DiscountRedemption).where(
                DiscountRedemption.organization_id == organization_id,
                DiscountRedemption.discount_id == discount_id,
                DiscountRedemption.reference == reference,
            )
        )
        return found.scalar_one_or_none()

    async def add_redemption(self, redemption: DiscountRedemption) -> None:
        self._session.add(redemption)
        await self._session.flush()


class CustomerDirectory:
    """The read copy of customers: who exists, in which organization."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remember(self, customer_id: uuid.UUID, organization_id: uuid.UUID) -> None:
        statement = insert(KnownCustomer).values(
            id=customer_id, organization_id=organization_id, deleted_at=None
        )
        # A deletion handled before its creation (a redelivery) stays deleted.
        await self._session.execute(statement.on_conflict_do_nothing())

    async def forget(
        self, customer_id: uuid.UUID, organization_id: uuid.UUID, deleted_at: dt.datetime
    ) -> None:
        statement = insert(KnownCustomer).values(
            id=customer_id, organization_id=organization_id, deleted_at=deleted_at
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[KnownCustomer.id], set_={"deleted_at": deleted_at}
            )
        )

    async def is_live(self, organization_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
        found = await self._session.execute(
            select(KnownCustomer.id).where(
                KnownCustomer.id == customer_id,
                KnownCustomer.organization_id == organization_id,
                KnownCustomer.deleted_at.is_(None),
            )
        )
        return found.first() is not None


class OrganizationDirectory:
    """The read copy of organizations, for public pages."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remember(self, organization_id: uuid.UUID, slug: str, name: str) -> None:
        statement = insert(KnownOrganization).values(id=organization_id, slug=slug, name=name)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[KnownOrganization.id],
                set_={"slug": statement.excluded.slug, "name": statement.excluded.name},
            )
        )

    async def find_by_id(self, organization_id: uuid.UUID) -> KnownOrganization | None:
        return await self._session.get(KnownOrganization, organization_id)

    async def find_by_slug(self, slug: str) -> KnownOrganization | None:
        query = select(KnownOrganization).where(KnownOrganization.slug == slug)
        return (await self._session.execute(query)).scalar_one_or_none()
