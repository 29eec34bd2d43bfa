"""Discounts (discounts.proto): percentage or fixed amounts off, for a
duration, optionally behind a code, limited in time, in redemptions and to
some products. Works in the caller's scope; raises domain errors; knows no
protobuf. The rules themselves are in discount_rules.py.

A code is unique per organization among live discounts (the unique index
decides: of concurrent creates one wins and the others are told
DISCOUNT_CODE_ALREADY_EXISTS on `discount.code`) and never a promotion
code's spelling (codes.py). Redemptions lock the discount row (and the
promotion code's), so concurrent redemptions queue instead of overtaking one
another: neither `max_redemptions` is ever exceeded (constraints say so too).
A redemption naming an unknown product, customer or promotion code is
refused before anything is counted.

First-purchase-only promotion codes expect this order: the checkout redeems
the code, then the billing engine records the purchase (RecordPurchase). A
customer is no longer new once they have a recorded purchase or any
redemption of a first-purchase-only code of the organization (any
discount's): the second covers the time between a checkout and its recorded
purchase, and an abandoned checkout still counts (its redemption stays).
Such redemptions take a per-customer transaction lock first (repository's
lock_first_purchase), so two at once cannot both see a new customer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from billingos_catalog import events
from billingos_catalog.codes import claim_code
from billingos_catalog.discount_rules import (
    CODE_PATTERN,
    MAX_PRODUCT_IDS,
    check_effect,
    check_fields,
    check_list_code,
    check_lookup,
    check_window,
    ineligibility,
    purchase_currency,
    redemption_reference,
    refusal,
)
from billingos_catalog.drafts import DiscountDraft, DiscountLookup, Order, RedemptionDraft
from billingos_catalog.models import Discount, DiscountRedemption, KnownCustomer, PromotionCode
from billingos_catalog.promotion_rules import code_ineligibility
from billingos_catalog.repository import (
    DiscountFilter,
    DiscountRepository,
    KnownCustomers,
    ProductRepository,
    PromotionCodeRepository,
    PurchaseRepository,
    RedemptionRepository,
)
from billingos_catalog.vocabulary import DiscountDuration, Ineligibility
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.errors import InvalidArgument
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.repository import apply_changes
from billingos_kit.validation import Violations
from billingos_kit.workscope import WorkScope
from billingos_pricing.currencies import normalize_currency

_TAKES_OFF = "cannot change once created; create a new discount"
DISCOUNT_MASK = UpdateMask(
    "discount",
    updatable=(
        "name",
        "code",
        "max_redemptions",
        "start_time",
        "end_time",
        "product_ids",
        "metadata",
    ),
    immutable={
        "percent_off": _TAKES_OFF,
        "amount_off": _TAKES_OFF,
        "duration": _TAKES_OFF,
        "duration_in_intervals": _TAKES_OFF,
        "duration_in_months": _TAKES_OFF,
    },
)
# API paths whose column is named otherwise.
_COLUMNS = {"start_time": "starts_at", "end_time": "ends_at"}


@dataclass(frozen=True)
class Validation:
    discount: Discount
    ineligibility: Ineligibility | None  # None: applies
    promotion_code: PromotionCode | None = None  # the code the lookup named


class DiscountService:
    """Discounts of the scope's organization."""

    def __init__(self, scope: WorkScope, directory: CustomerDirectory | None = None) -> None:
        self._scope = scope
        self._directory = directory
        self._discounts = DiscountRepository(scope)
        self._redemptions = RedemptionRepository(scope)
        self._products = ProductRepository(scope)
        self._customers = KnownCustomers(scope)
        self._codes = PromotionCodeRepository(scope)
        self._purchases = PurchaseRepository(scope)

    async def create(self, draft: DiscountDraft) -> Discount:
        """Creates a discount for products of this organization (all of them
        when none is named); announces `discount.created`."""
        violations = Violations()
        check_effect(violations, draft)
        check_fields(violations, draft, DISCOUNT_MASK.updatable)
        violations.raise_if_any()
        assert draft.duration is not None  # check_effect refuses a draft without
        product_ids = await self._owned_products(draft.product_ids)
        if draft.code:
            await claim_code(self._discounts, self._codes, draft.code, "discount.code")
        now = self._scope.clock.now()
        repeating = draft.duration is DiscountDuration.REPEATING
        discount = Discount(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            name=draft.name.strip(),
            code=draft.code or None,
            basis_points=draft.basis_points,
            amounts_off=(
                {normalize_currency(c): a for c, a in draft.amounts_off}
                if draft.amounts_off is not None
                else None
            ),
            duration=draft.duration,
            duration_in_intervals=None,
            duration_in_months=draft.duration_in_months if repeating else None,
            max_redemptions=draft.max_redemptions,
            redemption_count=0,
            starts_at=draft.starts_at,
            ends_at=draft.ends_at,
            product_ids=product_ids,
            metadata=draft.metadata,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        await self._discounts.insert(discount)
        await self._scope.outbox.add(events.discount_created(discount))
        return discount

    async def get(self, discount_id: uuid.UUID, *, for_update: bool = False) -> Discount:
        """A live discount; changes nothing (`for_update` locks it for the
        update that follows in the same call)."""
        return await self._discounts.require(discount_id, for_update=for_update)

    async def list_page(self, where: DiscountFilter, page: PageRequest) -> Page[Discount]:
        """One page of live discounts, newest first (with a code filter, the
        one discount holding it); changes nothing."""
        check_list_code(where.code)
        return await self._discounts.page(where, page)

    async def update(
        self, discount_id: uuid.UUID, draft: DiscountDraft, paths: Sequence[str]
    ) -> Discount:
        """Applies the fields named in `paths` (DISCOUNT_MASK's); announces
        `discount.updated` with the paths that changed, nothing if none did.
        The limit cannot go below the redemptions so far; a code taken by a
        live discount is refused by the unique index."""
        violations = Violations()
        check_fields(violations, draft, paths)
        violations.raise_if_any()
        discount = await self._discounts.require(discount_id, for_update=True)
        wanted: dict[str, object] = {
            "name": draft.name.strip(),
            "code": draft.code or None,
            "max_redemptions": draft.max_redemptions,
            "start_time": draft.starts_at,
            "end_time": draft.ends_at,
            "metadata": draft.metadata,
        }
        if "product_ids" in paths:
            wanted["product_ids"] = await self._owned_products(draft.product_ids)
        values = {_COLUMNS.get(path, path): wanted[path] for path in paths}
        if not any(getattr(discount, column) != value for column, value in values.items()):
            return discount
        check_window(
            violations,
            _moment(values, "starts_at", discount.starts_at),
            _moment(values, "ends_at", discount.ends_at),
        )
        limit = values.get("max_redemptions")
        if isinstance(limit, int) and limit < discount.redemption_count:
            violations.add(
                "discount.max_redemptions", f"already redeemed {discount.redemption_count} times"
            )
        violations.raise_if_any()
        new_code = values.get("code")
        if isinstance(new_code, str) and new_code != discount.code:
            await claim_code(
                self._discounts, self._codes, new_code, "discount.code", holder=discount.id
            )
        changed_columns = apply_changes(discount, values)
        discount.updated_at = self._scope.clock.now()
        await self._discounts.update(discount, [*changed_columns, "updated_at"])
        changed = [path for path in paths if _COLUMNS.get(path, path) in changed_columns]
        await self._scope.outbox.add(events.discount_updated(discount, changed))
        return discount

    async def delete(self, discount_id: uuid.UUID) -> Discount:
        """Soft-deletes; its code becomes free, its promotion codes are
        archived (freeing theirs), its redemptions stay. Announces
        `discount.deleted` and `promotion_code.updated` for each code."""
        discount = await self._discounts.require(discount_id, for_update=True)
        now = self._scope.clock.now()
        await self._discounts.soft_delete(discount, now)
        await self._scope.outbox.add(events.discount_deleted(discount))
        for code in await self._codes.archive_of_discount(discount.id, now):
            await self._scope.outbox.add(events.promotion_code_updated(code, ["archived"]))
        return discount

    async def validate(self, lookup: DiscountLookup, order: Order) -> Validation:
        """Whether the discount (by id, or by its code or a promotion code's,
        in any case) applies to the order at its moment (now when none is
        given): the discount's rules, then the promotion code's. Changes
        nothing."""
        check_lookup(lookup)
        currency = purchase_currency(order.currency)
        _check_amount(order)
        discount, code = await self._find(lookup)
        await self._require_customer(order)
        when = order.moment or self._scope.clock.now()
        reason = ineligibility(discount, order.product_id, currency, when)
        if reason is None and code is not None:
            reason = await self._code_ineligibility(code, order, currency, when)
        return Validation(discount, reason, code)

    async def redeem(self, discount_id: uuid.UUID, draft: RedemptionDraft) -> DiscountRedemption:
        """Counts one use (of the discount, and of the promotion code if one
        is named) and announces `discount.updated` (and
        `promotion_code.updated`) with the new `redemption_count`; the same
        reference again returns the first redemption and changes nothing,
        unless that use was given back (`release`): then it is redeemed anew,
        every rule checked and counted as a new use is. The
        product, the customer (a live one) and the promotion code (one of this
        discount's) must exist: a redemption naming anything else would use
        up a limited discount for nothing."""
        reference = redemption_reference(draft.reference)
        order = draft.order
        currency = purchase_currency(order.currency)
        _check_amount(order)
        discount = await self._discounts.require(discount_id, for_update=True)
        earlier = await self._redemptions.find(discount.id, reference)
        if earlier is not None and earlier.released_at is None:
            return earlier
        code = await self._redeemed_code(discount, draft.promotion_code_id)
        if not await self._products.existing_ids([order.product_id]):
            raise self._products.not_found(str(order.product_id))
        await self._require_customer(order)
        if code is not None and code.first_purchase_only and order.customer_id is not None:
            # Before looking: the customer's first-purchase redemptions take turns.
            await self._redemptions.lock_first_purchase(order.customer_id)
        now = self._scope.clock.now()
        reason = ineligibility(discount, order.product_id, currency, now)
        if reason is None and code is not None:
            reason = await self._code_ineligibility(code, order, currency, now, reference)
        if reason is not None:
            raise refusal(reason)
        discount.redemption_count += 1
        discount.updated_at = now
        redemption = DiscountRedemption(
            id=new_id(self._scope.clock) if earlier is None else earlier.id,
            organization_id=self._scope.organization_id,
            discount_id=discount.id,
            reference=reference,
            customer_id=order.customer_id,
            redeemed_at=now,
            promotion_code_id=code.id if code is not None else None,
        )
        await self._discounts.update(discount, ["redemption_count", "updated_at"])
        if code is not None:
            code.redemption_count += 1
            code.updated_at = now
            await self._codes.update(code, ["redemption_count", "updated_at"])
        if earlier is None:
            await self._redemptions.insert(redemption)
        else:
            # Its row is the reference's (unique): the use taken again.
            await self._redemptions.update(
                redemption, ["customer_id", "redeemed_at", "promotion_code_id", "released_at"]
            )
        # Read copies learn the new counts (and whether a limit is reached).
        await self._scope.outbox.add(events.discount_updated(discount, ["redemption_count"]))
        if code is not None:
            await self._scope.outbox.add(events.promotion_code_updated(code, ["redemption_count"]))
        return redemption

    async def release(self, reference: str) -> list[DiscountRedemption]:
        """Gives back every use redeemed under `reference` (what redeemed it
        was abandoned unpaid): each discount's, and its promotion code's,
        `redemption_count` goes down by one, announced as a redemption's is.
        A use given back already is left as it is, so a repeat changes
        nothing. Returns the redemptions released now."""
        released = []
        for found in await self._redemptions.unreleased_of(reference):
            # The discount's lock, then the code's, as a redemption takes them.
            discount = await self._discounts.get(found.discount_id, for_update=True)
            redemption = await self._redemptions.find(found.discount_id, reference)
            if redemption is None or redemption.released_at is not None:
                continue
            now = self._scope.clock.now()
            redemption.released_at = now
            await self._redemptions.update(redemption, ["released_at"])
            released.append(redemption)
            if discount is None:
                # Deleted since: nothing counts it any more, but a released
                # first-purchase redemption no longer makes a returning customer.
                continue
            discount.redemption_count = max(0, discount.redemption_count - 1)
            discount.updated_at = now
            await self._discounts.update(discount, ["redemption_count", "updated_at"])
            await self._scope.outbox.add(events.discount_updated(discount, ["redemption_count"]))
            if redemption.promotion_code_id is not None:
                code = await self._codes.get(redemption.promotion_code_id, for_update=True)
                if code is not None:
                    code.redemption_count = max(0, code.redemption_count - 1)
                    code.updated_at = now
                    await self._codes.update(code, ["redemption_count", "updated_at"])
                    await self._scope.outbox.add(
                        events.promotion_code_updated(code, ["redemption_count"])
                    )
        return released

    async def _redeemed_code(
        self, discount: Discount, code_id: uuid.UUID | None
    ) -> PromotionCode | None:
        """The promotion code a redemption names, locked; NotFound unless it
        is one of the discount's."""
        if code_id is None:
            return None
        code = await self._codes.get(code_id, for_update=True)
        if code is None or code.discount_id != discount.id:
            raise self._codes.not_found(str(code_id))
        return code

    async def _require_customer(self, order: Order) -> None:
        """The customer must be a live one. One the read copy has not heard
        of yet (made a moment ago, its event still on its way) is asked of
        the customers service once and learnt, as its event would teach it."""
        if order.customer_id is None or await self._customers.get(order.customer_id) is not None:
            return
        found = None
        if self._directory is not None:
            found = await self._directory.find(self._scope.organization_id, order.customer_id)
        if found is None or found.HasField("delete_time"):
            raise self._customers.not_found(str(order.customer_id))
        await self._customers.remember(
            KnownCustomer(order.customer_id, self._scope.organization_id, None)
        )

    async def _code_ineligibility(
        self,
        code: PromotionCode,
        order: Order,
        currency: str,
        moment: dt.datetime,
        reference: str = "",
    ) -> Ineligibility | None:
        purchased = False
        if code.first_purchase_only and order.customer_id is not None:
            # A checkout redeems first, the billing engine records the purchase
            # after: an earlier first-purchase redemption is a first purchase too.
            purchased = await self._purchases.has_purchased(
                order.customer_id, reference
            ) or await self._redemptions.has_first_purchase_redemption(order.customer_id)
        return code_ineligibility(
            code,
            moment=moment,
            customer_id=order.customer_id,
            customer_has_purchased=purchased,
            currency=currency,
            amount_minor=order.amount_minor,
        )

    async def _find(self, lookup: DiscountLookup) -> tuple[Discount, PromotionCode | None]:
        """The discount a lookup names, and the promotion code if it named one.
        A code is always looked up, also beside a discount_id: then it must be
        that discount's (its own code or one of its promotion codes), else
        NotFound as for any unknown code, so a code's own limits are never
        skipped by naming its discount too."""
        code = None
        if lookup.code:
            found = None
            if CODE_PATTERN.matches(lookup.code):  # else no discount can have such a code
                found = await self._discounts.get_by_code(lookup.code)
                if found is None:
                    code = await self._codes.get_by_code(lookup.code)
                    if code is not None:
                        found = await self._discounts.get(code.discount_id)
            if found is None or (lookup.discount_id is not None and found.id != lookup.discount_id):
                raise self._discounts.not_found(lookup.code)
            return found, code
        assert lookup.discount_id is not None  # check_lookup
        found = await self._discounts.get(lookup.discount_id)
        if found is None:
            raise self._discounts.not_found(str(lookup.discount_id))
        return found, code

    async def _owned_products(self, raw_ids: Sequence[str]) -> list[uuid.UUID]:
        """Parses product ids and checks they are this organization's; each
        bad one is reported with its index."""
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
        owned = await self._products.existing_ids(parsed)
        for index, product_id in enumerate(parsed):
            if product_id not in owned:
                violations.add(f"discount.product_ids[{index}]", "no such product")
        violations.raise_if_any()
        return list(dict.fromkeys(parsed))


def _check_amount(order: Order) -> None:
    if order.amount_minor < 0:
        raise InvalidArgument("order_amount_minor", "must not be negative")


def _moment(
    values: dict[str, object], column: str, current: dt.datetime | None
) -> dt.datetime | None:
    """The time `column` will hold: the new value if the update sets it."""
    if column not in values:
        return current
    value = values[column]
    return value if isinstance(value, dt.datetime) else None
