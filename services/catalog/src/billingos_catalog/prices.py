"""Prices: what a product costs in a currency. The rules of each amount type,
and the operations. A price is never edited: archive it and create another,
so subscriptions keep what they bought."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from billingos_catalog import events
from billingos_catalog.models import Price, Product
from billingos_catalog.periods import PeriodSpec, check_period, effective_count
from billingos_catalog.repository import PriceRepository, ProductRepository
from billingos_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.pagination import PageRequest
from billingos_kit.validation import Violations
from billingos_pricing.amounts import (
    MAX_AMOUNT_MINOR,
    PricingError,
    SeatTier,
    check_custom_amounts,
    check_seat_tiers,
    parse_unit_amount,
)
from billingos_pricing.currencies import UnknownCurrency, normalize_currency

AMOUNT_TYPES = ("fixed", "free", "custom", "metered_unit", "seat_based")
TIER_MODES = ("volume", "graduated")
MAX_SEAT_TIERS = 50


@dataclass(frozen=True)
class PriceDraft:
    """A price as a request gives it; `amount_type` None when none was chosen."""

    currency: str
    recurring: PeriodSpec | None = None
    amount_type: str | None = None
    amount_minor: int = 0
    minimum_amount_minor: int = 0
    maximum_amount_minor: int | None = None
    preset_amount_minor: int | None = None
    unit_amount: str = ""
    meter_id: str = ""
    cap_amount_minor: int | None = None
    tier_mode: str | None = None
    tiers: Sequence[SeatTier] = field(default_factory=tuple)


@dataclass(frozen=True)
class PricePage:
    prices: Sequence[Price]
    next_page_token: str


def check_price(
    violations: Violations, at: str, draft: PriceDraft, product_recurring: bool
) -> None:
    """Every rule of a price on a product, reported under the request path `at`."""
    try:
        normalize_currency(draft.currency)
    except UnknownCurrency:
        violations.add(f"{at}.currency", "must be an ISO 4217 code BillingOS supports, e.g. USD")
    if draft.recurring is not None:
        if product_recurring:
            check_period(violations, f"{at}.recurring", draft.recurring)
        else:
            violations.add(f"{at}.recurring", "prices of a one-time product have no billing period")
    if draft.amount_type is None:
        violations.add(
            f"{at}.amount", f"one of {', '.join(AMOUNT_TYPES)} is required (the price's type)"
        )
        return
    if draft.amount_type == "fixed":
        if draft.amount_minor <= 0:
            violations.add(
                f"{at}.fixed.amount_minor", "must be greater than 0 (use a free price for 0)"
            )
        elif draft.amount_minor > MAX_AMOUNT_MINOR:
            violations.add(f"{at}.fixed.amount_minor", f"must be at most {MAX_AMOUNT_MINOR}")
    elif draft.amount_type == "custom":
        for problem in check_custom_amounts(
            draft.minimum_amount_minor,
            draft.maximum_amount_minor,
            draft.preset_amount_minor,
            f"{at}.custom",
        ):
            violations.add(problem.field, problem.message)
    elif draft.amount_type == "metered_unit":
        _check_metered(violations, f"{at}.metered_unit", draft, product_recurring)
    elif draft.amount_type == "seat_based":
        if draft.tier_mode not in TIER_MODES:
            violations.add(f"{at}.seat_based.tier_mode", "must be TIER_MODE_VOLUME or _GRADUATED")
        if len(draft.tiers) > MAX_SEAT_TIERS:
            violations.add(f"{at}.seat_based.tiers", f"must have at most {MAX_SEAT_TIERS} tiers")
            return
        for problem in check_seat_tiers(draft.tiers, f"{at}.seat_based.tiers"):
            violations.add(problem.field, problem.message)


def _check_metered(
    violations: Violations, at: str, draft: PriceDraft, product_recurring: bool
) -> None:
    if not product_recurring:
        violations.add(at, "metered prices need a recurring product (usage is billed per period)")
    try:
        parse_unit_amount(draft.unit_amount, f"{at}.unit_amount")
    except PricingError as problem:
        violations.add(problem.field, problem.message)
    if canonical_id(draft.meter_id) is None:
        violations.add(f"{at}.meter_id", "must be a meter id (canonical UUID form)")
    if draft.cap_amount_minor is not None and not 0 < draft.cap_amount_minor <= MAX_AMOUNT_MINOR:
        violations.add(f"{at}.cap_amount_minor", f"must be between 1 and {MAX_AMOUNT_MINOR}")


def new_price_row(scope: CallScope, product: Product, draft: PriceDraft) -> Price:
    """The row for a checked draft."""
    recurring = draft.recurring
    interval = count = None
    if product.recurring_interval is not None:
        interval = recurring.interval if recurring else product.recurring_interval
        count = effective_count(recurring) if recurring else product.recurring_count
    kind = draft.amount_type
    return Price(
        id=new_id(scope.clock),
        organization_id=product.organization_id,
        product_id=product.id,
        amount_type=kind,
        currency=normalize_currency(draft.currency),
        recurring_interval=interval,
        recurring_count=count,
        amount_minor=draft.amount_minor if kind == "fixed" else None,
        minimum_amount_minor=draft.minimum_amount_minor if kind == "custom" else None,
        maximum_amount_minor=draft.maximum_amount_minor if kind == "custom" else None,
        preset_amount_minor=draft.preset_amount_minor if kind == "custom" else None,
        unit_amount=parse_unit_amount(draft.unit_amount) if kind == "metered_unit" else None,
        meter_id=uuid.UUID(draft.meter_id) if kind == "metered_unit" else None,
        cap_amount_minor=draft.cap_amount_minor if kind == "metered_unit" else None,
        tier_mode=draft.tier_mode if kind == "seat_based" else None,
        seat_tiers=[
            {
                "from_seats": tier.from_seats,
                "to_seats": tier.to_seats,
                "amount_per_seat_minor": tier.amount_per_seat_minor,
            }
            for tier in draft.tiers
        ]
        if kind == "seat_based"
        else None,
        archived_at=None,
        created_at=scope.clock.now(),
    )


class PriceService:
    """Prices of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._prices = PriceRepository(scope.session)
        self._products = ProductRepository(scope.session)

    async def create(self, product_id: uuid.UUID, draft: PriceDraft) -> Price:
        product = await self._products.get(self._scope.organization_id, product_id, for_update=True)
        if product is None:
            raise NotFound("product", str(product_id))
        if product.archived_at is not None:
            raise FailedPrecondition(
                "product_id: the product is archived; unarchive it to add prices",
                reason="PRODUCT_ARCHIVED",
            )
        violations = Violations()
        check_price(violations, "price", draft, product.recurring_interval is not None)
        violations.raise_if_any()
        price = new_price_row(self._scope, product, draft)
        await self._prices.add(price)
        await events.price_created(self._scope.outbox, price)
        return price

    async def get(self, price_id: uuid.UUID) -> Price:
        price = await self._prices.get(self._scope.organization_id, price_id)
        if price is None:
            raise NotFound("price", str(price_id))
        return price

    async def list_page(
        self, product_id: uuid.UUID, page: PageRequest, *, archived: bool | None
    ) -> PricePage:
        organization_id = self._scope.organization_id
        if await self._products.get(organization_id, product_id) is None:
            raise NotFound("product", str(product_id))
        rows = await self._prices.list_page(
            organization_id,
            product_id,
            limit=page.fetch_size,
            before_id=page.after,
            archived=archived,
        )
        return PricePage(*page.cut(rows))

    async def archive(self, price_id: uuid.UUID, paths: Sequence[str], archived: bool) -> Price:
        """The only change a price accepts: being archived, once."""
        extra = [path for path in paths if path != "archived"]
        if extra:
            raise InvalidArgument(
                "update_mask",
                f"{', '.join(extra)}: prices cannot be edited; archive this price and create a "
                "new one (subscriptions keep the price they bought)",
                reason="PRICE_IMMUTABLE",
            )
        price = await self._prices.get(self._scope.organization_id, price_id, for_update=True)
        if price is None:
            raise NotFound("price", str(price_id))
        if price.archived_at is not None:
            raise FailedPrecondition(
                "price: archived prices cannot be changed", reason="PRICE_ARCHIVED"
            )
        if "archived" not in paths or not archived:
            return price
        price.archived_at = self._scope.clock.now()
        await self._prices.flush()
        await events.price_archived(self._scope.outbox, price)
        return price
