"""Grants: what each subscription or one-time order grants, kept equal to
what it should grant now. A source (the read copy of a subscription or
order) grants every live benefit of its product while it is live, and
nothing once it is not; `reconcile` makes the grants so, whatever order the
events that changed the source, its product or a benefit arrived in, and
however often: each step compares with what is there and changes only the
difference, so a redelivery changes nothing. A seat of a subscription
(its member, a customer of the organization) is granted what the
subscription grants while the member holds it. A grant exists once per
(source, member, benefit); revoked, it stays, and is granted again if the
source grants the benefit again (a product regains it, an ended-then-bought
purchase cannot: an ended source is final, grant_sources' rule).

Every change is announced (`benefit_grant.granted/revoked/updated`) in the
transaction that makes it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from billingos_entitlements import credits, events, license_keys
from billingos_entitlements.models import NO_MEMBER, Benefit, BenefitGrant, GrantSourceCopy
from billingos_entitlements.repository import (
    BenefitRepository,
    GrantRepository,
    GrantSourceCopies,
    ProductCopies,
    SeatCopies,
)
from billingos_entitlements.vocabulary import BenefitType, GrantSource
from billingos_kit.clock import Clock
from billingos_kit.db import Connection
from billingos_kit.ids import new_id
from billingos_kit.outbox import Outbox


class GrantScope(Protocol):
    """What granting needs: a call's scope or an event handler's."""

    @property
    def organization_id(self) -> uuid.UUID: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def outbox(self) -> Outbox: ...

    async def connection(self) -> Connection: ...


def grant_properties(benefit: Benefit) -> dict[str, Any]:
    """What a grant of the benefit carries, from the benefit as it is now."""
    kind = BenefitType(benefit.type)
    if kind is BenefitType.CUSTOM:
        return {
            "properties": dict(benefit.properties.get("properties", {})),
            "note": benefit.properties.get("note", ""),
        }
    if kind is BenefitType.METER_CREDITS:
        return {
            "meter_id": benefit.properties["meter_id"],
            "units": benefit.properties["units"],
        }
    return {}


@dataclass(frozen=True)
class Holder:
    """Who a grant is for: the source's customer (no member), or a seat's
    member, a customer of the organization in their own right."""

    customer_id: uuid.UUID
    member_id: uuid.UUID


class Grants:
    """Grants of the scope's organization."""

    def __init__(self, scope: GrantScope) -> None:
        self._scope = scope
        self._grants = GrantRepository(scope)
        self._benefits = BenefitRepository(scope)
        self._products = ProductCopies(scope)
        self._sources = GrantSourceCopies(scope)
        self._seats = SeatCopies(scope)

    async def reconcile(self, source: GrantSourceCopy, at: dt.datetime) -> None:
        """Makes the source's grants — its customer's own, and each seat
        member's — what it grants now; `at` is when the change happened (the
        source's or the seat's own time, a test clock's on one). The caller
        holds the product's lock, or the source's (a seat's change), and
        then the source's row lock (its upsert, or live_of_product): one
        source is reconciled by one transaction at a time, and never while
        its product's benefit list changes. Its benefits are held shared, so
        a deletion waits for the grants made from them and then revokes them."""
        wanted: list[uuid.UUID] = []
        if source.live:
            product = await self._products.get(source.product_id)
            if product is not None:
                wanted = list(dict.fromkeys(product.benefit_ids))
        members = await self._members_of(source)
        # Benefits first, then grants: the order a deletion takes them in
        # (benefit, then its grants), so the two cannot wait on each other.
        # The grants' benefits cannot change meanwhile: the source's lock
        # keeps other reconciles out, and a deletion only revokes.
        unlocked = await self._grants.of_source(source.id, locked=False)
        named = set(wanted) | {grant.benefit_id for grant in unlocked}
        benefits = {
            b.id: b
            for b in await self._benefits.of_ids(sorted(named), deleted_too=True, shared=True)
        }
        held: dict[uuid.UUID, dict[uuid.UUID, BenefitGrant]] = {}
        for grant in await self._grants.of_source(source.id, locked=True):
            held.setdefault(grant.member_id, {})[grant.benefit_id] = grant
        holders = {NO_MEMBER: source.customer_id}
        for member_id in sorted(set(members) | (held.keys() - {NO_MEMBER})):
            holders[member_id] = member_id
        for member_id, customer_id in holders.items():
            holding = member_id == NO_MEMBER or members.get(member_id, False)
            existing = held.setdefault(member_id, {})
            await self._follow(
                source,
                Holder(customer_id, member_id),
                wanted if holding else [],
                existing,
                benefits,
                at,
            )
            await self._credit(source, list(existing.values()), benefits)

    async def _members_of(self, source: GrantSourceCopy) -> dict[uuid.UUID, bool]:
        """Each member with a seat of the source (ever): whether they hold
        one now."""
        if source.kind != GrantSource.SUBSCRIPTION.value:
            return {}
        found: dict[uuid.UUID, bool] = {}
        for seat in await self._seats.of_subscription(source.id):
            found[seat.member_customer_id] = found.get(seat.member_customer_id, False) or seat.live
        return found

    async def _follow(
        self,
        source: GrantSourceCopy,
        holder: Holder,
        wanted: list[uuid.UUID],
        existing: dict[uuid.UUID, BenefitGrant],
        benefits: dict[uuid.UUID, Benefit],
        at: dt.datetime,
    ) -> None:
        """Makes one holder's grants of the source the wanted benefits."""
        for benefit_id in wanted:
            benefit = benefits.get(benefit_id)
            if benefit is None or benefit.deleted_at is not None:
                continue  # not (or no longer) a benefit: nothing to grant
            grant = existing.get(benefit_id)
            if grant is None:
                existing[benefit_id] = await self._grant_new(source, holder, benefit, at)
            elif not grant.is_granted:
                await self._regrant(grant, benefit, at)
        for benefit_id, grant in existing.items():
            benefit = benefits.get(benefit_id)
            keep = benefit is not None and benefit.deleted_at is None and benefit_id in wanted
            if grant.is_granted and not keep and benefit is not None:
                await self._revoke(grant, benefit, at)

    async def _credit(
        self,
        source: GrantSourceCopy,
        grants: list[BenefitGrant],
        benefits: dict[uuid.UUID, Benefit],
    ) -> None:
        """Each granted meter-credits grant's credit for the source's current
        period (a new grant's first, a renewal's next), recorded once."""
        if not source.live:
            return
        for grant in grants:
            benefit = benefits.get(grant.benefit_id)
            if (
                grant.is_granted
                and benefit is not None
                and BenefitType(benefit.type) is BenefitType.METER_CREDITS
            ):
                renewal = str(benefit.properties.get("renewal", "reset"))
                await credits.request(self._scope, self._scope.clock, grant, source, renewal)

    async def product_changed(self, product_id: uuid.UUID, at: dt.datetime) -> None:
        """The product's benefit list changed: every source that grants it now
        follows."""
        for source in await self._sources.live_of_product(product_id):
            await self.reconcile(source, at)

    async def benefit_changed(self, benefit: Benefit) -> None:
        """What granted grants carry follows the benefit (a custom benefit's
        properties and note); a meter credit's new units apply from the next
        period credited."""
        carried = grant_properties(benefit)
        now = self._scope.clock.now()
        for grant in await self._grants.granted_of_benefit(benefit.id):
            merged = {**grant.properties, **carried}
            if merged == grant.properties:
                continue
            grant.properties = merged
            grant.updated_at = now
            await self._grants.update(grant, ["properties", "updated_at"])
            await self._scope.outbox.add(events.grant_updated(grant, benefit))

    async def benefit_deleted(self, benefit: Benefit, at: dt.datetime) -> None:
        """Revokes every grant of the deleted benefit."""
        for grant in await self._grants.granted_of_benefit(benefit.id):
            await self._revoke(grant, benefit, at)

    async def _grant_new(
        self, source: GrantSourceCopy, holder: Holder, benefit: Benefit, at: dt.datetime
    ) -> BenefitGrant:
        now = self._scope.clock.now()
        grant = BenefitGrant(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            customer_id=holder.customer_id,
            member_id=holder.member_id,
            benefit_id=benefit.id,
            source=source.kind,
            source_id=source.id,
            product_id=source.product_id,
            granted_at=at,
            revoked_at=None,
            properties=grant_properties(benefit),
            created_at=now,
            updated_at=now,
        )
        await self._with_key(grant, benefit)
        await self._grants.insert(grant)
        await self._scope.outbox.add(events.grant_granted(grant, benefit))
        return grant

    async def _with_key(self, grant: BenefitGrant, benefit: Benefit) -> None:
        """A license-keys grant carries its key (made now, or valid again)."""
        if BenefitType(benefit.type) is BenefitType.LICENSE_KEYS:
            key = await license_keys.issue(self._scope, grant, benefit)
            grant.properties = {
                **grant.properties,
                "license_key_id": str(key.id),
                "key": key.key,
            }

    async def _regrant(self, grant: BenefitGrant, benefit: Benefit, at: dt.datetime) -> None:
        grant.granted_at, grant.revoked_at = at, None
        grant.properties = {**grant.properties, **grant_properties(benefit)}
        await self._with_key(grant, benefit)
        grant.updated_at = self._scope.clock.now()
        await self._grants.update(grant, ["granted_at", "revoked_at", "properties", "updated_at"])
        await self._scope.outbox.add(events.grant_granted(grant, benefit))

    async def _revoke(self, grant: BenefitGrant, benefit: Benefit, at: dt.datetime) -> None:
        # Never before it was granted (a deletion on the real clock of a grant
        # made on a test clock's later time).
        grant.revoked_at = max(at, grant.granted_at)
        if BenefitType(benefit.type) is BenefitType.LICENSE_KEYS:
            await license_keys.revoke(self._scope, grant)
        grant.updated_at = self._scope.clock.now()
        await self._grants.update(grant, ["revoked_at", "updated_at"])
        await self._scope.outbox.add(events.grant_revoked(grant, benefit))
