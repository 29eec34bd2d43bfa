"""Every query of the customers service, on the kit's repositories: bound to
the call's organization (or explicitly platform-wide), statements compiled
once, unique rules mapped to the field errors below. No commits, no rules."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    Table,
    Uuid,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql import ClauseElement

from billingos_customers.errors import ExternalIdTaken, SlugTaken
from billingos_customers.models import (
    ApiKey,
    Customer,
    CustomerSession,
    Organization,
    PortalSignIn,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    api_keys,
    customer_sessions,
    customers,
    organizations,
    portal_sign_ins,
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
from billingos_customers.webhook_vocabulary import DeliveryStatus
from billingos_kit.ids import first_id_at
from billingos_kit.pagination import ListFilter
from billingos_kit.repository import PlatformRepository, TenantRepository, UniqueRule
from billingos_kit.sql import affected_rows
from billingos_kit.validation import ascii_lower

# The unique index behind "one live customer per external id" (models.py).
EXTERNAL_ID_INDEX = "uq_customers_organization_id_external_id_live"


class OrganizationRepository(PlatformRepository[Organization]):
    """Organizations are the tenants themselves: looked up across tenants."""

    table = organizations
    row_type = Organization
    resource = "organization"
    unique = (UniqueRule("uq_organizations_slug", lambda: SlugTaken("organization.slug")),)

    async def slug_taken(self, slug: str) -> bool:
        query = self.query(
            "slug_taken",
            lambda: select(organizations.c.id).where(organizations.c.slug == bindparam("slug")),
        )
        return await query.fetch_one(await self.connection(), slug=slug) is not None

    async def get_by_slug(self, slug: str) -> Organization | None:
        query = self.query(
            "by_slug",
            lambda: select(organizations).where(organizations.c.slug == bindparam("slug")),
        )
        return await self.fetch_row(query, slug=slug)


class ApiKeyRepository(TenantRepository[ApiKey]):
    table = api_keys
    row_type = ApiKey
    resource = "api_key"


class PresentedKeys(PlatformRepository[ApiKey]):
    """The key a request presents, across organizations (it names its own)."""

    table = api_keys
    row_type = ApiKey
    resource = "api_key"

    async def find_active(self, secret_hash: bytes) -> ApiKey | None:
        query = self.query(
            "active_by_hash",
            lambda: select(api_keys).where(
                api_keys.c.secret_hash == bindparam("secret_hash"), api_keys.c.revoked_at.is_(None)
            ),
        )
        return await self.fetch_row(query, secret_hash=secret_hash)


@dataclass(frozen=True)
class CustomerFilter(ListFilter):
    """ListCustomers' filters (the page token is bound to them)."""

    email: str | None = None
    external_id: str | None = None

    def where(self, table: Table) -> dict[str, ColumnElement[bool]]:
        return {
            # ASCII folding on both sides (the C collation folds A-Z only), so
            # no lookalike character finds another address.
            "email": func.lower(table.c.email.collate("C")) == bindparam("email"),
            "external_id": table.c.external_id == bindparam("external_id"),
        }

    def bound(self, name: str, value: Any) -> Any:
        return ascii_lower(value) if name == "email" else value


class CustomerRepository(TenantRepository[Customer]):
    table = customers
    row_type = Customer
    resource = "customer"
    unique = (UniqueRule(EXTERNAL_ID_INDEX, lambda: ExternalIdTaken("customer.external_id")),)

    async def get_by_external_id(self, external_id: str) -> Customer | None:
        query = self.query(
            "by_external_id",
            lambda: self.live().where(customers.c.external_id == bindparam("external_id")),
        )
        return await self.fetch_row(query, external_id=external_id)

    async def live_with_email(self, email: str, limit: int) -> list[Customer]:
        """Up to `limit` live customers with the address (ASCII letters in
        any case, as ListCustomers' filter matches), newest first."""
        query = self.query(
            "live_with_email",
            lambda: (
                self.live()
                .where(func.lower(customers.c.email.collate("C")) == bindparam("email"))
                .order_by(customers.c.created_at.desc(), customers.c.id.desc())
                .limit(bindparam("limit"))
            ),
        )
        return await self.fetch_rows(query, email=ascii_lower(email), limit=limit)


class CustomerSessionRepository(TenantRepository[CustomerSession]):
    table = customer_sessions
    row_type = CustomerSession
    resource = "customer_session"


class PresentedSessions(PlatformRepository[CustomerSession]):
    """The session a portal request presents, across organizations (it names
    its own)."""

    table = customer_sessions
    row_type = CustomerSession
    resource = "customer_session"

    async def find_working(self, token_hash: bytes, now: dt.datetime) -> CustomerSession | None:
        """The session with this hash if it still works at `now`: not
        revoked, not expired, and its customer not deleted (deleting a
        customer ends its sessions without touching them)."""
        query = self.query(
            "working_by_hash",
            lambda: (
                select(customer_sessions)
                .join(
                    customers,
                    (customers.c.id == customer_sessions.c.customer_id)
                    & (customers.c.organization_id == customer_sessions.c.organization_id),
                )
                .where(
                    customer_sessions.c.token_hash == bindparam("token_hash"),
                    customer_sessions.c.revoked_at.is_(None),
                    customer_sessions.c.expires_at > bindparam("now"),
                    customers.c.deleted_at.is_(None),
                )
            ),
        )
        return await self.fetch_row(query, token_hash=token_hash, now=now)


class PortalSignInRepository(TenantRepository[PortalSignIn]):
    table = portal_sign_ins
    row_type = PortalSignIn
    resource = "portal_sign_in"


class PresentedSignIns(PlatformRepository[PortalSignIn]):
    """The sign-in link a portal page presents, across organizations (its
    token names its own)."""

    table = portal_sign_ins
    row_type = PortalSignIn
    resource = "portal_sign_in"

    async def use_up(self, token_hash: bytes, now: dt.datetime) -> PortalSignIn | None:
        """Marks the link with this hash used, if it still works at `now`
        (not used, not expired, its customer live), and returns it; else
        None. One statement: of two exchanges at once, the second waits for
        the first's row lock, then finds the link used."""
        query = self.query(
            "use_up",
            lambda: (
                update(portal_sign_ins)
                .where(
                    portal_sign_ins.c.token_hash == bindparam("token_hash"),
                    portal_sign_ins.c.used_at.is_(None),
                    portal_sign_ins.c.expires_at > bindparam("now"),
                    customers.c.id == portal_sign_ins.c.customer_id,
                    customers.c.organization_id == portal_sign_ins.c.organization_id,
                    customers.c.deleted_at.is_(None),
                )
                .values(used_at=bindparam("now"))
                .returning(*portal_sign_ins.c)
            ),
        )
        return await self.fetch_row(query, token_hash=token_hash, now=now)


class ExpiredSignIns(PlatformRepository[PortalSignIn]):
    """The retention job's view of sign-in links, across organizations."""

    table = portal_sign_ins
    row_type = PortalSignIn
    resource = "portal_sign_in"

    async def purge(self, expired_before: dt.datetime, limit: int) -> int:
        """Deletes up to `limit` links that expired before `expired_before`
        (used or not); how many. `SKIP LOCKED`: never waits on an exchange."""
        doomed = (
            select(portal_sign_ins.c.id)
            .where(portal_sign_ins.c.expires_at < bindparam("expired_before"))
            .order_by(portal_sign_ins.c.expires_at)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
        status = await self.query(
            "purge",
            lambda: delete(portal_sign_ins).where(portal_sign_ins.c.id.in_(doomed)),
        ).execute(await self.connection(), expired_before=expired_before, limit=limit)
        return affected_rows(status)


# Statuses of a delivery still to be made (webhook_sender.DeliveryStatus).
OPEN_STATUSES = (DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value)
FINISHED_STATUSES = (DeliveryStatus.SUCCEEDED.value, DeliveryStatus.FAILED.value)


def _is_finished(status: ColumnElement[str]) -> ColumnElement[bool]:
    """`status IN ('succeeded', 'failed')`, written as `_is_open` is."""
    return status.in_([literal_column(f"'{value}'") for value in FINISHED_STATUSES])


def _is_open(status: ColumnElement[str]) -> ColumnElement[bool]:
    """`status IN ('pending', 'retrying')` with the values written into the
    statement: one text whatever is bound, and the planner sees it matches
    the partial index of due deliveries."""
    return status.in_([literal_column(f"'{value}'") for value in OPEN_STATUSES])


class WebhookEndpointRepository(TenantRepository[WebhookEndpoint]):
    table = webhook_endpoints
    row_type = WebhookEndpoint
    resource = "webhook_endpoint"

    async def matching(
        self, event_type: str, published_at: dt.datetime, *, catch_all: bool = True
    ) -> list[WebhookEndpoint]:
        """The enabled, live endpoints that take `event_type` (an empty filter
        takes every type, unless `catch_all` is false: then only endpoints
        naming it) and existed when the event was published (a consumer
        catching up never posts an older event to a new endpoint); locked,
        in id order, so concurrent dispatchers take sequence numbers one
        after the other and never deadlock."""
        query = self.query(
            "matching",
            lambda: (
                self.live()
                .where(
                    webhook_endpoints.c.disabled_at.is_(None),
                    webhook_endpoints.c.created_at <= bindparam("published_at"),
                    or_(
                        and_(
                            func.cardinality(webhook_endpoints.c.event_types) == 0,
                            bindparam("catch_all", type_=Boolean),
                        ),
                        bindparam("event_type") == func.any(webhook_endpoints.c.event_types),
                    ),
                )
                .order_by(webhook_endpoints.c.id)
                .with_for_update()
            ),
        )
        return await self.fetch_rows(
            query, event_type=event_type, published_at=published_at, catch_all=catch_all
        )

    async def count_live(self) -> int:
        """How many endpoints the organization has (deleted ones aside)."""
        query = self.query(
            "count_live",
            lambda: self.live().with_only_columns(func.count()).order_by(None),
        )
        record = await query.fetch_one(
            await self.connection(), organization_id=self.organization_id
        )
        assert record is not None
        return int(record[0])

    async def get_any(
        self, endpoint_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookEndpoint | None:
        """The endpoint by id, deleted or not (what a delivery names)."""

        def build() -> ClauseElement:
            statement = select(webhook_endpoints).where(
                webhook_endpoints.c.id == bindparam("id"),
                webhook_endpoints.c.organization_id == bindparam("organization_id"),
            )
            return statement.with_for_update() if for_update else statement

        return await self.fetch_row(self.query(("get_any", for_update), build), id=endpoint_id)


@dataclass(frozen=True)
class DeliveryFilter(ListFilter):
    """ListWebhookDeliveries' filters: the endpoint (always set: deliveries
    are listed per endpoint), a status, an event type."""

    endpoint_id: uuid.UUID | None = None
    status: DeliveryStatus | None = None
    event_type: str | None = None

    def where(self, table: Table) -> dict[str, ColumnElement[bool]]:
        return {
            "endpoint_id": table.c.endpoint_id == bindparam("endpoint_id"),
            "status": table.c.status == bindparam("status"),
            "event_type": table.c.event_type == bindparam("event_type"),
        }

    def bound(self, name: str, value: Any) -> Any:
        return str(value) if name == "status" else value


class WebhookDeliveryRepository(TenantRepository[WebhookDelivery]):
    table = webhook_deliveries
    row_type = WebhookDelivery
    resource = "webhook_delivery"

    async def insert_once(self, delivery: WebhookDelivery) -> bool:
        """Inserts unless the endpoint already has a delivery of the event
        (the unique index decides); whether it did."""
        query = self.query(
            "insert_once",
            lambda: (
                insert(webhook_deliveries)
                .values({c.name: bindparam(c.name) for c in webhook_deliveries.c})
                .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
                .returning(webhook_deliveries.c.id)
            ),
        )
        record = await query.fetch_one(await self.connection(), **self._values(delivery))
        return record is not None

    async def close_open(self, endpoint_id: uuid.UUID, now: dt.datetime, why: str) -> None:
        """Fails every open delivery of the endpoint (it was deleted): none
        waits for ever, and retention purges them in time. One being posted
        loses its lease, so that attempt's outcome is not recorded."""
        query = self.query(
            "close_open",
            lambda: (
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.organization_id == bindparam("organization_id"),
                    webhook_deliveries.c.endpoint_id == bindparam("endpoint_id"),
                    _is_open(webhook_deliveries.c.status),
                )
                .values(
                    status=DeliveryStatus.FAILED.value,
                    next_attempt_at=None,
                    claimed_until=None,
                    last_error=bindparam("why"),
                    updated_at=bindparam("now"),
                )
            ),
        )
        await query.execute(
            await self.connection(),
            organization_id=self.organization_id,
            endpoint_id=endpoint_id,
            now=now,
            why=why,
        )

    async def restart_open(self, endpoint_id: uuid.UUID, now: dt.datetime) -> None:
        """Every open delivery of the endpoint due now, on a new series of
        attempts: an endpoint enabled again gets its waiting deliveries at
        once, each with its three days of retries from now (not the rest of
        a series that began before it was disabled). One being posted keeps
        its lease."""
        query = self.query(
            "restart_open",
            lambda: (
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.organization_id == bindparam("organization_id"),
                    webhook_deliveries.c.endpoint_id == bindparam("endpoint_id"),
                    _is_open(webhook_deliveries.c.status),
                )
                .values(
                    status=DeliveryStatus.PENDING.value,
                    series_attempts=0,
                    series_started_at=None,
                    next_attempt_at=bindparam("now"),
                    updated_at=bindparam("now"),
                )
            ),
        )
        await query.execute(
            await self.connection(),
            organization_id=self.organization_id,
            endpoint_id=endpoint_id,
            now=now,
        )


class WebhookAttemptRepository(TenantRepository[WebhookDeliveryAttempt]):
    table = webhook_delivery_attempts
    row_type = WebhookDeliveryAttempt
    resource = "webhook_delivery_attempt"


class DueDeliveries(PlatformRepository[WebhookDelivery]):
    """The sender's view, across organizations: what is due."""

    table = webhook_deliveries
    row_type = WebhookDelivery
    resource = "webhook_delivery"

    async def claim(
        self, now: dt.datetime, limit: int, excluded: Sequence[uuid.UUID] = ()
    ) -> list[WebhookDelivery]:
        """Up to `limit` due deliveries, locked (`SKIP LOCKED`: replicas share
        the work, never post one twice at once), each the earliest open one
        of its endpoint and only while no other of its endpoint is claimed:
        an endpoint's later delivery waits while an earlier one is pending,
        retrying or being posted, so each endpoint gets them in order and
        one at a time (a manual redelivery of an older one included). Of
        enabled, live endpoints only: a disabled one's deliveries wait. The
        caller leases what it gets (`claimed_until`). None of the `excluded`
        organizations' (those with as many attempts in flight as they may)."""

        def build() -> ClauseElement:
            other = webhook_deliveries.alias("other")
            delivery = webhook_deliveries.c
            return (
                select(webhook_deliveries)
                .join(webhook_endpoints, webhook_endpoints.c.id == delivery.endpoint_id)
                .where(
                    _is_open(delivery.status),
                    delivery.next_attempt_at <= bindparam("now"),
                    or_(
                        delivery.claimed_until.is_(None), delivery.claimed_until <= bindparam("now")
                    ),
                    webhook_endpoints.c.disabled_at.is_(None),
                    webhook_endpoints.c.deleted_at.is_(None),
                    ~(delivery.organization_id == any_(bindparam("excluded", type_=ARRAY(Uuid)))),
                    ~exists().where(
                        and_(
                            other.c.endpoint_id == delivery.endpoint_id,
                            other.c.id != delivery.id,
                            _is_open(other.c.status),
                            or_(
                                other.c.sequence < delivery.sequence,
                                other.c.claimed_until > bindparam("now"),
                            ),
                        )
                    ),
                )
                .order_by(webhook_deliveries.c.next_attempt_at)
                .limit(bindparam("limit"))
                .with_for_update(of=webhook_deliveries, skip_locked=True)
            )

        return await self.fetch_rows(
            self.query("claim", build), now=now, limit=limit, excluded=list(excluded)
        )


class ExpiredWebhookRows(PlatformRepository[WebhookDelivery]):
    """The retention job's view, across organizations: finished deliveries
    past their keeping, and secrets past their grace."""

    table = webhook_deliveries
    row_type = WebhookDelivery
    resource = "webhook_delivery"

    async def purge_deliveries(self, before: dt.datetime, limit: int) -> int:
        """Deletes up to `limit` finished deliveries last changed before
        `before`, and their attempts; how many. Open ones are never purged.
        Bounded by id (a range of the primary key) and locked `SKIP LOCKED`,
        so a purge never waits on the sender, nor it on the purge."""
        connection = await self.connection()
        doomed = await self.query("doomed", self._doomed).fetch(
            connection, before=before, first_kept_id=first_id_at(before), limit=limit
        )
        ids = [record["id"] for record in doomed]
        if not ids:
            return 0
        await self.query(
            "drop_attempts",
            lambda: delete(webhook_delivery_attempts).where(
                webhook_delivery_attempts.c.delivery_id == any_(bindparam("ids", type_=ARRAY(Uuid)))
            ),
        ).execute(connection, ids=ids)
        await self.query(
            "drop_deliveries",
            lambda: delete(webhook_deliveries).where(
                webhook_deliveries.c.id == any_(bindparam("ids", type_=ARRAY(Uuid)))
            ),
        ).execute(connection, ids=ids)
        return len(ids)

    @staticmethod
    def _doomed() -> ClauseElement:
        delivery = webhook_deliveries.c
        return (
            select(delivery.id)
            .where(
                delivery.id < bindparam("first_kept_id"),
                _is_finished(delivery.status),
                delivery.updated_at < bindparam("before"),
            )
            .order_by(delivery.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )

    async def close_abandoned(self, disabled_before: dt.datetime, now: dt.datetime) -> int:
        """Fails the open deliveries of endpoints disabled since before
        `disabled_before` (nobody enabled them in a whole retention period),
        so they are purged in turn; how many."""
        status = await self.query(
            "close_abandoned",
            lambda: (
                update(webhook_deliveries)
                .where(
                    _is_open(webhook_deliveries.c.status),
                    webhook_deliveries.c.endpoint_id.in_(
                        select(webhook_endpoints.c.id).where(
                            webhook_endpoints.c.disabled_at < bindparam("disabled_before")
                        )
                    ),
                )
                .values(
                    status=DeliveryStatus.FAILED.value,
                    next_attempt_at=None,
                    claimed_until=None,
                    last_error="its endpoint stayed disabled for the whole retention period",
                    updated_at=bindparam("now"),
                )
            ),
        ).execute(await self.connection(), disabled_before=disabled_before, now=now)
        return affected_rows(status)


class ReplacedSecrets(PlatformRepository[WebhookEndpoint]):
    """The retention job's view of endpoints, across organizations."""

    table = webhook_endpoints
    row_type = WebhookEndpoint
    resource = "webhook_endpoint"

    async def forget_expired(self, now: dt.datetime) -> int:
        """Drops each secret a rotation replaced once its grace is over (it
        signs nothing more); how many."""
        status = await self.query(
            "forget_expired",
            lambda: (
                update(webhook_endpoints)
                .where(webhook_endpoints.c.previous_secret_expires_at <= bindparam("now"))
                .values(previous_secret=None, previous_secret_expires_at=None)
            ),
        ).execute(await self.connection(), now=now)
        return affected_rows(status)
