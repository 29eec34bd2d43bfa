"""Products and their prices (products.proto): what a merchant sells,
recurring or one-time, and what it costs in each currency. One aggregate: a
price belongs to its product, is created with it or on its own (never on an
archived product), and is never edited, only archived, so subscriptions keep
what they bought. Works in the caller's scope (one unit of work, one
organization); raises domain errors; knows no protobuf."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from billingos_catalog import events
from billingos_catalog.drafts import PriceDraft, ProductDraft
from billingos_catalog.models import Price, Product
from billingos_catalog.periods import check_period, effective_count
from billingos_catalog.price_rules import check_price, new_price_row
from billingos_catalog.repository import (
    PriceFilter,
    PriceRepository,
    ProductFilter,
    ProductRepository,
)
from billingos_catalog.views import ProductView
from billingos_kit.errors import DomainError, FailedPrecondition, InvalidArgument
from billingos_kit.fieldmask import MASK_FIELD, UpdateMask
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.repository import apply_changes
from billingos_kit.validation import Violations, check_metadata, check_text

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 5000
MAX_PRICES_PER_REQUEST = 50

PRODUCT_MASK = UpdateMask(
    "product",
    updatable=("name", "description", "trial", "metadata", "public_metadata", "archived"),
    immutable={
        "recurring": "the billing period cannot change; create a new product",
        "prices": "prices are managed with the price API",
    },
)
# What a create takes besides the billing period and the prices.
_CREATED_FIELDS = ("name", "description", "trial", "metadata", "public_metadata")


def _price_immutable(paths: list[str]) -> DomainError:
    return InvalidArgument(
        MASK_FIELD,
        f"{', '.join(paths)}: prices cannot be edited; archive this price and create a new "
        "one (subscriptions keep the price they bought)",
        reason="PRICE_IMMUTABLE",
    )


_PRICE_FIELDS = (
    "id",
    "organization_id",
    "product_id",
    "currency",
    "recurring",
    "fixed",
    "free",
    "custom",
    "metered_unit",
    "seat_based",
    "create_time",
)
PRICE_MASK = UpdateMask(
    "price",
    updatable=("archived",),
    immutable={name: "prices cannot be edited" for name in _PRICE_FIELDS},
    refusal=_price_immutable,
)


async def with_prices(prices: PriceRepository, products: Sequence[Product]) -> list[ProductView]:
    """Each product with its active prices (one query for all of them)."""
    found = await prices.active_by_product([product.id for product in products])
    return [ProductView(product, found.get(product.id, [])) for product in products]


class ProductService:
    """Products of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._products = ProductRepository(scope)
        self._prices = PriceRepository(scope)

    async def create(self, draft: ProductDraft) -> ProductView:
        """Creates the product and its prices in one transaction (one bad
        price and nothing is created); announces `product.created`, then
        `price.created` for each price."""
        recurring = draft.recurring is not None
        violations = Violations()
        _check_fields(violations, draft, _CREATED_FIELDS, recurring=recurring)
        if draft.recurring is not None:
            check_period(violations, "product.recurring", draft.recurring)
        if len(draft.prices) > MAX_PRICES_PER_REQUEST:
            violations.add("product.prices", f"at most {MAX_PRICES_PER_REQUEST} per request")
        else:
            for index, price in enumerate(draft.prices):
                check_price(violations, f"product.prices[{index}]", price, recurring)
        violations.raise_if_any()
        clock = self._scope.clock
        now = clock.now()
        product = Product(
            id=new_id(clock),
            organization_id=self._scope.organization_id,
            name=draft.name.strip(),
            description=draft.description,
            recurring_interval=draft.recurring.interval if draft.recurring else None,
            recurring_count=effective_count(draft.recurring) if draft.recurring else None,
            trial_interval=draft.trial.interval if draft.trial else None,
            trial_count=effective_count(draft.trial) if draft.trial else None,
            metadata=draft.metadata,
            public_metadata=draft.public_metadata,
            archived_at=now if draft.archived else None,
            created_at=now,
            updated_at=now,
        )
        rows = [new_price_row(clock, product, price) for price in draft.prices]
        await self._products.insert(product)  # first: the prices' foreign key needs it
        await self._prices.insert(*rows)
        view = ProductView(product, rows)
        await self._scope.outbox.add(events.product_created(view))
        for row in rows:
            await self._scope.outbox.add(events.price_created(row))
        return view

    async def get(self, product_id: uuid.UUID, *, for_update: bool = False) -> ProductView:
        """The product with its active prices; changes nothing (`for_update`
        locks it for the update that follows in the same call)."""
        return await self._view(await self._products.require(product_id, for_update=for_update))

    async def list_page(self, where: ProductFilter, page: PageRequest) -> Page[ProductView]:
        """One page of products, newest first, with their active prices;
        changes nothing."""
        found = await self._products.page(where, page)
        return Page(await with_prices(self._prices, found.items), found.next_page_token)

    async def update(
        self, product_id: uuid.UUID, draft: ProductDraft, paths: Sequence[str]
    ) -> ProductView:
        """Applies the fields named in `paths` (PRODUCT_MASK's). Archiving
        announces `product.archived`; any other change (unarchiving too)
        `product.updated` with the paths that changed; no change, nothing."""
        product = await self._products.require(product_id, for_update=True)
        violations = Violations()
        _check_fields(violations, draft, paths, recurring=product.recurring_interval is not None)
        violations.raise_if_any()
        changed: list[str] = []
        columns: list[str] = []
        archiving = False
        for path in paths:
            if path == "archived":
                if (product.archived_at is not None) != draft.archived:
                    changed.append(path)
                    archiving = True
                continue
            found = apply_changes(product, _column_values(draft, path))
            if found:
                changed.append(path)
                columns += found
        if not changed:
            return await self._view(product)
        product.updated_at = self._scope.clock.now()
        if archiving:
            product.archived_at = product.updated_at if draft.archived else None
            columns.append("archived_at")
        await self._products.update(product, [*columns, "updated_at"])
        view = await self._view(product)
        if archiving and draft.archived:
            await self._scope.outbox.add(events.product_archived(view))
            changed.remove("archived")
        if changed:
            await self._scope.outbox.add(events.product_updated(view, changed))
        return view

    async def _view(self, product: Product) -> ProductView:
        """A product row already read, with its active prices."""
        return (await with_prices(self._prices, [product]))[0]


class PriceService:
    """Prices of the scope's organization's products."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._prices = PriceRepository(scope)
        self._products = ProductRepository(scope)

    async def create(self, product_id: uuid.UUID, draft: PriceDraft) -> Price:
        """Adds a price to a product that is not archived (the product row is
        locked, so an archive cannot slip in between); announces `price.created`."""
        product = await self._products.require(product_id, for_update=True)
        if product.archived_at is not None:
            raise FailedPrecondition(
                "product_id: the product is archived; unarchive it to add prices",
                reason="PRODUCT_ARCHIVED",
            )
        violations = Violations()
        check_price(violations, "price", draft, product.recurring_interval is not None)
        violations.raise_if_any()
        price = new_price_row(self._scope.clock, product, draft)
        await self._prices.insert(price)
        await self._scope.outbox.add(events.price_created(price))
        await self._announce_new_prices(product)
        return price

    async def get(self, price_id: uuid.UUID, *, for_update: bool = False) -> Price:
        """The price, archived or not; changes nothing (`for_update` locks it
        for the update that follows in the same call)."""
        return await self._prices.require(price_id, for_update=for_update)

    async def list_page(self, where: PriceFilter, page: PageRequest) -> Page[Price]:
        """One page of one product's prices, newest first; NotFound if the
        product is not this organization's. Changes nothing."""
        if where.product_id is not None:
            await self._products.require(where.product_id)
        return await self._prices.page(where, page)

    async def archive(self, price_id: uuid.UUID, paths: Sequence[str], archived: bool) -> Price:
        """The only change a price accepts (PRICE_MASK): being archived, once.
        An archived price refuses any change (PRICE_ARCHIVED); archiving
        announces `price.archived`."""
        price = await self._prices.require(price_id, for_update=True)
        if price.archived_at is not None:
            raise FailedPrecondition(
                "price: archived prices cannot be changed", reason="PRICE_ARCHIVED"
            )
        if "archived" not in paths or not archived:
            return price
        # Locked like a create: the product's price list changes one call at a time.
        product = await self._products.require(price.product_id, for_update=True)
        price.archived_at = self._scope.clock.now()
        await self._prices.update(price, ["archived_at"])
        await self._scope.outbox.add(events.price_archived(price))
        await self._announce_new_prices(product)
        return price

    async def _announce_new_prices(self, product: Product) -> None:
        """A product's state holds its active prices, so a price added or
        archived changes the product too: `product.updated` (mask `prices`),
        with a new update time for read copies that keep the newer state."""
        product.updated_at = self._scope.clock.now()
        await self._products.update(product, ["updated_at"])
        view = (await with_prices(self._prices, [product]))[0]
        await self._scope.outbox.add(events.product_updated(view, ["prices"]))


def _check_fields(
    violations: Violations, draft: ProductDraft, paths: Sequence[str], *, recurring: bool
) -> None:
    if "name" in paths:
        check_text(
            violations, "product.name", draft.name, max_length=MAX_NAME_LENGTH, required=True
        )
    if "description" in paths:
        check_text(
            violations, "product.description", draft.description, max_length=MAX_DESCRIPTION_LENGTH
        )
    if "trial" in paths and draft.trial is not None:
        if recurring:
            check_period(violations, "product.trial", draft.trial)
        else:
            violations.add("product.trial", "a one-time product cannot have a trial")
    if "metadata" in paths:
        check_metadata(violations, "product.metadata", draft.metadata)
    if "public_metadata" in paths:
        check_metadata(violations, "product.public_metadata", draft.public_metadata)


def _column_values(draft: ProductDraft, path: str) -> dict[str, object]:
    """The row's values for one updatable path (all but `archived`)."""
    if path == "trial":
        trial = draft.trial
        return {
            "trial_interval": trial.interval if trial else None,
            "trial_count": effective_count(trial) if trial else None,
        }
    values: dict[str, object] = {
        "name": draft.name.strip(),
        "description": draft.description,
        "metadata": draft.metadata,
        "public_metadata": draft.public_metadata,
    }
    return {path: values[path]}
