"""One namespace for the codes customers type: a discount's own code and its
promotion codes never share a spelling (in any case) within an organization,
so a typed code names one thing. Each table's unique index keeps its own
codes apart; across the two, every write of a code takes the organization's
lock on that spelling first (DiscountRepository.lock_code) and then looks in
both tables, so two writers of one spelling take turns and the second sees
the first."""

from __future__ import annotations

import uuid

from billingos_catalog.errors import CodeTaken
from billingos_catalog.repository import DiscountRepository, PromotionCodeRepository


async def claim_code(
    discounts: DiscountRepository,
    promotion_codes: PromotionCodeRepository,
    code: str,
    field: str,
    *,
    holder: uuid.UUID | None = None,
) -> None:
    """Locks the spelling for this transaction, and refuses it (CodeTaken on
    `field`) if a live discount or a promotion code that is not archived
    holds it, other than `holder` (the row being changed)."""
    await discounts.lock_code(code)
    discount = await discounts.get_by_code(code)
    if discount is not None and discount.id != holder:
        raise CodeTaken(field)
    promotion_code = await promotion_codes.get_by_code(code)
    if promotion_code is not None and promotion_code.id != holder:
        raise CodeTaken(field)
