"""Products and their prices (products.proto): what a merchant sells,
recurring or one-time, and what it costs in each currency. One aggregate: a
price belongs to its product, is created with it or on its own (never on an
archived product), and its amounts never change, so subscriptions keep what
they bought; it can be archived and unarchived, and its lookup key, nickname,
metadata and (until it is used) tax behaviour can change. Every change to a
product's prices locks the product row, so the rule of what its prices mean
together (price_mix.py) holds under concurrent calls; every path locks the
products it touches first (in id order) and the prices after, so no two
calls can deadlock. Works in the caller's
scope (one unit of work, one organization); raises domain errors; knows no
protobuf."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence

from billingos_catalog import events
from billingos_catalog.drafts import PriceDraft, ProductDraft
from billingos_catalog.errors import LookupKeyTaken, PriceUsed
from billingos_catalog.models import Price, Product
from billingos_catalog.periods import check_period, effective_count
from billingos_catalog.price_mix import check_price_mix, replaces
from billingos_catalog.price_rules import DETAIL_FIELDS, check_details, check_price, new_price_row
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
from billingos_kit.workscope import WorkScope

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 5000
MAX_PRICES_PER_REQUEST = 50

PRODUCT_MASK = UpdateMask(
    "product",
    updatable=("name", "description", "trial", "metadata", "public_metadata", "archived"),
    immutable={
        "recurring": "the billing period cannot change; create a new product",
        "prices": "prices are managed with the price API",
        "benefit_ids": "benefits are attached with POST /v1/products/{product_id}/benefits "
        "and detached with DELETE /v1/products/{product_id}/benefits/{benefit_id}",
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
    "metered_tiers",
    "metered_package",
    "metered_percentage",
    "metered_graduated_percentage",
    "create_time",
    "first_use_time",
    "update_time",
)
PRICE_MASK = UpdateMask(
    "price",
    updatable=("archived", *DETAIL_FIELDS),
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
            keys: set[str] = set()
            for index, price in enumerate(draft.prices):
                check_price(violations, f"product.prices[{index}]", price, recurring)
                if price.lookup_key and price.lookup_key in keys:
                    violations.add(f"product.prices[{index}].lookup_key", "appears twice")
                keys.add(price.lookup_key)
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
            benefit_ids=[],  # attached after creation (product_benefits.py)
        )
        rows = [new_price_row(clock, product, price) for price in draft.prices]
        check_price_mix((), [(f"product.prices[{i}]", row) for i, row in enumerate(rows)])
        await self._products.insert(product)  # first: the prices' foreign key needs it
        for index, row in enumerate(rows):
            try:
                await self._prices.insert(row)
            except LookupKeyTaken:
                raise LookupKeyTaken(f"product.prices[{index}].lookup_key") from None
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

    async def create(
        self, product_id: uuid.UUID, draft: PriceDraft, *, transfer_lookup_key: bool = False
    ) -> Price:
        """Adds a price to a product that is not archived (the product row is
        locked, so an archive or another price cannot slip in between): at
        most one active static price per currency and period. With
        `transfer_lookup_key`, the key moves from the price holding it in the
        same transaction; when that price is the active static price this
        one replaces (price_mix.replaces), it is archived too, so an amount
        changes in one call. Announces `price.created`, and for the price the
        key left `price.updated` (and `price.archived` when replaced)."""
        holder = await self._key_holder(draft.lookup_key if transfer_lookup_key else "")
        locked = await self._lock_products(product_id, holder)
        product = locked.get(product_id)
        if product is None:
            raise self._products.not_found(str(product_id))
        if product.archived_at is not None:
            raise FailedPrecondition(
                "product_id: the product is archived; unarchive it to add prices",
                reason="PRODUCT_ARCHIVED",
            )
        violations = Violations()
        check_price(violations, "price", draft, product.recurring_interval is not None)
        if transfer_lookup_key and not draft.lookup_key:
            violations.add("transfer_lookup_key", "needs the price's lookup_key")
        violations.raise_if_any()
        price = new_price_row(self._scope.clock, product, draft)
        previous = None
        if transfer_lookup_key and price.lookup_key is not None:
            previous = await self._prices.take_lookup_key(price.lookup_key, price.created_at)
        replaced = previous if previous is not None and replaces(previous, price) else None
        active = (await self._prices.active_by_product([product.id])).get(product.id, [])
        # A refusal here rolls back the key taken above with the rest of the call.
        check_price_mix(
            [p for p in active if replaced is None or p.id != replaced.id], [("price", price)]
        )
        if previous is not None:
            await self._scope.outbox.add(events.price_updated(previous, ["lookup_key"]))
        if replaced is not None:
            replaced.archived_at = replaced.updated_at = price.created_at
            await self._prices.update(replaced, ["archived_at", "updated_at"])
            await self._scope.outbox.add(events.price_archived(replaced))
        await self._prices.insert(price)
        await self._scope.outbox.add(events.price_created(price))
        await self._announce_new_prices(product)
        if previous is not None:
            await self._announce_other_product(previous, product, locked)
        return price

    async def get_by_lookup_key(self, lookup_key: str) -> Price:
        """The price holding the key, archived or not; changes nothing."""
        found = await self._prices.get_by_lookup_key(lookup_key) if lookup_key else None
        if found is None:
            raise self._prices.not_found(lookup_key)
        return found

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

    async def update(
        self,
        price_id: uuid.UUID,
        draft: PriceDraft,
        paths: Sequence[str],
        *,
        transfer_lookup_key: bool = False,
    ) -> Price:
        """Applies the fields named in `paths` (PRICE_MASK's; never an
        amount). Archiving announces `price.archived`; any other change
        (unarchiving too) `price.updated` with the paths that changed; no
        change, nothing. Unarchiving is a new active price for the rule of
        static prices (StaticPriceTaken), and needs an active product. The tax
        behaviour cannot change once the price is used (PriceUsed)."""
        violations = Violations()
        check_details(violations, "price", draft, paths)
        if transfer_lookup_key and ("lookup_key" not in paths or not draft.lookup_key):
            violations.add("transfer_lookup_key", "needs a new lookup_key in the update mask")
        violations.raise_if_any()
        # Products first, then the price (a price's product never changes, so
        # it can be read before the lock): the product's price list changes
        # one call at a time, in the lock order of every price path.
        unlocked = await self._prices.require(price_id)
        holder = None
        if transfer_lookup_key and "lookup_key" in paths:
            holder = await self._key_holder(draft.lookup_key)
        locked = await self._lock_products(unlocked.product_id, holder)
        product = locked[unlocked.product_id]
        price = await self._prices.require(price_id, for_update=True)
        was_active = price.archived_at is None
        now = self._scope.clock.now()
        changed = await self._changes(price, product, draft, paths, now)
        if not changed:
            return price
        previous = None
        if "lookup_key" in changed and transfer_lookup_key and draft.lookup_key:
            previous = await self._prices.take_lookup_key(draft.lookup_key, now)
        price.updated_at = now
        await self._prices.update(price, [*_columns(changed), "updated_at"])
        if "archived" in changed and price.archived_at is not None:
            await self._scope.outbox.add(events.price_archived(price))
            changed.remove("archived")
        if changed:
            await self._scope.outbox.add(events.price_updated(price, changed))
        if was_active or price.archived_at is None:
            await self._announce_new_prices(product)
        if previous is not None:
            await self._scope.outbox.add(events.price_updated(previous, ["lookup_key"]))
            await self._announce_other_product(previous, product, locked)
        return price

    async def _changes(
        self,
        price: Price,
        product: Product,
        draft: PriceDraft,
        paths: Sequence[str],
        now: dt.datetime,
    ) -> list[str]:
        """Sets the fields of `paths` that change on `price`; returns their
        paths. Refuses what the price's state forbids."""
        changed: list[str] = []
        if "archived" in paths and (price.archived_at is not None) != draft.archived:
            if not draft.archived:
                await self._check_unarchive(price, product)
            price.archived_at = now if draft.archived else None
            changed.append("archived")
        wanted = {
            "lookup_key": draft.lookup_key or None,
            "nickname": draft.nickname,
            "metadata": draft.metadata,
            "tax_behavior": draft.tax_behavior,
        }
        for path in DETAIL_FIELDS:
            if path in paths and getattr(price, path) != wanted[path]:
                if path == "tax_behavior" and price.first_used_at is not None:
                    raise PriceUsed(
                        "price.tax_behavior",
                        "cannot change: the price has been bought (its amounts were charged "
                        f"as {price.tax_behavior}); create a new price instead",
                    )
                setattr(price, path, wanted[path])
                changed.append(path)
        return changed

    async def _check_unarchive(self, price: Price, product: Product) -> None:
        if product.archived_at is not None:
            raise FailedPrecondition(
                "price.archived: the product is archived; unarchive it first",
                reason="PRODUCT_ARCHIVED",
            )
        active = await self._prices.active_by_product([product.id])
        candidate = dataclasses.replace(price, archived_at=None)
        check_price_mix(active.get(product.id, []), [("price.archived", candidate)])

    async def _key_holder(self, lookup_key: str) -> Price | None:
        """The price holding a key about to be transferred, read without a
        lock: only to know which product to lock first."""
        return await self._prices.get_by_lookup_key(lookup_key) if lookup_key else None

    async def _lock_products(
        self, product_id: uuid.UUID, holder: Price | None
    ) -> dict[uuid.UUID, Product]:
        """Locks the product and the key holder's, in id order: every price
        path locks products before prices, so none can deadlock another."""
        ids = [product_id] if holder is None else [product_id, holder.product_id]
        return await self._products.lock_in_order(ids)

    async def _announce_other_product(
        self, previous: Price, product: Product, locked: dict[uuid.UUID, Product]
    ) -> None:
        """The state of the product a lookup key moved from, when it is
        another product's and the price active. Its product was locked
        first, unless the key moved to that price between the unlocked read
        and the locks (then it is locked now, out of order but rarely)."""
        if previous.archived_at is None and previous.product_id != product.id:
            other = locked.get(previous.product_id)
            if other is None:
                other = await self._products.require(previous.product_id, for_update=True)
            await self._announce_new_prices(other)

    async def _announce_new_prices(self, product: Product) -> None:
        await announce_prices(self._scope, self._products, self._prices, product)


async def announce_prices(
    scope: WorkScope, products: ProductRepository, prices: PriceRepository, product: Product
) -> None:
    """A product's state holds its active prices, so a price added, archived
    or changed changes the product too: `product.updated` (mask `prices`),
    with a new update time for read copies that keep the newer state. The
    product row is the caller's, locked."""
    product.updated_at = scope.clock.now()
    await products.update(product, ["updated_at"])
    view = (await with_prices(prices, [product]))[0]
    await scope.outbox.add(events.product_updated(view, ["prices"]))


def _columns(paths: Sequence[str]) -> list[str]:
    """The price columns behind changed paths (`archived` is `archived_at`)."""
    return ["archived_at" if path == "archived" else path for path in paths]


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
