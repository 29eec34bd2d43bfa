"""Every query of the catalog service, on the kit's repositories: bound to one
organization (or explicitly platform-wide), statements compiled once with
every value a bindparam, the discount code's unique index mapped to its field
error. No commits, no rules."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Table, Uuid, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.sql import ClauseElement

from billingos_catalog.errors import CodeTaken
from billingos_catalog.models import (
    DISCOUNT_CODE_INDEX,
    Discount,
    DiscountRedemption,
    KnownCustomer,
    KnownOrganization,
    Price,
    Product,
    customers,
    discount_redemptions,
    discounts,
    organizations,
    prices,
    products,
)
from billingos_kit.pagination import ListFilter
from billingos_kit.repository import PlatformRepository, TenantRepository, UniqueRule
from billingos_kit.sql import contains_pattern
from billingos_kit.validation import ascii_lower

_IDS = ARRAY(Uuid)


# ---- products ---------------------------------------------------------------


@dataclass(frozen=True)
class ProductFilter(ListFilter):
    """ListProducts' filters (the page token is bound to them)."""

    archived: bool | None = None
    recurring: bool | None = None
    # ListProducts' `query`: part of the name, any case, taken literally. (Not
    # named `query`: the kit's fetch_rows takes its statement by that name.)
    name_contains: str | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "archived": table.c.archived_at.is_not(None) == bindparam("archived", type_=Boolean),
            "recurring": table.c.recurring_interval.is_not(None)
            == bindparam("recurring", type_=Boolean),
            "name_contains": table.c.name.ilike(bindparam("name_contains"), escape="\\"),
        }

    def bound(self, name: str, value: Any) -> Any:
        return contains_pattern(value) if name == "name_contains" else value


class ProductRepository(TenantRepository[Product]):
    table = products
    row_type = Product
    resource = "product"

    async def existing_ids(self, product_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `product_ids` are products of this organization."""
        if not product_ids:
            return set()
        query = self.query(
            "existing_ids",
            lambda: select(products.c.id).where(
                products.c.organization_id == bindparam("organization_id"),
                products.c.id == any_(bindparam("ids", type_=_IDS)),
            ),
        )
        records = await query.fetch(
            await self.connection(), organization_id=self.organization_id, ids=list(product_ids)
        )
        return {record["id"] for record in records}


# ---- prices -----------------------------------------------------------------


@dataclass(frozen=True)
class PriceFilter(ListFilter):
    """ListPrices' filters: always one product's prices."""

    product_id: uuid.UUID | None = None
    archived: bool | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {
            "product_id": table.c.product_id == bindparam("product_id", type_=Uuid),
            "archived": table.c.archived_at.is_not(None) == bindparam("archived", type_=Boolean),
        }


class EveryProduct(PlatformRepository[Product]):
    """Every organization's products, for the state-stream snapshot
    (states.py): streamed in organization order, so each organization's
    prices can be read a batch at a time."""

    table = products
    row_type = Product
    resource = "product"

    async def stream(self) -> AsyncIterator[Product]:
        query = self.query(
            "every", lambda: select(products).order_by(products.c.organization_id, products.c.id)
        )
        async for record in query.cursor(await self.connection()):
            yield self.row(record)


class PriceRepository(TenantRepository[Price]):
    table = prices
    row_type = Price
    resource = "price"

    async def active_by_product(
        self, product_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Price]]:
        """The prices that are not archived of several products, in one
        query, oldest first."""
        if not product_ids:
            return {}

        def build() -> ClauseElement:
            return (
                self.live()
                .where(
                    prices.c.product_id == any_(bindparam("product_ids", type_=_IDS)),
                    prices.c.archived_at.is_(None),
                )
                .order_by(prices.c.id)
            )

        found = await self.fetch_rows(
            self.query("active_by_product", build), product_ids=list(product_ids)
        )
        grouped: dict[uuid.UUID, list[Price]] = defaultdict(list)
        for price in found:
            grouped[price.product_id].append(price)
        return grouped


# ---- discounts --------------------------------------------------------------


@dataclass(frozen=True)
class DiscountFilter(ListFilter):
    """ListDiscounts' filter: the discount with a code, in any (ASCII) case."""

    code: str | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        # lower(code), as the unique index spells it; codes are ASCII.
        return {"code": func.lower(table.c.code) == bindparam("code")}

    def bound(self, name: str, value: Any) -> Any:
        return ascii_lower(value) if name == "code" else value


class DiscountRepository(TenantRepository[Discount]):
    """Live discounts; a code is unique among them (the index decides, so
    concurrent creates cannot both win)."""

    table = discounts
    row_type = Discount
    resource = "discount"
    unique = (UniqueRule(DISCOUNT_CODE_INDEX, lambda: CodeTaken("discount.code")),)

    async def get_by_code(self, code: str) -> Discount | None:
        query = self.query(
            "by_code",
            lambda: self.live().where(func.lower(discounts.c.code) == bindparam("code")),
        )
        return await self.fetch_row(query, code=ascii_lower(code))


class RedemptionRepository(TenantRepository[DiscountRedemption]):
    table = discount_redemptions
    row_type = DiscountRedemption
    resource = "discount_redemption"

    async def find(self, discount_id: uuid.UUID, reference: str) -> DiscountRedemption | None:
        query = self.query(
            "by_reference",
            lambda: self.live().where(
                discount_redemptions.c.discount_id == bindparam("discount_id"),
                discount_redemptions.c.reference == bindparam("reference"),
            ),
        )
        return await self.fetch_row(query, discount_id=discount_id, reference=reference)


# ---- read copies --------------------------------------------------------------


class KnownOrganizations(PlatformRepository[KnownOrganization]):
    """The organizations read copy: public pages find one by slug or id,
    before any organization is known to the call."""

    table = organizations
    row_type = KnownOrganization
    resource = "organization"

    async def get_by_slug(self, slug: str) -> KnownOrganization | None:
        query = self.query(
            "by_slug", lambda: self.live().where(organizations.c.slug == bindparam("slug"))
        )
        return await self.fetch_row(query, slug=slug)

    async def remember(self, organization: KnownOrganization) -> None:
        """Adds the organization; one already known stays as it is (an
        organization's announced state never changes, so a redelivery or a
        replay of the state stream has nothing newer to say)."""
        query = self.query(
            "remember",
            lambda: (
                insert(organizations)
                .values({c.name: bindparam(c.name) for c in organizations.c})
                .on_conflict_do_nothing(index_elements=[organizations.c.id])
            ),
        )
        await query.execute(
            await self.connection(),
            id=organization.id,
            slug=organization.slug,
            name=organization.name,
        )


class KnownCustomers(TenantRepository[KnownCustomer]):
    """The customers read copy of one organization; `get` finds live ones only."""

    table = customers
    row_type = KnownCustomer
    resource = "customer"

    async def remember(self, customer: KnownCustomer) -> None:
        """Adds the customer, or marks it deleted. A deletion is final: a
        state that arrives later but is older (a redelivery, a reordering, a
        replay) never brings a deleted customer back, and the first deletion
        time stays."""

        def build() -> ClauseElement:
            statement = insert(customers).values(
                id=bindparam("id"),
                organization_id=bindparam("organization_id"),
                deleted_at=bindparam("deleted_at"),
            )
            return statement.on_conflict_do_update(
                index_elements=[customers.c.id],
                set_={
                    "deleted_at": func.coalesce(
                        customers.c.deleted_at, statement.excluded.deleted_at
                    )
                },
                where=customers.c.organization_id == statement.excluded.organization_id,
            )

        if customer.organization_id != self.organization_id:
            raise RuntimeError("a customer of another organization cannot be written")
        await self.query("remember", build).execute(
            await self.connection(),
            id=customer.id,
            organization_id=self.organization_id,
            deleted_at=customer.deleted_at,
        )
