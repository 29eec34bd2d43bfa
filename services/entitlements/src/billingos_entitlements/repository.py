"""Every query of the entitlements schema, on the kit's repositories: bound
to the call's (or the event's) organization, so none can forget the tenant.
The read copies keep the newest state they have heard (`remember`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Table,
    Uuid,
    bindparam,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.sql.elements import ClauseElement

from billingos_entitlements.errors import KeyTaken
from billingos_entitlements.models import (
    BENEFIT_KEY_INDEX,
    Benefit,
    BenefitGrant,
    CustomerCopy,
    GrantSourceCopy,
    LicenseKey,
    LicenseKeyActivation,
    MeterCredit,
    ProductCopy,
    SeatCopy,
    benefit_grants,
    benefits,
    customers,
    grant_sources,
    license_key_activations,
    license_keys,
    meter_credits,
    products,
    seat_copies,
)
from billingos_kit.pagination import ListFilter
from billingos_kit.read_copies import newer_state_upsert
from billingos_kit.repository import PlatformRepository, TenantRepository, UniqueRule
from billingos_kit.sql import affected_rows

_IDS = ARRAY(Uuid)


# ---- benefits ---------------------------------------------------------------


@dataclass(frozen=True)
class BenefitFilter(ListFilter):
    type: str | None = None
    key: str | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "type": table.c.type == bindparam("type"),
            "key": table.c.key == bindparam("key"),
        }


class BenefitRepository(TenantRepository[Benefit]):
    """Live benefits (a deleted one is read with `get_any`); a key is unique
    among them (the index decides, so concurrent creates cannot both win)."""

    table = benefits
    row_type = Benefit
    resource = "benefit"
    unique = (UniqueRule(BENEFIT_KEY_INDEX, KeyTaken),)

    async def get_any(self, benefit_id: uuid.UUID) -> Benefit | None:
        """The benefit, deleted or not (a deleted one answers with its delete
        time; its grants point at it)."""

        def build() -> ClauseElement:
            return select(benefits).where(
                benefits.c.organization_id == bindparam("organization_id"),
                benefits.c.id == bindparam("id"),
            )

        return await self.fetch_row(self.query("get_any", build), id=benefit_id)

    async def of_ids(
        self, benefit_ids: Sequence[uuid.UUID], *, deleted_too: bool = False, shared: bool = False
    ) -> list[Benefit]:
        """The live benefits among `benefit_ids` (and the deleted ones too:
        a revoked grant's event names its benefit); `shared` holds them
        (FOR SHARE) so a deletion waits for the grants made from them."""
        if not benefit_ids:
            return []

        def build() -> ClauseElement:
            statement = select(benefits) if deleted_too else self.live()
            statement = statement.where(
                benefits.c.organization_id == bindparam("organization_id"),
                benefits.c.id == bindparam("ids", type_=_IDS).any_(),
            ).order_by(benefits.c.id)
            return statement.with_for_update(read=True) if shared else statement

        return await self.fetch_rows(
            self.query(("of_ids", deleted_too, shared), build), ids=list(benefit_ids)
        )


# ---- grants -----------------------------------------------------------------


@dataclass(frozen=True)
class GrantFilter(ListFilter):
    customer_id: uuid.UUID | None = None
    benefit_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = None
    is_granted: bool | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "customer_id": table.c.customer_id == bindparam("customer_id", type_=Uuid),
            "benefit_id": table.c.benefit_id == bindparam("benefit_id", type_=Uuid),
            "source_id": table.c.source_id == bindparam("source_id", type_=Uuid),
            "is_granted": table.c.revoked_at.is_(None) == bindparam("is_granted"),
        }


class GrantRepository(TenantRepository[BenefitGrant]):
    table = benefit_grants
    row_type = BenefitGrant
    resource = "benefit_grant"

    async def of_source(self, source_id: uuid.UUID, *, locked: bool) -> list[BenefitGrant]:
        """Every grant a subscription or order has made, granted or not."""

        def build() -> ClauseElement:
            statement = (
                self.live()
                .where(benefit_grants.c.source_id == bindparam("source_id"))
                .order_by(benefit_grants.c.id)
            )
            return statement.with_for_update() if locked else statement

        return await self.fetch_rows(self.query(("of_source", locked), build), source_id=source_id)

    async def granted_of_benefit(self, benefit_id: uuid.UUID) -> list[BenefitGrant]:
        """The benefit's grants still granted, locked."""

        def build() -> ClauseElement:
            return (
                self.live()
                .where(benefit_grants.c.benefit_id == bindparam("benefit_id"))
                .where(benefit_grants.c.revoked_at.is_(None))
                .order_by(benefit_grants.c.id)
                .with_for_update()
            )

        return await self.fetch_rows(self.query("granted_of_benefit", build), benefit_id=benefit_id)

    async def granted_of_customer(self, customer_id: uuid.UUID) -> list[BenefitGrant]:
        def build() -> ClauseElement:
            return (
                self.live()
                .where(benefit_grants.c.customer_id == bindparam("customer_id"))
                .where(benefit_grants.c.revoked_at.is_(None))
                .order_by(benefit_grants.c.id)
            )

        return await self.fetch_rows(
            self.query("granted_of_customer", build), customer_id=customer_id
        )


# ---- read copies ------------------------------------------------------------


class ProductCopies(TenantRepository[ProductCopy]):
    table = products
    row_type = ProductCopy
    resource = "product"

    async def lock(self, product_id: uuid.UUID) -> None:
        """Holds, until the transaction ends, the product's lock: a change of
        its benefit list and a source of it being reconciled take turns, so
        neither misses the other (a new subscription read the old list while
        the list changed, the change not seeing the uncommitted subscription)."""

        await self.hold_lock("entitlements-product", product_id)

    async def remember(self, row: ProductCopy) -> bool:
        """True if the copy took the state (it was newer)."""
        query = self.query("remember", lambda: newer_state_upsert(products))
        status = await query.execute(await self.connection(), **self._values(row))
        return affected_rows(status) > 0


class CustomerCopies(TenantRepository[CustomerCopy]):
    table = customers
    row_type = CustomerCopy
    resource = "customer"

    async def remember(self, row: CustomerCopy) -> bool:
        query = self.query("remember", lambda: newer_state_upsert(customers))
        status = await query.execute(await self.connection(), **self._values(row))
        return affected_rows(status) > 0

    async def by_external_id(self, external_id: str) -> CustomerCopy | None:
        """The live customer with the external id."""

        def build() -> ClauseElement:
            return self.live().where(
                customers.c.external_id == bindparam("external_id"),
                customers.c.deleted_at.is_(None),
            )

        return await self.fetch_row(self.query("by_external_id", build), external_id=external_id)


def _ended_is_final(statement: Any, newer: Any) -> Any:
    """An ended source stays ended; an ended state wins over a live one
    whatever their times (a revoke heard before its grant still wins); of
    two states of one time, the later event's."""
    table, given = grant_sources, statement.excluded
    later = newer | (
        (table.c.source_updated_at == given.source_updated_at)
        & (table.c.source_event_id < given.source_event_id)
    )
    return (
        (table.c.organization_id == bindparam("organization_id"))
        & ~table.c.ended
        & (later | given.ended)
    )


class GrantSourceCopies(TenantRepository[GrantSourceCopy]):
    table = grant_sources
    row_type = GrantSourceCopy
    resource = "grant_source"

    async def remember(self, row: GrantSourceCopy) -> bool:
        """True if the copy took the state."""
        query = self.query(
            "remember", lambda: newer_state_upsert(grant_sources, also=_ended_is_final)
        )
        status = await query.execute(await self.connection(), **self._values(row))
        return affected_rows(status) > 0

    async def lock(self, source_id: uuid.UUID) -> None:
        """Holds, until the transaction ends, the source's lock, whether its
        copy exists yet or not: a seat's change and its subscription's take
        turns, so neither misses the other (a seat heard before its
        subscription, while the subscription's first state arrives)."""

        await self.hold_lock("entitlements-source", source_id)

    async def live_of_product(self, product_id: uuid.UUID) -> list[GrantSourceCopy]:
        """The sources that grant the product's benefits now, locked in id
        order: a source is reconciled by one transaction at a time."""

        def build() -> ClauseElement:
            return (
                self.live()
                .where(grant_sources.c.product_id == bindparam("product_id"))
                .where(grant_sources.c.live == true())
                .order_by(grant_sources.c.id)
                .with_for_update()
            )

        return await self.fetch_rows(self.query("live_of_product", build), product_id=product_id)

    async def live_of_customer(self, customer_id: uuid.UUID) -> list[GrantSourceCopy]:
        def build() -> ClauseElement:
            return (
                self.live()
                .where(grant_sources.c.customer_id == bindparam("customer_id"))
                .where(grant_sources.c.live == true())
                .order_by(grant_sources.c.id)
            )

        return await self.fetch_rows(self.query("live_of_customer", build), customer_id=customer_id)


def _freed_is_final(statement: Any, newer: Any) -> Any:
    """A seat is assigned once and freed once: only a freed state changes a
    held copy, whatever order the two arrive in."""
    table, given = seat_copies, statement.excluded
    return (table.c.organization_id == bindparam("organization_id")) & table.c.live & ~given.live


class SeatCopies(TenantRepository[SeatCopy]):
    table = seat_copies
    row_type = SeatCopy
    resource = "seat"

    async def remember(self, row: SeatCopy) -> bool:
        """True if the copy took the state."""
        query = self.query(
            "remember", lambda: newer_state_upsert(seat_copies, also=_freed_is_final)
        )
        status = await query.execute(await self.connection(), **self._values(row))
        return affected_rows(status) > 0

    async def of_subscription(self, subscription_id: uuid.UUID) -> list[SeatCopy]:
        def build() -> ClauseElement:
            return (
                self.live()
                .where(seat_copies.c.subscription_id == bindparam("subscription_id"))
                .order_by(seat_copies.c.id)
            )

        return await self.fetch_rows(
            self.query("of_subscription", build), subscription_id=subscription_id
        )


# ---- meter credits ----------------------------------------------------------


class MeterCreditRequests(TenantRepository[MeterCredit]):
    table = meter_credits
    row_type = MeterCredit
    resource = "meter_credit"

    async def request_once(self, row: MeterCredit) -> bool:
        """Records the credit unless its (grant, period) has one already."""

        def build() -> ClauseElement:
            statement = insert(meter_credits).values(
                {column.name: bindparam(column.name) for column in meter_credits.c}
            )
            return statement.on_conflict_do_nothing(
                index_elements=["grant_id", "period_start"]
            ).returning(meter_credits.c.id)

        record = await self.query("request_once", build).fetch_one(
            await self.connection(), **self._values(row)
        )
        return record is not None


class DueCredits(PlatformRepository[MeterCredit]):
    """The credits to send, across organizations (the crediter's claim)."""

    table = meter_credits
    row_type = MeterCredit
    resource = "meter_credit"

    async def claim(self, now: dt.datetime, lease: dt.datetime, limit: int) -> list[MeterCredit]:
        """Up to `limit` unsent credits due by `now`, each leased until
        `lease` (another crediter skips them; a crediter that dies leaves
        them to be sent again after it, under the same idempotency key)."""

        def build() -> ClauseElement:
            due = (
                select(meter_credits.c.id)
                .where(meter_credits.c.sent_at.is_(None))
                .where(meter_credits.c.next_try_at <= bindparam("now"))
                .order_by(meter_credits.c.next_try_at)
                .limit(bindparam("limit"))
                .with_for_update(skip_locked=True)
            )
            return (
                update(meter_credits)
                .where(meter_credits.c.id.in_(due.scalar_subquery()))
                .values(next_try_at=bindparam("lease"), attempts=meter_credits.c.attempts + 1)
                .returning(*meter_credits.c)
            )

        return await self.fetch_rows(self.query("claim", build), now=now, lease=lease, limit=limit)

    async def sent(self, credit_id: uuid.UUID, at: dt.datetime) -> None:
        def build() -> ClauseElement:
            return (
                update(meter_credits)
                .where(meter_credits.c.id == bindparam("credit_id"))
                .values(sent_at=bindparam("at"), last_error=None)
            )

        await self.query("sent", build).execute(await self.connection(), credit_id=credit_id, at=at)

    async def failed(self, credit_id: uuid.UUID, retry_at: dt.datetime, error: str) -> None:
        def build() -> ClauseElement:
            return (
                update(meter_credits)
                .where(meter_credits.c.id == bindparam("credit_id"))
                .values(next_try_at=bindparam("retry_at"), last_error=bindparam("error"))
            )

        await self.query("failed", build).execute(
            await self.connection(), credit_id=credit_id, retry_at=retry_at, error=error[:500]
        )


# ---- license keys -----------------------------------------------------------


@dataclass(frozen=True)
class LicenseKeyFilter(ListFilter):
    customer_id: uuid.UUID | None = None
    benefit_id: uuid.UUID | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "customer_id": table.c.customer_id == bindparam("customer_id", type_=Uuid),
            "benefit_id": table.c.benefit_id == bindparam("benefit_id", type_=Uuid),
        }


class LicenseKeys(TenantRepository[LicenseKey]):
    table = license_keys
    row_type = LicenseKey
    resource = "license_key"

    async def of_grant(self, grant_id: uuid.UUID) -> LicenseKey | None:
        def build() -> ClauseElement:
            return self.live().where(license_keys.c.grant_id == bindparam("grant_id"))

        return await self.fetch_row(self.query("of_grant", build), grant_id=grant_id)

    async def by_key(self, key: str, *, for_update: bool = False) -> LicenseKey | None:
        def build() -> ClauseElement:
            statement = self.live().where(license_keys.c.key == bindparam("key"))
            return statement.with_for_update() if for_update else statement

        return await self.fetch_row(self.query(("by_key", for_update), build), key=key)


@dataclass(frozen=True)
class ActivationFilter(ListFilter):
    license_key_id: uuid.UUID | None = None
    active: bool | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "license_key_id": table.c.license_key_id == bindparam("license_key_id", type_=Uuid),
            "active": table.c.deactivated_at.is_(None) == bindparam("active", type_=Boolean),
        }


class LicenseKeyActivations(TenantRepository[LicenseKeyActivation]):
    table = license_key_activations
    row_type = LicenseKeyActivation
    resource = "license_key_activation"

    async def active_of(self, license_key_ids: Sequence[uuid.UUID]) -> list[LicenseKeyActivation]:
        if not license_key_ids:
            return []

        def build() -> ClauseElement:
            return (
                self.live()
                .where(
                    license_key_activations.c.license_key_id == bindparam("ids", type_=_IDS).any_()
                )
                .where(license_key_activations.c.deactivated_at.is_(None))
                .order_by(license_key_activations.c.id)
            )

        return await self.fetch_rows(self.query("active_of", build), ids=list(license_key_ids))
