"""Discounts: percentage or fixed amounts off, for a duration, optionally
behind a code, limited in time, in redemptions and to some products.

Redemptions lock the discount row, so concurrent redemptions queue instead of
overtaking one another: `max_redemptions` is never exceeded (and a database
constraint says so too)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from billingos_catalog import events
from billingos_catalog.errors import CodeTaken
from billingos_catalog.models import Discount, DiscountRedemption
from billingos_catalog.repository import (
    CustomerDirectory,
    DiscountRepository,
    ProductRepository,
)
from billingos_kit.db import violated_constraint
from billingos_kit.errors import FailedPrecondition, NotFound
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.pagination import PageRequest
from billingos_kit.protoconv import MetadataValue
from billingos_kit.validation import TextPattern, Violations, check_metadata, check_text
from billingos_pricing.amounts import BASIS_POINTS_IN_WHOLE
from billingos_pricing.currencies import UnknownCurrency, normalize_currency

# The unique index that keeps codes unique per organization (models.py).
CODE_INDEX = "uq_discounts_organization_id_code_live"
CODE_PATTERN = TextPattern(r"[A-Za-z0-9_-]{3,64}", "3 to 64 letters, digits, '-' or '_'")
DURATIONS = ("once", "repeating", "forever")
MAX_REPEATING_INTERVALS = 120
MAX_NAME_LENGTH = 256
MAX_REFERENCE_LENGTH = 256
MAX_AMOUNT_OFF_MINOR = 10**12
MAX_PRODUCT_IDS = 100
UPDATABLE_FIELDS = (
    "name",
    "code",
    "max_redemptions",
    "start_time",
    "end_time",
    "product_ids",
    "metadata",
)
FIXED_FIELDS = ("percent_off", "amount_off", "duration", "duration_in_intervals")


class Ineligibility:
    """Why a discount does not apply (API enum names without their prefix)."""

    NOT_STARTED = "NOT_STARTED"
    EXPIRED = "EXPIRED"
    MAX_REDEMPTIONS_REACHED = "MAX_REDEMPTIONS_REACHED"
    PRODUCT_NOT_ELIGIBLE = "PRODUCT_NOT_ELIGIBLE"
    CURRENCY_NOT_SUPPORTED = "CURRENCY_NOT_SUPPORTED"


@dataclass(frozen=True)
class DiscountDraft:
    name: str = ""
    code: str = ""
    basis_points: int | None = None
    amounts_off: Sequence[tuple[str, int]] | None = None  # (currency, amount_minor)
    duration: str | None = None
    duration_in_intervals: int = 0
    max_redemptions: int | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    product_ids: Sequence[str] = field(default_factory=tuple)
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True)
class DiscountPage:
    discounts: Sequence[Discount]
    next_page_token: str


@dataclass(frozen=True)
class Validation:
    discount: Discount
    ineligibility: str | None  # None: applies


def ineligibility(
    discount: Discount, product_id: uuid.UUID, currency: str, moment: dt.datetime
) -> str | None:
    """Why `discount` does not apply to this purchase, or None if it does."""
    if discount.starts_at is not None and moment < discount.starts_at:
        return Ineligibility.NOT_STARTED
    if discount.ends_at is not None and moment >= discount.ends_at:
        return Ineligibility.EXPIRED
    if (
        discount.max_redemptions is not None
        and discount.redemption_count >= discount.max_redemptions
    ):
        return Ineligibility.MAX_REDEMPTIONS_REACHED
    if discount.product_ids and product_id not in discount.product_ids:
        return Ineligibility.PRODUCT_NOT_ELIGIBLE
    if discount.amounts_off is not None and currency not in discount.amounts_off:
        return Ineligibility.CURRENCY_NOT_SUPPORTED
    return None


class DiscountService:
    """Discounts of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._discounts = DiscountRepository(scope.session)
        self._products = ProductRepository(scope.session)
        self._customers = CustomerDirectory(scope.session)

    async def create(self, draft: DiscountDraft) -> Discount:
        violations = Violations()
        _check_effect(violations, draft)
        _check_fields(violations, draft, UPDATABLE_FIELDS)
        violations.raise_if_any()
        product_ids = await self._owned_products(draft.product_ids)
        organization_id = self._scope.organization_id
        if draft.code and await self._discounts.get_live_by_code(organization_id, draft.code):
            raise CodeTaken("discount.code")
        now = self._scope.clock.now()
        discount = Discount(
            id=new_id(self._scope.clock),
            organization_id=organization_id,
            name=draft.name.strip(),
            code=draft.code or None,
            basis_points=draft.basis_points,
            amounts_off=(
                {normalize_currency(c): a for c, a in draft.amounts_off}
                if draft.amounts_off is not None
                else None
            ),
            duration=draft.duration,
            duration_in_intervals=(
                draft.duration_in_intervals if draft.duration == "repeating" else None
            ),
            max_redemptions=draft.max_redemptions,
            redemption_count=0,
            starts_at=draft.starts_at,
            ends_at=draft.ends_at,
            product_ids=product_ids,
            metadata_=draft.metadata,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        try:
            await self._discounts.add(discount)
        except IntegrityError as error:
            if violated_constraint(error) == CODE_INDEX:
                raise CodeTaken("discount.code") from None
            raise
        await events.discount_created(self._scope.outbox, discount)
        return discount

    async def get(self, discount_id: uuid.UUID) -> Discount:
        discount = await self._discounts.get(self._scope.organization_id, discount_id)
        if discount is None:
            raise NotFound("discount", str(discount_id))
        return discount

    async def list_page(self, page: PageRequest, *, code: str | None) -> DiscountPage:
        rows = await self._discounts.list_page(
            self._scope.organization_id, limit=page.fetch_size, before_id=page.after, code=code
        )
        return DiscountPage(*page.cut(rows))

    async def update(
        self, discount_id: uuid.UUID, draft: DiscountDraft, paths: Sequence[str]
    ) -> Discount:
        violations = Violations()
        for path in paths:
            if path in FIXED_FIELDS:
                violations.add(
                    f"discount.{path}", "cannot change once created; create a new discount"
                )
        _check_fields(violations, draft, paths)
        violations.raise_if_any()
        organization_id = self._scope.organization_id
        discount = await self._discounts.get(organization_id, discount_id, for_update=True)
        if discount is None:
            raise NotFound("discount", str(discount_id))
        wanted: dict[str, tuple[str, object]] = {
            "name": ("name", draft.name.strip()),
            "code": ("code", draft.code or None),
            "max_redemptions": ("max_redemptions", draft.max_redemptions),
            "start_time": ("starts_at", draft.starts_at),
            "end_time": ("ends_at", draft.ends_at),
            "metadata": ("metadata_", draft.metadata),
        }
        if "product_ids" in paths:
            wanted["product_ids"] = ("product_ids", await self._owned_products(draft.product_ids))
        changed = [p for p in paths if getattr(discount, wanted[p][0]) != wanted[p][1]]
        if not changed:
            return discount
        _check_window(
            violations,
            wanted["start_time"][1] if "start_time" in paths else discount.starts_at,
            wanted["end_time"][1] if "end_time" in paths else discount.ends_at,
        )
        new_limit = wanted["max_redemptions"][1] if "max_redemptions" in paths else None
        if isinstance(new_limit, int) and new_limit < discount.redemption_count:
            violations.add(
                "discount.max_redemptions",
                f"already redeemed {discount.redemption_count} times",
            )
        violations.raise_if_any()
        new_code = wanted["code"][1]
        if "code" in changed and isinstance(new_code, str):
            holder = await self._discounts.get_live_by_code(organization_id, new_code)
            if holder is not None and holder.id != discount.id:
                raise CodeTaken("discount.code")
        for path in changed:
            setattr(discount, wanted[path][0], wanted[path][1])
        discount.updated_at = self._scope.clock.now()
        try:
            await self._discounts.flush()
        except IntegrityError as error:
            if violated_constraint(error) == CODE_INDEX:
                raise CodeTaken("discount.code") from None
            raise
        await events.discount_updated(self._scope.outbox, discount, changed)
        return discount

    async def delete(self, discount_id: uuid.UUID) -> Discount:
        discount = await self._discounts.get(
            self._scope.organization_id, discount_id, for_update=True
        )
        if discount is None:
            raise NotFound("discount", str(discount_id))
        now = self._scope.clock.now()
        discount.deleted_at = now
        discount.updated_at = now
        await self._discounts.flush()
        await events.discount_deleted(self._scope.outbox, discount)
        return discount

    async def validate(
        self,
        *,
        code: str,
        discount_id: uuid.UUID | None,
        product_id: uuid.UUID,
        currency: str,
        moment: dt.datetime | None,
    ) -> Validation:
        discount = await self._find(code, discount_id)
        when = moment or self._scope.clock.now()
        return Validation(discount, ineligibility(discount, product_id, currency, when))

    async def redeem(
        self,
        discount_id: uuid.UUID,
        *,
        product_id: uuid.UUID,
        currency: str,
        reference: str,
        customer_id: uuid.UUID | None,
    ) -> DiscountRedemption:
        """Counts one use; the same reference again returns the first redemption.
        The product and the customer must be this organization's: a redemption
        naming anything else would use up a limited discount for nothing."""
        organization_id = self._scope.organization_id
        discount = await self._discounts.get(organization_id, discount_id, for_update=True)
        if discount is None:
            raise NotFound("discount", str(discount_id))
        earlier = await self._discounts.redemption_for(organization_id, discount.id, reference)
        if earlier is not None:
            return earlier
        if not await self._products.existing_ids(organization_id, [product_id]):
            raise NotFound("product", str(product_id))
        if customer_id is not None and not await self._customers.is_live(
            organization_id, customer_id
        ):
            raise NotFound("customer", str(customer_id))
        reason = ineligibility(discount, product_id, currency, self._scope.clock.now())
        if reason is not None:
            raise FailedPrecondition(
                f"discount does not apply: {reason.lower().replace('_', ' ')}",
                reason=f"DISCOUNT_{reason}",
            )
        now = self._scope.clock.now()
        discount.redemption_count += 1
        discount.updated_at = now
        redemption = DiscountRedemption(
            id=new_id(self._scope.clock),
            organization_id=organization_id,
            discount_id=discount.id,
            reference=reference,
            customer_id=customer_id,
            redeemed_at=now,
        )
        await self._discounts.add_redemption(redemption)
        # Read copies of the discount learn its new count (and whether it is used up).
        await events.discount_updated(self._scope.outbox, discount, ["redemption_count"])
        return redemption

    async def _find(self, code: str, discount_id: uuid.UUID | None) -> Discount:
        organization_id = self._scope.organization_id
        if discount_id is not None:
            found = await self._discounts.get(organization_id, discount_id)
        elif CODE_PATTERN.matches(code):
            found = await self._discounts.get_live_by_code(organization_id, code)
        else:
            found = None  # no discount can have such a code
        if found is None:
            raise NotFound("discount", str(discount_id) if discount_id else code)
        return found

    async def _owned_products(self, raw_ids: Sequence[str]) -> list[uuid.UUID]:
        """Parses product ids and checks they are this organization's."""
        violations = Violations()
        if len(raw_ids) > MAX_PRODUCT_IDS:
            violations.add("discount.product_ids", f"must name at most {MAX_PRODUCT_IDS} products")
            violations.raise_if_any()
        parsed: list[uuid.UUID] = []
        for index, raw in enumerate(raw_ids):
            product_id = canonical_id(raw)
            if product_id is None:
                violations.add(
                    f"discount.product_ids[{index}]", "must be a product id (canonical UUID form)"
                )
            else:
                parsed.append(product_id)
        violations.raise_if_any()
        owned = await self._products.existing_ids(self._scope.organization_id, parsed)
        for index, product_id in enumerate(parsed):
            if product_id not in owned:
                violations.add(f"discount.product_ids[{index}]", "no such product")
        violations.raise_if_any()
        return list(dict.fromkeys(parsed))


def _check_effect(violations: Violations, draft: DiscountDraft) -> None:
    if draft.basis_points is None and draft.amounts_off is None:
        violations.add("discount.effect", "one of percent_off or amount_off is required")
    if draft.basis_points is not None and not 0 < draft.basis_points <= BASIS_POINTS_IN_WHOLE:
        violations.add(
            "discount.percent_off.basis_points", "must be between 1 and 10000 (0.01 % to 100 %)"
        )
    if draft.amounts_off is not None:
        _check_amounts_off(violations, draft.amounts_off)
    if draft.duration not in DURATIONS:
        violations.add(
            "discount.duration", "must be DISCOUNT_DURATION_ONCE, _REPEATING or _FOREVER"
        )
    elif draft.duration == "repeating":
        if not 1 <= draft.duration_in_intervals <= MAX_REPEATING_INTERVALS:
            violations.add(
                "discount.duration_in_intervals",
                f"must be between 1 and {MAX_REPEATING_INTERVALS} for a repeating discount",
            )
    elif draft.duration_in_intervals:
        violations.add("discount.duration_in_intervals", "only for a repeating discount")


def _check_amounts_off(violations: Violations, amounts: Sequence[tuple[str, int]]) -> None:
    field_name = "discount.amount_off.amounts"
    if not amounts:
        violations.add(field_name, "must name at least one currency")
    seen: set[str] = set()
    for index, (currency, amount) in enumerate(amounts):
        try:
            code = normalize_currency(currency)
        except UnknownCurrency:
            violations.add(f"{field_name}[{index}].currency", "must be an ISO 4217 code")
            continue
        if code in seen:
            violations.add(f"{field_name}[{index}].currency", "appears twice")
        seen.add(code)
        if not 0 < amount <= MAX_AMOUNT_OFF_MINOR:
            violations.add(
                f"{field_name}[{index}].amount_minor",
                f"must be between 1 and {MAX_AMOUNT_OFF_MINOR}",
            )


def _check_fields(violations: Violations, draft: DiscountDraft, paths: Sequence[str]) -> None:
    if "name" in paths:
        check_text(
            violations, "discount.name", draft.name, max_length=MAX_NAME_LENGTH, required=True
        )
    if "code" in paths and draft.code:
        CODE_PATTERN.check(violations, "discount.code", draft.code)
    limit = draft.max_redemptions
    if "max_redemptions" in paths and limit is not None and limit < 1:
        violations.add("discount.max_redemptions", "must be at least 1 (unset for no limit)")
    if "start_time" in paths and "end_time" in paths:
        _check_window(violations, draft.starts_at, draft.ends_at)
    if "metadata" in paths:
        check_metadata(violations, "discount.metadata", draft.metadata)


def _check_window(violations: Violations, starts_at: object, ends_at: object) -> None:
    if (
        isinstance(starts_at, dt.datetime)
        and isinstance(ends_at, dt.datetime)
        and ends_at <= starts_at
    ):
        violations.add("discount.end_time", "must be after start_time")
