"""Every query of the catalog service, on the kit's repositories: bound to one
organization (or explicitly platform-wide), statements compiled once with
every value a bindparam, unique indexes (discount and promotion codes, lookup
keys, a tax rate's place) mapped to their field errors. No commits, no rules."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.sql import ClauseElement

from billingos_catalog.errors import CodeTaken, LookupKeyTaken, TaxRateTaken
from billingos_catalog.models import (
    DISCOUNT_CODE_INDEX,
    PRICE_LOOKUP_KEY_INDEX,
    PROMOTION_CODE_INDEX,
    TAX_RATE_PLACE_INDEX,
    Discount,
    DiscountRedemption,
    KnownBenefit,
    KnownCustomer,
    KnownOrganization,
    Price,
    Product,
    PromotionCode,
    Purchase,
    TaxRate,
    TaxSettings,
    benefits,
    customers,
    discount_redemptions,
    discounts,
    organizations,
    prices,
    products,
    promotion_codes,
    purchases,
    tax_rates,
    tax_settings,
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

    async def lock_in_order(self, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Product]:
        """Locks this organization's products among `product_ids`, in id
        order, and returns them. Every path that changes prices locks their
        products first, this way, and only then prices (in id order too), so
        two calls never hold one row each while waiting for the other's."""
        if not product_ids:
            return {}

        def build() -> ClauseElement:
            return (
                self.live()
                .where(products.c.id == any_(bindparam("ids", type_=_IDS)))
                .order_by(products.c.id)
                .with_for_update()
            )

        found = await self.fetch_rows(
            self.query("lock_in_order", build), ids=sorted(set(product_ids))
        )
        return {product.id: product for product in found}

    async def lock_listing_benefit(self, benefit_id: uuid.UUID) -> list[Product]:
        """Locks, in id order (as lock_in_order does), this organization's
        products whose `benefit_ids` hold the benefit, and returns them."""

        def build() -> ClauseElement:
            return (
                self.live()
                .where(bindparam("benefit_id", type_=Uuid) == any_(products.c.benefit_ids))
                .order_by(products.c.id)
                .with_for_update()
            )

        return await self.fetch_rows(
            self.query("lock_listing_benefit", build), benefit_id=benefit_id
        )


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
    """Prices; a lookup key is unique per organization (the index decides)."""

    table = prices
    row_type = Price
    resource = "price"
    unique = (UniqueRule(PRICE_LOOKUP_KEY_INDEX, lambda: LookupKeyTaken("price.lookup_key")),)

    async def get_by_lookup_key(self, lookup_key: str) -> Price | None:
        query = self.query(
            "by_lookup_key",
            lambda: self.live().where(prices.c.lookup_key == bindparam("lookup_key")),
        )
        return await self.fetch_row(query, lookup_key=lookup_key)

    async def take_lookup_key(self, lookup_key: str, now: dt.datetime) -> Price | None:
        """Clears the key from the price holding it (locking that row) and
        returns that price as it is now, or None if no price holds it."""

        def build() -> ClauseElement:
            return (
                update(prices)
                .where(
                    prices.c.organization_id == bindparam("organization_id"),
                    # not named after the column: an UPDATE binds its SET values so
                    prices.c.lookup_key == bindparam("held_key"),
                )
                .values(lookup_key=None, updated_at=bindparam("now"))
                .returning(*prices.c)
            )

        return await self.fetch_row(
            self.query("take_lookup_key", build), held_key=lookup_key, now=now
        )

    async def of_ids(
        self, price_ids: Sequence[uuid.UUID], *, for_update: bool = False
    ) -> list[Price]:
        """Those of `price_ids` that are this organization's prices, in id
        order (`for_update` locks them in that order: after their products,
        see ProductRepository.lock_in_order)."""
        if not price_ids:
            return []

        def build() -> ClauseElement:
            statement = (
                self.live()
                .where(prices.c.id == any_(bindparam("ids", type_=_IDS)))
                .order_by(prices.c.id)
            )
            return statement.with_for_update() if for_update else statement

        return await self.fetch_rows(
            self.query(("of_ids", for_update), build), ids=sorted(set(price_ids))
        )

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


def _transaction_lock(key: ColumnElement[str]) -> ClauseElement:
    """Holds, until the transaction ends, the advisory lock named by `key`."""
    return select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0)))


class DiscountRepository(TenantRepository[Discount]):
    """Live discounts; a code is unique among them (the index decides, so
    concurrent creates cannot both win)."""

    table = discounts
    row_type = Discount
    resource = "discount"
    unique = (UniqueRule(DISCOUNT_CODE_INDEX, lambda: CodeTaken("discount.code")),)

    async def lock_code(self, code: str) -> None:
        """Holds, until the transaction ends, the organization's lock on one
        spelling of a code (any case): a discount's code and a promotion
        code look at each other's table under it, so the two kinds of code
        never share a spelling even when both are written at once."""

        def build() -> ClauseElement:
            key = (
                cast(bindparam("organization_id", type_=Uuid), Text)
                + literal_column("':'", Text)
                + bindparam("code", type_=Text)
            )
            return _transaction_lock(key)

        await self.query("lock_code", build).execute(
            await self.connection(), organization_id=self.organization_id, code=ascii_lower(code)
        )

    async def get_by_code(self, code: str) -> Discount | None:
        query = self.query(
            "by_code",
            lambda: self.live().where(func.lower(discounts.c.code) == bindparam("code")),
        )
        return await self.fetch_row(query, code=ascii_lower(code))


# ---- promotion codes ----------------------------------------------------------


@dataclass(frozen=True)
class PromotionCodeFilter(ListFilter):
    """ListPromotionCodes' filter: always one discount's codes."""

    discount_id: uuid.UUID | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {"discount_id": table.c.discount_id == bindparam("discount_id", type_=Uuid)}


class PromotionCodeRepository(TenantRepository[PromotionCode]):
    """Promotion codes; a code is unique among those not archived (the index
    decides)."""

    table = promotion_codes
    row_type = PromotionCode
    resource = "promotion_code"
    unique = (UniqueRule(PROMOTION_CODE_INDEX, lambda: CodeTaken("promotion_code.code")),)

    async def get_by_code(self, code: str) -> PromotionCode | None:
        """The code that is not archived with this spelling, in any case."""
        query = self.query(
            "by_code",
            lambda: self.live().where(
                func.lower(promotion_codes.c.code) == bindparam("code"),
                promotion_codes.c.archived_at.is_(None),
            ),
        )
        return await self.fetch_row(query, code=ascii_lower(code))

    async def archive_of_discount(
        self, discount_id: uuid.UUID, now: dt.datetime
    ) -> list[PromotionCode]:
        """Archives a discount's codes that are not archived; returns them."""

        def build() -> ClauseElement:
            return (
                update(promotion_codes)
                .where(
                    promotion_codes.c.organization_id == bindparam("organization_id"),
                    promotion_codes.c.discount_id == bindparam("discount_id"),
                    promotion_codes.c.archived_at.is_(None),
                )
                .values(archived_at=bindparam("now"), updated_at=bindparam("now"))
                .returning(*promotion_codes.c)
            )

        return await self.fetch_rows(
            self.query("archive_of_discount", build), discount_id=discount_id, now=now
        )


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

    async def unreleased_of(self, reference: str) -> list[DiscountRedemption]:
        """The redemptions made under `reference` not given back yet (one per
        discount). Not locked: a release takes the discount's lock first, as a
        redemption does, then reads the redemption again."""
        query = self.query(
            "unreleased_of",
            lambda: (
                self.live()
                .where(
                    discount_redemptions.c.reference == bindparam("reference"),
                    discount_redemptions.c.released_at.is_(None),
                )
                .order_by(discount_redemptions.c.id)
            ),
        )
        return await self.fetch_rows(query, reference=reference)

    async def lock_first_purchase(self, customer_id: uuid.UUID) -> None:
        """Holds, until the transaction ends, the organization's lock on one
        customer's first purchase: redemptions of first-purchase-only codes
        by that customer (of any discount) take turns under it, so the second
        sees the first and is refused."""

        def build() -> ClauseElement:
            key = (
                cast(bindparam("organization_id", type_=Uuid), Text)
                + literal_column("'/first-purchase/'", Text)
                + cast(bindparam("customer_id", type_=Uuid), Text)
            )
            return _transaction_lock(key)

        await self.query("lock_first_purchase", build).execute(
            await self.connection(), organization_id=self.organization_id, customer_id=customer_id
        )

    async def has_first_purchase_redemption(self, customer_id: uuid.UUID) -> bool:
        """Whether the customer has redeemed any first-purchase-only promotion
        code of this organization's (any discount's, deleted ones too): the
        checkout that redeemed it is their first purchase, recorded or not yet."""

        def build() -> ClauseElement:
            return select(
                exists().where(
                    discount_redemptions.c.organization_id == bindparam("organization_id"),
                    discount_redemptions.c.customer_id == bindparam("customer_id"),
                    discount_redemptions.c.released_at.is_(None),
                    promotion_codes.c.id == discount_redemptions.c.promotion_code_id,
                    promotion_codes.c.first_purchase_only.is_(True),
                )
            )

        found = await self.query("has_first_purchase_redemption", build).fetch_one(
            await self.connection(), organization_id=self.organization_id, customer_id=customer_id
        )
        return bool(found is not None and found[0])


# ---- purchases ----------------------------------------------------------------


class PurchaseRepository(TenantRepository[Purchase]):
    table = purchases
    row_type = Purchase
    resource = "purchase"

    async def find(self, reference: str, *, for_update: bool = False) -> Purchase | None:
        def build() -> Any:
            found = self.live().where(purchases.c.reference == bindparam("reference"))
            return found.with_for_update() if for_update else found

        return await self.fetch_row(
            self.query(("by_reference", for_update), build), reference=reference
        )

    async def insert_new(self, purchase: Purchase) -> bool:
        """Inserts the purchase unless its reference is recorded already
        (False then): concurrent calls with one reference wait on the unique
        index, and all but the first insert nothing."""

        def build() -> ClauseElement:
            return (
                insert(purchases)
                .values({c.name: bindparam(c.name) for c in purchases.c})
                .on_conflict_do_nothing(
                    index_elements=[purchases.c.organization_id, purchases.c.reference]
                )
                .returning(purchases.c.id)
            )

        inserted = await self.query("insert_new", build).fetch_one(
            await self.connection(), **self._values(purchase)
        )
        return inserted is not None

    async def has_purchased(self, customer_id: uuid.UUID, other_than: str = "") -> bool:
        """Whether any purchase of this organization's is the customer's (an
        abandoned one is not), other than the one recorded under `other_than` (the purchase a
        redemption is part of: the engine records its purchase, then redeems
        the code last, so its own purchase must not make it a second one)."""

        def build() -> ClauseElement:
            return select(
                exists().where(
                    purchases.c.organization_id == bindparam("organization_id"),
                    purchases.c.customer_id == bindparam("customer_id"),
                    purchases.c.reference != bindparam("other_than"),
                    purchases.c.abandoned_at.is_(None),
                )
            )

        found = await self.query("has_purchased", build).fetch_one(
            await self.connection(),
            organization_id=self.organization_id,
            customer_id=customer_id,
            other_than=other_than,
        )
        return bool(found is not None and found[0])


# ---- taxes --------------------------------------------------------------------


@dataclass(frozen=True)
class TaxRateFilter(ListFilter):
    """ListTaxRates' filter: one country's rates (its code, upper case)."""

    country: str | None = None

    def where(self, table: Table) -> Mapping[str, ColumnElement[bool]]:
        return {"country": table.c.country == bindparam("country")}


class TaxRateRepository(TenantRepository[TaxRate]):
    """Live tax rates; one per country and region (the index decides)."""

    table = tax_rates
    row_type = TaxRate
    resource = "tax_rate"
    unique = (UniqueRule(TAX_RATE_PLACE_INDEX, lambda: TaxRateTaken("tax_rate.region")),)

    async def of_country(self, country: str) -> list[TaxRate]:
        """The country's live rates (its own and its regions')."""
        query = self.query(
            "of_country", lambda: self.live().where(tax_rates.c.country == bindparam("country"))
        )
        return await self.fetch_rows(query, country=country)


class TaxSettingsRepository(TenantRepository[TaxSettings]):
    """The organization's one settings row (its id is the organization's)."""

    table = tax_settings
    row_type = TaxSettings
    resource = "tax_settings"

    async def current(self, *, for_update: bool = False) -> TaxSettings | None:
        return await self.get(self.organization_id, for_update=for_update)

    async def save(self, settings: TaxSettings) -> None:
        """Inserts the settings, or overwrites the row there is."""

        def build() -> ClauseElement:
            statement = insert(tax_settings).values(
                {c.name: bindparam(c.name) for c in tax_settings.c}
            )
            return statement.on_conflict_do_update(
                index_elements=[tax_settings.c.id],
                set_={
                    "default_tax_behavior": statement.excluded.default_tax_behavior,
                    "updated_at": statement.excluded.updated_at,
                },
                where=tax_settings.c.organization_id == statement.excluded.organization_id,
            )

        if settings.organization_id != self.organization_id:
            raise RuntimeError("another organization's settings cannot be written")
        await self.query("save", build).execute(
            await self.connection(),
            id=settings.id,
            organization_id=self.organization_id,
            default_tax_behavior=settings.default_tax_behavior,
            updated_at=settings.updated_at,
        )


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
        """Adds the organization, or takes a newer state of it (its source's
        update time later than the one kept): a replay, a redelivery or an
        older state arriving late changes nothing. Id and slug never change
        at the source, so the row is the same organization's."""

        def build() -> ClauseElement:
            statement = insert(organizations).values(
                {c.name: bindparam(c.name) for c in organizations.c}
            )
            excluded = statement.excluded
            return statement.on_conflict_do_update(
                index_elements=[organizations.c.id],
                set_={
                    "slug": excluded.slug,
                    "name": excluded.name,
                    "updated_at": excluded.updated_at,
                },
                where=excluded.updated_at > organizations.c.updated_at,
            )

        await self.query("remember", build).execute(
            await self.connection(), **self._values(organization)
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


class KnownBenefits(TenantRepository[KnownBenefit]):
    """The benefits read copy of one organization; `get` finds live ones only."""

    table = benefits
    row_type = KnownBenefit
    resource = "benefit"

    async def share_live(self, benefit_id: uuid.UUID) -> KnownBenefit | None:
        """The live benefit, its row held (FOR SHARE) until the transaction
        ends: a deletion reaching the copy meanwhile waits, then finds the
        product that now lists the benefit and detaches it; without the
        lock it could miss a product attached while it ran."""

        def build() -> ClauseElement:
            return self.live().where(benefits.c.id == bindparam("id")).with_for_update(read=True)

        return await self.fetch_row(self.query("share_live", build), id=benefit_id)

    async def remember(self, benefit: KnownBenefit) -> None:
        """Adds the benefit, or takes a newer state of it: its key only when
        this state is newer than the one kept (an older state arriving late,
        replayed or redelivered never overwrites a newer one), and a deletion
        whenever one arrives (a deletion is final: the first deletion time
        stays). The row of a benefit known in another organization is never
        changed."""

        def build() -> ClauseElement:
            statement = insert(benefits).values({c.name: bindparam(c.name) for c in benefits.c})
            excluded = statement.excluded
            newer = excluded.updated_at > benefits.c.updated_at
            return statement.on_conflict_do_update(
                index_elements=[benefits.c.id],
                set_={
                    "key": case((newer, excluded.key), else_=benefits.c.key),
                    "updated_at": func.greatest(benefits.c.updated_at, excluded.updated_at),
                    "deleted_at": func.coalesce(benefits.c.deleted_at, excluded.deleted_at),
                },
                where=benefits.c.organization_id == excluded.organization_id,
            )

        await self.query("remember", build).execute(
            await self.connection(), **self._values(benefit)
        )
