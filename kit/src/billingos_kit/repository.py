"""The base every repository builds on: tenant-scoped reads by id, soft
deletion, keyset pages. Repositories query; they never commit and hold no
business rules (the call's single transaction belongs to the pipeline)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

Row = TypeVar("Row")


class TenantRepository(Generic[Row]):
    """Rows with `id` (UUIDv7) and `organization_id` columns; rows with a
    `deleted_at` column are soft-deleted and hidden from `get`."""

    model: ClassVar[Any]

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, *rows: Row) -> None:
        """Inserts now (flush), so constraint violations surface in the call."""
        self._session.add_all(rows)
        await self._session.flush()

    async def flush(self) -> None:
        await self._session.flush()

    async def get(
        self, organization_id: uuid.UUID, row_id: uuid.UUID, *, for_update: bool = False
    ) -> Row | None:
        """The organization's row by id (a live one, where rows are soft-deleted)."""
        query = self.scoped(organization_id).where(self.model.id == row_id)
        if for_update:
            query = query.with_for_update()
        found: Row | None = (await self._session.execute(query)).scalar_one_or_none()
        return found

    def scoped(self, organization_id: uuid.UUID) -> Select[Row]:
        """All of the organization's (live) rows, to narrow further."""
        query: Select[Row] = select(self.model).where(self.model.organization_id == organization_id)
        if hasattr(self.model, "deleted_at"):
            query = query.where(self.model.deleted_at.is_(None))
        return query

    async def page(
        self, query: Select[Row], *, limit: int, before_id: uuid.UUID | None
    ) -> Sequence[Row]:
        """One keyset page, newest first (ids are UUIDv7: id order is creation order)."""
        if before_id is not None:
            query = query.where(self.model.id < before_id)
        found = await self._session.execute(query.order_by(self.model.id.desc()).limit(limit))
        return found.scalars().all()
