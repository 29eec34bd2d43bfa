"""The customer portal's benefits and license keys (customer_portal.proto):
each bounded by the customer session's customer, which the kit puts in the
call's scope from the token; a request has no field to name another, and
another customer's key or activation is NOT_FOUND, as another
organization's is.

License keys are stored as the customer types them (license_keys.py), so
the portal shows the key itself, with its status, its activations and its
limit, revoked and expired keys too (a revoked key is valid again if its
grant is). Ending an activation is the merchant's `deactivate`, by the
key's id, under the key's row lock as every activation change is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from billingos_entitlements.benefit_grants import BenefitGrantService, GrantView
from billingos_entitlements.license_keys import KeyView, LicenseKeyService, key_status
from billingos_entitlements.models import Benefit, LicenseKeyActivation
from billingos_entitlements.repository import (
    ActivationFilter,
    BenefitRepository,
    GrantFilter,
    LicenseKeyFilter,
)
from billingos_entitlements.vocabulary import KeyStatus
from billingos_kit.errors import NotFound
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


@dataclass(frozen=True)
class PortalKeyView:
    """A key as the portal shows it: its counts, whether it validates now
    and the benefit that made it."""

    view: KeyView
    status: KeyStatus
    benefit: Benefit


class PortalLicenseKeys:
    """The session's customer's license keys."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._customer_id = scope.portal_customer_id
        self._keys = LicenseKeyService(scope)
        self._benefits = BenefitRepository(scope)

    async def list_page(self, page_size: int, page_token: str) -> Page[PortalKeyView]:
        """One page of the customer's keys, newest first; changes nothing."""
        where = LicenseKeyFilter(customer_id=self._customer_id)
        found = await self._keys.list_page(where, page_request(page_size, page_token, where))
        return Page(await self._shown(list(found.items)), found.next_page_token)

    async def get(self, key_id: uuid.UUID) -> PortalKeyView:
        [shown] = await self._shown([await self._own(key_id)])
        return shown

    async def activations_page(
        self, key_id: uuid.UUID, page_size: int, page_token: str
    ) -> Page[LicenseKeyActivation]:
        """One page of the key's active activations, newest first."""
        await self._own(key_id)
        where = ActivationFilter(license_key_id=key_id, active=True)
        return await self._keys.activations_page(where, page_request(page_size, page_token, where))

    async def deactivate(self, key_id: uuid.UUID, activation_id: uuid.UUID) -> PortalKeyView:
        """Ends one of the key's activations; ending it twice is once."""
        view = await self._keys.deactivate_of_customer(key_id, self._customer_id, activation_id)
        [shown] = await self._shown([view])
        return shown

    async def _own(self, key_id: uuid.UUID) -> KeyView:
        view = await self._keys.get(key_id)
        if view.key.customer_id != self._customer_id:
            raise NotFound("license_key", str(key_id))
        return view

    async def _shown(self, views: list[KeyView]) -> list[PortalKeyView]:
        # A deleted benefit's keys are revoked; its description still says
        # what they were for.
        ids = sorted({v.key.benefit_id for v in views})
        benefits = {b.id: b for b in await self._benefits.of_ids(ids, deleted_too=True)}
        now = self._scope.clock.now()
        return [PortalKeyView(v, key_status(v.key, now), benefits[v.key.benefit_id]) for v in views]
