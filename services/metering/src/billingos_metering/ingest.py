"""Usage event ingest: a batch checked whole (ingest_rules.py), its
customers resolved, its repeats dropped, stored in one statement. All or
nothing: a batch with one bad event, or naming a customer the organization
does not have, stores nothing. Retrying a batch (after a timeout, say)
stores nothing twice: repeats are found by `external_id`, forever, and the
call's Idempotency-Key answers a replay with the first answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from billingos.metering.v1 import usage_events_pb2
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.errors import FieldViolation, ValidationFailed
from billingos_kit.grpc.scope import CallScope
from billingos_metering.customers import KnownCustomers, confirm_customers
from billingos_metering.ingest_rules import IngestLimits, check_events
from billingos_metering.store import EventStore, NewEvent


@dataclass(frozen=True)
class Ingested:
    inserted: int
    duplicates: int


class IngestService:
    def __init__(
        self,
        scope: CallScope,
        store: EventStore,
        directory: CustomerDirectory,
        limits: IngestLimits,
    ) -> None:
        self._scope = scope
        self._store = store
        self._directory = directory
        self._limits = limits

    async def ingest(self, events: Sequence[usage_events_pb2.UsageEventInput]) -> Ingested:
        checked = check_events(events, self._limits, self._scope.clock)
        resolved = await self._resolve(checked)
        unique, repeats = _first_of_each(resolved)
        inserted = await self._store.insert(self._scope, unique, self._scope.clock.now())
        return Ingested(inserted, repeats + len(unique) - inserted)

    async def _resolve(self, checked: list[NewEvent]) -> list[NewEvent]:
        """Each event's customer: named by id, it must be a live customer of
        the organization; named by external id, it is that customer if one
        has it, or none yet (the event waits for it). The copy is held
        (shared) first, before any of its rows is read or written: the
        customer copy takes the same lock, exclusively, and then rows."""
        known = KnownCustomers(self._scope)
        external = {e.external_customer_id for e in checked if e.external_customer_id is not None}
        if external:
            await known.hold_external_ids(exclusive=False)
        by_id = {event.customer_id for event in checked if event.customer_id is not None}
        live: set[uuid.UUID] = set()
        if by_id:
            live = await confirm_customers(
                self._scope, self._directory, by_id, self._scope.clock.now()
            )
        missing = [
            FieldViolation(f"events[{index}].customer_id", "no such customer")
            for index, event in enumerate(checked)
            if event.customer_id is not None and event.customer_id not in live
        ]
        if missing:
            raise ValidationFailed(missing)
        if external:
            owners = await known.by_external_ids(external)
            if owners:
                for event in checked:
                    if event.customer_id is None and event.external_customer_id in owners:
                        event.customer_id = owners[event.external_customer_id]
        return checked


def _first_of_each(events: list[NewEvent]) -> tuple[list[NewEvent], int]:
    """The batch without repeats of an `external_id` within it (the first
    is kept), and how many were dropped."""
    seen: set[str] = set()
    unique: list[NewEvent] = []
    for event in events:
        if event.external_id is not None:
            if event.external_id in seen:
                continue
            seen.add(event.external_id)
        unique.append(event)
    return unique, len(events) - len(unique)
