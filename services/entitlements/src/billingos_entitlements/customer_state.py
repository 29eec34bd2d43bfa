"""A customer's state (customer_state.proto) in one read: its live
subscriptions (the engine's, as this context's copy has them), its granted
benefits, and its meter balances (from the entitlement view)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from billingos_entitlements.benefit_grants import GrantView
from billingos_entitlements.entitlement_view import EntitlementView, MeterEntry
from billingos_entitlements.entitlements import current_view
from billingos_entitlements.models import CustomerCopy, GrantSourceCopy
from billingos_entitlements.repository import (
    BenefitRepository,
    CustomerCopies,
    GrantRepository,
    GrantSourceCopies,
)
from billingos_entitlements.vocabulary import GrantSource
from billingos_kit.grpc.scope import CallScope


@dataclass(frozen=True)
class CustomerState:
    customer: CustomerCopy
    subscriptions: list[GrantSourceCopy]
    grants: list[GrantView]
    meters: list[tuple[uuid.UUID, MeterEntry]]


class CustomerStates:
    def __init__(self, scope: CallScope, view: EntitlementView) -> None:
        self._scope = scope
        self._view = view
        self._customers = CustomerCopies(scope)
        self._sources = GrantSourceCopies(scope)
        self._grants = GrantRepository(scope)
        self._benefits = BenefitRepository(scope)

    async def of(self, customer_id: uuid.UUID) -> CustomerState:
        """The state of a live customer of the organization (NotFound else,
        also for one heard of a moment ago whose event is still on its way)."""
        await current_view(self._view)
        customer = await self._customers.require(customer_id)
        subscriptions = [
            source
            for source in await self._sources.live_of_customer(customer_id)
            if source.kind == GrantSource.SUBSCRIPTION.value
        ]
        grants = await self._grants.granted_of_customer(customer_id)
        ids = sorted({grant.benefit_id for grant in grants})
        benefits = {b.id: b for b in await self._benefits.of_ids(ids, deleted_too=True)}
        return CustomerState(
            customer,
            subscriptions,
            [GrantView(grant, benefits[grant.benefit_id]) for grant in grants],
            self._view.meters_of(self._scope.organization_id, customer_id),
        )
