"""The customers read copy: who exists and under which external id, so an
event names its customer by either id. Built from the customers context's
state stream (consumers.py); a customer named by id that the copy does not
know yet is asked of the customers service once, then remembered."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from billingos.customers.v1 import customers_pb2
from billingos_kit.customer_directory import CustomerDirectory, updated_at_of
from billingos_kit.errors import Unavailable
from billingos_kit.repository import DataScope, TenantRepository
from billingos_metering.models import KnownCustomer, customers


class KnownCustomers(TenantRepository[KnownCustomer]):
    table = customers
    row_type = KnownCustomer
    resource = "customer"

    async def live_ids(self, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        connection = await self.connection()
        rows = await connection.fetch(
            "SELECT id FROM metering.customers WHERE organization_id = $1 AND id = ANY($2::uuid[])"
            " AND deleted_at IS NULL",
            self.organization_id,
            list(ids),
        )
        return {row[0] for row in rows}

    async def by_external_ids(self, external_ids: Collection[str]) -> dict[str, uuid.UUID]:
        """The live customer of each external id the copy knows."""
        connection = await self.connection()
        rows = await connection.fetch(
            "SELECT external_id, id FROM metering.customers WHERE organization_id = $1"
            " AND external_id = ANY($2::text[]) AND deleted_at IS NULL ORDER BY created_at",
            self.organization_id,
            list(external_ids),
        )
        return {row[0]: row[1] for row in rows}

    async def hold_external_ids(self, *, exclusive: bool) -> None:
        """Orders ingest and the copy's updates for one organization: ingest
        holds this (shared) from reading the copy to its commit, a customer
        taking an external id holds it exclusively while it claims the
        events waiting for that id. Without it an event read as "no customer
        yet" could commit just after the claim ran, and wait for ever."""
        connection = await self.connection()
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await connection.execute(
            f"SELECT {lock}(hashtext('metering.customers:' || $1::text))",
            str(self.organization_id),
        )

    async def remember(self, customer: KnownCustomer) -> Remembered:
        """Applies a customer's state unless a newer one was applied."""
        connection = await self.connection()
        before = await connection.fetchrow(
            "SELECT external_id, source_updated_at FROM metering.customers"
            " WHERE id = $1 AND organization_id = $2 FOR UPDATE",
            customer.id,
            self.organization_id,
        )
        if before is not None and before["source_updated_at"] > customer.source_updated_at:
            return Remembered(applied=False, previous_external_id=before["external_id"])
        await connection.execute(
            """
            INSERT INTO metering.customers (id, organization_id, external_id, deleted_at,
                                            source_updated_at, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $6)
            ON CONFLICT (id) DO UPDATE SET
                external_id = excluded.external_id,
                deleted_at = coalesce(metering.customers.deleted_at, excluded.deleted_at),
                source_updated_at = excluded.source_updated_at,
                updated_at = excluded.updated_at
            WHERE metering.customers.organization_id = excluded.organization_id
              AND metering.customers.source_updated_at <= excluded.source_updated_at
            """,
            customer.id,
            customer.organization_id,
            customer.external_id,
            customer.deleted_at,
            customer.source_updated_at,
            customer.updated_at,
        )
        return Remembered(
            applied=True, previous_external_id=None if before is None else before["external_id"]
        )

    async def learn(self, customer: KnownCustomer) -> None:
        """Adds a customer learnt from the customers service, unless the copy
        has it already. Never over it: such a customer is learnt without its
        external id, and its own event, applied meanwhile with the same
        update time, holds the external id (overwriting it would leave every
        event sent by that external id waiting for a customer for ever)."""
        connection = await self.connection()
        await connection.execute(
            """
            INSERT INTO metering.customers (id, organization_id, external_id, deleted_at,
                                            source_updated_at, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $6)
            ON CONFLICT (id) DO NOTHING
            """,
            customer.id,
            customer.organization_id,
            customer.external_id,
            customer.deleted_at,
            customer.source_updated_at,
            customer.updated_at,
        )


@dataclass(frozen=True)
class Remembered:
    """What applying a customer's state did: whether it was applied (not
    older than the one kept), and the external id the copy had before."""

    applied: bool
    previous_external_id: str | None


# A request naming customers the read copy does not know asks the customers
# service about at most this many (a few at a time); the rest are unknown
# until their events arrive (a second, usually). The customers service also
# checks every API key: one request must not flood it.
MAX_LOOKUPS = 20
LOOKUP_CONCURRENCY = 4


async def confirm_customers(
    scope: DataScope,
    directory: CustomerDirectory,
    ids: Collection[uuid.UUID],
    now: dt.datetime,
) -> set[uuid.UUID]:
    """Which of `ids` are live customers of the organization: the read copy's
    answer, and for the rest the customers service's (remembered), asking it
    about at most MAX_LOOKUPS of them; the rest raise CustomersNotKnownYet
    (retryable: their events reach the copy within a second or so)."""
    known = KnownCustomers(scope)
    live = await known.live_ids(ids)
    unknown = sorted(set(ids) - live)
    if not unknown:
        return live
    if len(unknown) > MAX_LOOKUPS:
        raise Unavailable(
            f"{len(unknown)} of the customers named are not known to metering yet"
            f" (at most {MAX_LOOKUPS} are looked up per request); retry in a moment",
            reason="CUSTOMERS_NOT_KNOWN_YET",
        )
    gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def ask(customer_id: uuid.UUID) -> customers_pb2.Customer | None:
        async with gate:
            return await directory.find(scope.organization_id, customer_id)

    answers = await asyncio.gather(*(ask(customer_id) for customer_id in unknown))
    for customer_id, found in zip(unknown, answers, strict=True):
        if found is None or found.HasField("delete_time"):
            continue
        await known.learn(
            KnownCustomer(
                id=customer_id,
                organization_id=scope.organization_id,
                # Learnt without its external id: the customer's own event
                # brings it, and claims the events waiting for it then
                # (consumers.py), under the lock ingest respects.
                external_id=None,
                deleted_at=None,
                source_updated_at=updated_at_of(found, now),
                created_at=now,
                updated_at=now,
            )
        )
        live.add(customer_id)
    return live
