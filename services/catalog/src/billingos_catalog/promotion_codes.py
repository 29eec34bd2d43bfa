"""Promotion codes (promotion_codes.proto): the codes customers type for a
discount, several per discount, each with limits of its own
(promotion_rules.py). A code is unique per organization among codes that
are not archived and discounts' own codes (codes.py). Redeeming one is part
of redeeming its discount (discounts.py). Works in the caller's scope;
raises domain errors; knows no protobuf."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from billingos_catalog import events
from billingos_catalog.codes import claim_code
from billingos_catalog.drafts import PromotionCodeDraft
from billingos_catalog.models import PromotionCode
from billingos_catalog.promotion_rules import AT, check_created_fields, check_fields
from billingos_catalog.repository import (
    DiscountRepository,
    KnownCustomers,
    PromotionCodeFilter,
    PromotionCodeRepository,
)
from billingos_kit.errors import FailedPrecondition
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.repository import apply_changes
from billingos_kit.validation import Violations
from billingos_pricing.stripe_currencies import check_stripe_currency

_RESTRICTION = "a promotion code's restrictions cannot change; create another code"
PROMOTION_CODE_MASK = UpdateMask(
    AT,
    updatable=("archived", "max_redemptions", "expire_time", "metadata"),
    immutable={
        "code": "a promotion code's spelling cannot change; create another code",
        "discount_id": "a promotion code stays with its discount",
        "first_purchase_only": _RESTRICTION,
        "customer_id": _RESTRICTION,
        "minimum_amount": _RESTRICTION,
    },
)
# API paths whose column is named otherwise.
_COLUMNS = {"expire_time": "expires_at", "archived": "archived_at"}


class PromotionCodeService:
    """Promotion codes of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._codes = PromotionCodeRepository(scope)
        self._discounts = DiscountRepository(scope)
        self._customers = KnownCustomers(scope)

    async def create(self, discount_id: uuid.UUID, draft: PromotionCodeDraft) -> PromotionCode:
        """Creates a code for a live discount (locked, so it cannot be deleted
        meanwhile); a code for one customer names a live customer of this
        organization. Announces `promotion_code.created`."""
        violations = Violations()
        check_created_fields(violations, draft)
        check_fields(violations, draft, PROMOTION_CODE_MASK.updatable)
        customer_id = canonical_id(draft.customer_id) if draft.customer_id else None
        if draft.customer_id and customer_id is None:
            violations.add(f"{AT}.customer_id", "must be a customer id (canonical UUID form)")
        now = self._scope.clock.now()
        if draft.expires_at is not None and draft.expires_at <= now:
            # As Stripe: a code that can never be redeemed is a mistake.
            violations.add(f"{AT}.expire_time", "must be in the future (the code would be expired)")
        violations.raise_if_any()
        discount = await self._discounts.require(discount_id, for_update=True)
        if customer_id is not None and await self._customers.get(customer_id) is None:
            raise self._customers.not_found(str(customer_id))
        minimum = draft.minimum_amount
        code = PromotionCode(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            discount_id=discount.id,
            code=draft.code,
            archived_at=now if draft.archived else None,
            max_redemptions=draft.max_redemptions,
            redemption_count=0,
            expires_at=draft.expires_at,
            first_purchase_only=draft.first_purchase_only,
            customer_id=customer_id,
            minimum_amount_minor=minimum[1] if minimum else None,
            minimum_amount_currency=check_stripe_currency(minimum[0]) if minimum else None,
            metadata=draft.metadata,
            created_at=now,
            updated_at=now,
        )
        if code.archived_at is None:
            await claim_code(self._discounts, self._codes, code.code, f"{AT}.code")
        await self._codes.insert(code)
        await self._scope.outbox.add(events.promotion_code_created(code))
        return code

    async def get(self, code_id: uuid.UUID, *, for_update: bool = False) -> PromotionCode:
        """A promotion code, archived or not; changes nothing."""
        return await self._codes.require(code_id, for_update=for_update)

    async def list_page(self, where: PromotionCodeFilter, page: PageRequest) -> Page[PromotionCode]:
        """One page of a live discount's codes, newest first; changes nothing."""
        if where.discount_id is not None:
            await self._discounts.require(where.discount_id)
        return await self._codes.page(where, page)

    async def update(
        self, code_id: uuid.UUID, draft: PromotionCodeDraft, paths: Sequence[str]
    ) -> PromotionCode:
        """Applies the fields named in `paths` (PROMOTION_CODE_MASK's);
        announces `promotion_code.updated` with the paths that changed.
        Unarchiving claims the code again (it may have been taken since) and
        needs its discount live."""
        code = await self._codes.require(code_id, for_update=True)
        violations = Violations()
        check_fields(violations, draft, paths, code.redemption_count)
        violations.raise_if_any()
        now = self._scope.clock.now()
        archived_at = code.archived_at
        if draft.archived != (code.archived_at is not None):
            archived_at = now if draft.archived else None
        wanted: dict[str, object] = {
            "archived": archived_at,
            "max_redemptions": draft.max_redemptions,
            "expire_time": draft.expires_at,
            "metadata": draft.metadata,
        }
        values = {_COLUMNS.get(path, path): wanted[path] for path in paths}
        if code.archived_at is not None and values.get("archived_at", code.archived_at) is None:
            if await self._discounts.get(code.discount_id) is None:
                raise FailedPrecondition(
                    f"{AT}.archived: the code's discount is deleted", reason="DISCOUNT_DELETED"
                )
            await claim_code(self._discounts, self._codes, code.code, f"{AT}.code", holder=code.id)
        changed_columns = apply_changes(code, values)
        if not changed_columns:
            return code
        code.updated_at = now
        await self._codes.update(code, [*changed_columns, "updated_at"])
        changed = [path for path in paths if _COLUMNS.get(path, path) in changed_columns]
        await self._scope.outbox.add(events.promotion_code_updated(code, changed))
        return code
