"""Products: what a merchant sells, recurring or one-time, with their prices."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from billingos_catalog import events
from billingos_catalog.models import Product
from billingos_catalog.periods import PeriodSpec, check_period, effective_count
from billingos_catalog.prices import PriceDraft, check_price, new_price_row
from billingos_catalog.repository import PriceRepository, ProductRepository
from billingos_catalog.views import ProductView
from billingos_kit.errors import NotFound
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import PageRequest
from billingos_kit.protoconv import MetadataValue
from billingos_kit.validation import Violations, check_metadata, check_text

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 5000
MAX_PRICES_PER_REQUEST = 50
UPDATABLE_FIELDS = ("name", "description", "trial", "metadata", "public_metadata", "archived")
FIXED_FIELDS = {
    "recurring": "the billing period cannot change; create a new product",
    "prices": "prices are managed with the price API",
}


@dataclass(frozen=True)
class ProductDraft:
    name: str = ""
    description: str = ""
    recurring: PeriodSpec | None = None
    trial: PeriodSpec | None = None
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    public_metadata: dict[str, MetadataValue] = field(default_factory=dict)
    archived: bool = False
    prices: Sequence[PriceDraft] = field(default_factory=tuple)


@dataclass(frozen=True)
class ProductPage:
    products: Sequence[ProductView]
    next_page_token: str


class ProductService:
    """Products of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._products = ProductRepository(scope.session)
        self._prices = PriceRepository(scope.session)

    async def create(self, draft: ProductDraft) -> ProductView:
        """Creates the product and its prices in one transaction: one bad price
        and nothing is created."""
        violations = Violations()
        paths = ("name", "description", "trial", "metadata", "public_metadata")
        _check_fields(violations, draft, paths, recurring=draft.recurring is not None)
        if draft.recurring is not None:
            check_period(violations, "product.recurring", draft.recurring)
        if len(draft.prices) > MAX_PRICES_PER_REQUEST:
            violations.add("product.prices", f"at most {MAX_PRICES_PER_REQUEST} per request")
        else:
            for index, price in enumerate(draft.prices):
                check_price(
                    violations, f"product.prices[{index}]", price, draft.recurring is not None
                )
        violations.raise_if_any()
        now = self._scope.clock.now()
        product = Product(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            name=draft.name.strip(),
            description=draft.description,
            recurring_interval=draft.recurring.interval if draft.recurring else None,
            recurring_count=effective_count(draft.recurring) if draft.recurring else None,
            trial_interval=draft.trial.interval if draft.trial else None,
            trial_count=effective_count(draft.trial) if draft.trial else None,
            metadata_=draft.metadata,
            public_metadata=draft.public_metadata,
            archived_at=now if draft.archived else None,
            created_at=now,
            updated_at=now,
        )
        rows = [new_price_row(self._scope, product, price) for price in draft.prices]
        await self._products.add(product)  # first: the prices' foreign key needs it
        await self._prices.add(*rows)
        view = ProductView(product, rows)
        await events.product_created(self._scope.outbox, view)
        for row in rows:
            await events.price_created(self._scope.outbox, row)
        return view

    async def get(self, product_id: uuid.UUID) -> ProductView:
        product = await self._products.get(self._scope.organization_id, product_id)
        if product is None:
            raise NotFound("product", str(product_id))
        return (await self._with_prices([product]))[0]

    async def list_page(
        self,
        page: PageRequest,
        *,
        archived: bool | None,
        recurring: bool | None,
        query_text: str | None,
    ) -> ProductPage:
        rows = await self._products.list_page(
            self._scope.organization_id,
            limit=page.fetch_size,
            before_id=page.after,
            archived=archived,
            recurring=recurring,
            query_text=query_text,
        )
        rows, token = page.cut(rows)
        return ProductPage(await self._with_prices(rows), token)

    async def update(
        self, product_id: uuid.UUID, draft: ProductDraft, paths: Sequence[str]
    ) -> ProductView:
        """Applies the masked fields; archiving announces `product.archived`."""
        product = await self._products.get(self._scope.organization_id, product_id, for_update=True)
        if product is None:
            raise NotFound("product", str(product_id))
        violations = Violations()
        _check_fields(violations, draft, paths, recurring=product.recurring_interval is not None)
        violations.raise_if_any()
        changed = _apply(product, draft, paths)
        if not changed:
            return (await self._with_prices([product]))[0]
        product.updated_at = self._scope.clock.now()
        if "archived" in changed:
            product.archived_at = product.updated_at if draft.archived else None
        await self._products.flush()
        view = (await self._with_prices([product]))[0]
        if "archived" in changed and draft.archived:
            await events.product_archived(self._scope.outbox, view)
            changed.remove("archived")
        if changed:
            await events.product_updated(self._scope.outbox, view, changed)
        return view

    async def _with_prices(self, products: Sequence[Product]) -> list[ProductView]:
        prices = await self._prices.active_by_product(
            self._scope.organization_id, [p.id for p in products]
        )
        return [ProductView(product, prices.get(product.id, [])) for product in products]


def _check_fields(
    violations: Violations, draft: ProductDraft, paths: Sequence[str], *, recurring: bool
) -> None:
    for path in paths:
        if path in FIXED_FIELDS:
            violations.add(f"product.{path}", FIXED_FIELDS[path])
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


def _apply(product: Product, draft: ProductDraft, paths: Sequence[str]) -> list[str]:
    """Sets the masked fields that differ; returns the paths that changed."""
    wanted: dict[str, tuple[str, object]] = {
        "name": ("name", draft.name.strip()),
        "description": ("description", draft.description),
        "metadata": ("metadata_", draft.metadata),
        "public_metadata": ("public_metadata", draft.public_metadata),
    }
    changed: list[str] = []
    for path in paths:
        if path in wanted:
            attribute, value = wanted[path]
            if getattr(product, attribute) != value:
                setattr(product, attribute, value)
                changed.append(path)
        elif path == "trial":
            interval = draft.trial.interval if draft.trial else None
            count = effective_count(draft.trial) if draft.trial else None
            if (product.trial_interval, product.trial_count) != (interval, count):
                product.trial_interval, product.trial_count = interval, count
                changed.append(path)
        elif path == "archived" and (product.archived_at is not None) != draft.archived:
            changed.append(path)
    return changed
