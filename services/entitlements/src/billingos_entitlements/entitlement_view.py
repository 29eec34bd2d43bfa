"""The entitlement view: what the check answers from, in this process's
memory, built from latest-state streams and kept current by them
(billingos_kit.follower) — benefits and grants from this context's own
stream, customers (their external ids) from the customers context's, meter
balances from metering's. No check reads the database.

How current: a grant, a benefit or a balance reaches the view when its event
is published (the relay is woken by the commit) and delivered (a pull that
returns as soon as a message is there): bench/README.md ("Entitlements")
measures the lag. On a cold start or a restart the view is rebuilt from
every latest state, and answers only once it has applied all of them
(`ready`). States are applied in stream order: one entity's states are on
one subject, in commit order; a state heard twice changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext

from billingos.common.v1 import event_pb2
from billingos.customers.v1 import customers_pb2
from billingos.customers.v1 import events_pb2 as customer_events
from billingos.entitlements.v1 import benefit_grants_pb2, benefits_pb2
from billingos.entitlements.v1 import events_pb2 as entitlement_events
from billingos.metering.v1 import customer_meters_pb2
from billingos.metering.v1 import events_pb2 as metering_events
from billingos_entitlements.vocabulary import BENEFIT_TYPES, BenefitType
from billingos_kit.follower import StateFollower
from billingos_kit.ids import canonical_id

Organization = uuid.UUID


@dataclass(frozen=True)
class BenefitEntry:
    id: uuid.UUID
    organization_id: uuid.UUID
    key: str
    type: BenefitType
    meter_id: uuid.UUID | None
    deleted: bool
    updated: dt.datetime


@dataclass(frozen=True)
class GrantEntry:
    id: uuid.UUID
    customer_id: uuid.UUID
    benefit_id: uuid.UUID
    granted: bool
    updated: dt.datetime


@dataclass(frozen=True)
class MeterEntry:
    consumed: str
    credited: str
    balance: str
    updated: dt.datetime


@dataclass(frozen=True)
class CustomerEntry:
    id: uuid.UUID
    external_id: str
    deleted: bool
    updated: dt.datetime


def _updated(message: object) -> dt.datetime:
    stamp = getattr(message, "update_time")  # noqa: B009 - every state has one
    moment: dt.datetime = stamp.ToDatetime(tzinfo=dt.UTC)
    return moment


class EntitlementView:
    """Benefits by key, granted benefits by customer, balances by customer
    and meter, customers by id and external id — per organization."""

    def __init__(self, max_staleness_seconds: float = 15.0) -> None:
        self.max_staleness_seconds = max_staleness_seconds
        self._benefits: dict[uuid.UUID, BenefitEntry] = {}
        self._keys: dict[tuple[Organization, str], uuid.UUID] = {}
        self._grants: dict[uuid.UUID, GrantEntry] = {}
        # (organization, customer) → benefit → ids of its granted grants
        self._granted: dict[tuple[Organization, uuid.UUID], dict[uuid.UUID, set[uuid.UUID]]] = {}
        self._meters: dict[tuple[Organization, uuid.UUID, uuid.UUID], MeterEntry] = {}
        self._customers: dict[tuple[Organization, uuid.UUID], CustomerEntry] = {}
        self._external: dict[tuple[Organization, str], uuid.UUID] = {}
        self.followers = [self._own(), self._customers_follower(), self._metering()]

    @property
    def ready(self) -> bool:
        return all(follower.ready.is_set() for follower in self.followers)

    async def wait_ready(self, seconds: float) -> bool:
        """Whether the view is ready, waiting up to `seconds` for it."""
        if self.ready:
            return True
        waits = [asyncio.ensure_future(f.ready.wait()) for f in self.followers]
        try:
            await asyncio.wait(waits, timeout=seconds)
        finally:
            for wait in waits:
                wait.cancel()
        return self.ready

    def staleness(self) -> float | None:
        """Seconds since every follower was last confirmed current; None
        until each first caught up."""
        confirmed = [follower.confirmed_at() for follower in self.followers]
        known = [moment for moment in confirmed if moment is not None]
        if len(known) < len(confirmed):
            return None
        return time.monotonic() - min(known)

    async def until_ready(self) -> None:
        """Returns once every follower has applied what its stream held."""
        for follower in self.followers:
            await follower.ready.wait()

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        await asyncio.gather(*(follower.run(js, stop) for follower in self.followers))

    # ---- reads ------------------------------------------------------------------

    def customer(self, organization_id: Organization, customer_id: uuid.UUID) -> bool:
        """Whether the organization has this live customer."""
        found = self._customers.get((organization_id, customer_id))
        return found is not None and not found.deleted

    def customer_by_external_id(
        self, organization_id: Organization, external_id: str
    ) -> uuid.UUID | None:
        return self._external.get((organization_id, external_id))

    def benefit(self, organization_id: Organization, key: str) -> BenefitEntry | None:
        """The organization's live benefit with this key."""
        benefit_id = self._keys.get((organization_id, key))
        found = self._benefits.get(benefit_id) if benefit_id is not None else None
        return found if found is not None and found.organization_id == organization_id else None

    def is_granted(
        self, organization_id: Organization, customer_id: uuid.UUID, benefit_id: uuid.UUID
    ) -> bool:
        return bool(self._granted.get((organization_id, customer_id), {}).get(benefit_id))

    def meter(
        self, organization_id: Organization, customer_id: uuid.UUID, meter_id: uuid.UUID
    ) -> MeterEntry | None:
        return self._meters.get((organization_id, customer_id, meter_id))

    def meters_of(
        self, organization_id: Organization, customer_id: uuid.UUID
    ) -> list[tuple[uuid.UUID, MeterEntry]]:
        return sorted(
            (meter_id, entry)
            for (org, customer, meter_id), entry in self._meters.items()
            if org == organization_id and customer == customer_id
        )

    # ---- following --------------------------------------------------------------

    def _own(self) -> StateFollower:
        follower = StateFollower("entitlements", "entitlement-view")
        for benefit_event in (
            entitlement_events.BenefitCreatedEvent,
            entitlement_events.BenefitUpdatedEvent,
            entitlement_events.BenefitDeletedEvent,
        ):
            follower.on(benefit_event, self._benefit_state)
        for grant_event in (
            entitlement_events.BenefitGrantGrantedEvent,
            entitlement_events.BenefitGrantRevokedEvent,
            entitlement_events.BenefitGrantUpdatedEvent,
        ):
            follower.on(grant_event, self._grant_state)
        return follower

    def _customers_follower(self) -> StateFollower:
        follower = StateFollower("customers", "entitlement-view-customers")
        for customer_event in (
            customer_events.CustomerCreatedEvent,
            customer_events.CustomerUpdatedEvent,
            customer_events.CustomerDeletedEvent,
        ):
            follower.on(customer_event, self._customer)
        return follower

    def _metering(self) -> StateFollower:
        follower = StateFollower("metering", "entitlement-view-meters")
        follower.on(
            metering_events.CustomerMeterUpdatedEvent,
            lambda envelope, data: self._meter(envelope, data.customer_meter),
        )
        return follower

    def _benefit_state(self, envelope: event_pb2.EventEnvelope, data: Any) -> None:
        self._benefit(envelope, data.benefit)

    def _grant_state(self, envelope: event_pb2.EventEnvelope, data: Any) -> None:
        self._grant(envelope, data.benefit_grant)

    def _benefit(self, envelope: event_pb2.EventEnvelope, message: benefits_pb2.Benefit) -> None:
        benefit_id = canonical_id(message.id)
        organization_id = canonical_id(envelope.organization_id)
        kind = BENEFIT_TYPES.from_proto(message.type)
        if benefit_id is None or organization_id is None or kind is None:
            return
        known = self._benefits.get(benefit_id)
        if known is not None and (known.deleted or known.organization_id != organization_id):
            return  # a deletion is final; an id stays its first organization's
        meter = (
            canonical_id(message.meter_credits.meter_id)
            if kind is BenefitType.METER_CREDITS
            else None
        )
        entry = BenefitEntry(
            benefit_id,
            organization_id,
            message.key,
            kind,
            meter,
            message.HasField("delete_time"),
            _updated(message),
        )
        self._benefits[benefit_id] = entry
        if entry.deleted:
            if self._keys.get((organization_id, entry.key)) == benefit_id:
                del self._keys[(organization_id, entry.key)]
        else:
            self._keys[(organization_id, entry.key)] = benefit_id

    def _grant(
        self, envelope: event_pb2.EventEnvelope, message: benefit_grants_pb2.BenefitGrant
    ) -> None:
        grant_id, customer_id, benefit_id = (
            canonical_id(v) for v in (message.id, message.customer_id, message.benefit_id)
        )
        organization_id = canonical_id(envelope.organization_id)
        if grant_id is None or customer_id is None or benefit_id is None or organization_id is None:
            return
        # Applied in stream order (one entity's states are on one subject, in
        # commit order), not by update_time: replicas' clocks may differ.
        key = (organization_id, customer_id)
        if message.is_granted:
            self._grants[grant_id] = GrantEntry(
                grant_id, customer_id, benefit_id, True, _updated(message)
            )
            self._granted.setdefault(key, {}).setdefault(benefit_id, set()).add(grant_id)
            return
        self._grants.pop(grant_id, None)
        granted = self._granted.get(key, {})
        holders = granted.get(benefit_id, set())
        holders.discard(grant_id)
        if not holders:
            granted.pop(benefit_id, None)
        if not granted:
            self._granted.pop(key, None)

    def _customer(
        self,
        envelope: event_pb2.EventEnvelope,
        data: Any,
    ) -> None:
        message: customers_pb2.Customer = data.customer
        customer_id, organization_id = (
            canonical_id(message.id),
            canonical_id(envelope.organization_id),
        )
        if customer_id is None or organization_id is None:
            return
        updated = _updated(message)
        known = self._customers.get((organization_id, customer_id))
        deleted = message.HasField("delete_time") or isinstance(
            data, customer_events.CustomerDeletedEvent
        )
        if (
            known is not None
            and self._external.get((organization_id, known.external_id)) == customer_id
        ):
            del self._external[(organization_id, known.external_id)]
        entry = CustomerEntry(customer_id, message.external_id, deleted, updated)
        self._customers[(organization_id, customer_id)] = entry
        if entry.external_id and not deleted:
            self._external[(organization_id, entry.external_id)] = customer_id

    def _meter(
        self, envelope: event_pb2.EventEnvelope, message: customer_meters_pb2.CustomerMeter
    ) -> None:
        customer_id, meter_id = canonical_id(message.customer_id), canonical_id(message.meter_id)
        organization_id = canonical_id(envelope.organization_id)
        if customer_id is None or meter_id is None or organization_id is None:
            return
        updated = _updated(message)
        key = (organization_id, customer_id, meter_id)
        self._meters[key] = MeterEntry(
            message.consumed_units, message.credited_units, message.balance, updated
        )
