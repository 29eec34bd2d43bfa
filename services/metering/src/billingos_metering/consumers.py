"""What metering hears from the customers context: every customer's latest
state (its state stream, so customers made before metering started are
learnt too), kept as the read copy events are resolved with. A customer
that takes an external id claims the events sent with it while no customer
had it: they count for it from then on, once (the store moves them to a new
watermark, so balances and billing see them as new).

Idempotent under redelivery and reordering: an older state than the one
applied is ignored, a deletion is final, and claiming events twice finds
none the second time."""

from __future__ import annotations

import datetime as dt
import logging

from billingos.customers.v1 import customers_pb2
from billingos.customers.v1 import events_pb2 as customer_events
from billingos_kit.clock import Clock
from billingos_kit.consumer import EventConsumer, EventScope
from billingos_kit.db import Database
from billingos_kit.ids import canonical_id
from billingos_metering.customers import KnownCustomers
from billingos_metering.models import KnownCustomer, kit_tables
from billingos_metering.store import EventStore

log = logging.getLogger(__name__)

SOURCE = "metering"
CUSTOMERS_CONSUMER = "metering-customers"


def _copy_of(
    customer: customers_pb2.Customer, scope: EventScope, *, deleted: bool
) -> KnownCustomer | None:
    customer_id = canonical_id(customer.id)
    if customer_id is None:
        log.warning(
            "ignoring a customer event without a customer id",
            extra={"event_id": scope.envelope.event_id},
        )
        return None
    now = scope.clock.now()
    deleted_at: dt.datetime | None = None
    if customer.HasField("delete_time"):
        deleted_at = customer.delete_time.ToDatetime(tzinfo=dt.UTC)
    elif deleted:
        deleted_at = now
    updated = (
        customer.update_time.ToDatetime(tzinfo=dt.UTC) if customer.HasField("update_time") else now
    )
    return KnownCustomer(
        id=customer_id,
        organization_id=scope.organization_id,
        external_id=customer.external_id or None,
        deleted_at=deleted_at,
        source_updated_at=updated,
        created_at=now,
        updated_at=now,
    )


def customer_copy(
    database: Database, clock: Clock, store: EventStore, name: str = CUSTOMERS_CONSUMER
) -> EventConsumer:
    async def learn(scope: EventScope, customer: customers_pb2.Customer, *, deleted: bool) -> None:
        copy = _copy_of(customer, scope, deleted=deleted)
        if copy is None:
            return
        known = KnownCustomers(scope)
        claims = copy.external_id is not None and copy.deleted_at is None
        if claims:
            await known.hold_external_ids(exclusive=True)
        remembered = await known.remember(copy)
        if not remembered.applied or not claims:
            return  # an older state, or no external id to claim events by
        if remembered.previous_external_id == copy.external_id:
            return
        assert copy.external_id is not None
        claimed = await store.resolve_customer(scope, copy.external_id, copy.id)
        if claimed:
            log.info(
                "events sent before their customer existed now count for it",
                extra={"customer_id": str(copy.id), "events": claimed},
            )

    async def created(
        scope: EventScope,
        data: customer_events.CustomerCreatedEvent | customer_events.CustomerUpdatedEvent,
    ) -> None:
        await learn(scope, data.customer, deleted=False)

    async def deleted(scope: EventScope, data: customer_events.CustomerDeletedEvent) -> None:
        await learn(scope, data.customer, deleted=True)

    consumer = EventConsumer.of_state(name, database, kit_tables, clock, SOURCE)
    consumer.on(customer_events.CustomerCreatedEvent, created)
    consumer.on(customer_events.CustomerUpdatedEvent, created)
    consumer.on(customer_events.CustomerDeletedEvent, deleted)
    return consumer
