"""Reading grants (benefit_grants.proto): each with its benefit, whose type
and key its message carries. Grants are made by grants.py, never by a call."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from billingos_entitlements.models import Benefit, BenefitGrant
from billingos_entitlements.repository import (
    BenefitRepository,
    CustomerCopies,
    GrantFilter,
    GrantRepository,
)
from billingos_kit.grpc.scope import CallScope
from billingos_kit.pagination import Page, PageRequest


@dataclass(frozen=True)
class GrantView:
    grant: BenefitGrant
    benefit: Benefit


class BenefitGrantService:
    """Grants of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._grants = GrantRepository(scope)
        self._benefits = BenefitRepository(scope)
        self._customers = CustomerCopies(scope)

    async def get(self, grant_id: uuid.UUID) -> GrantView:
        grant = await self._grants.require(grant_id)
        [view] = await self._views([grant])
        return view

    async def customer_of_external_id(self, external_id: str) -> uuid.UUID | None:
        """The live customer the merchant knows by `external_id`, if any."""
        found = await self._customers.by_external_id(external_id)
        return found.id if found is not None else None

    async def list_page(self, where: GrantFilter, page: PageRequest) -> Page[GrantView]:
        """One page of grants, newest first; changes nothing."""
        found = await self._grants.page(where, page)
        return Page(await self._views(found.items), found.next_page_token)

    async def _views(self, grants: Sequence[BenefitGrant]) -> list[GrantView]:
        ids = sorted({grant.benefit_id for grant in grants})
        benefits = {b.id: b for b in await self._benefits.of_ids(ids, deleted_too=True)}
        return [GrantView(grant, benefits[grant.benefit_id]) for grant in grants]
