"""Every query of the customers service, on the kit's repositories: bound to
the call's organization (or explicitly platform-wide), statements compiled
once, unique rules mapped to the field errors below. No commits, no rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, func, select

from billingos_customers.errors import ExternalIdTaken, SlugTaken
from billingos_customers.models import (
    ApiKey,
    Customer,
    CustomerSession,
    Organization,
    api_keys,
    customer_sessions,
    customers,
    organizations,
)
from billingos_kit.pagination import ListFilter
from billingos_kit.repository import PlatformRepository, TenantRepository, UniqueRule
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
