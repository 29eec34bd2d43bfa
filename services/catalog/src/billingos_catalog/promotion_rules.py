"""The rules of promotion codes: the limits a code may carry, and whether an
order may use it (after its discount's own rules, discount_rules.py). Like
Stripe's promotion code restrictions: an expiry, a redemption limit of its
own, a customer's first purchase only, one customer only, a minimum order
amount in one currency. Pure: no database, no protobuf; promotion_codes.py
and discounts.py apply them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from billingos_catalog.discount_rules import CODE_PATTERN
from billingos_catalog.drafts import PromotionCodeDraft
from billingos_catalog.models import PromotionCode
from billingos_catalog.vocabulary import Ineligibility
from billingos_kit.validation import Violations, check_metadata
from billingos_pricing.amounts import MAX_AMOUNT_MINOR
from billingos_pricing.currencies import UnknownCurrency
from billingos_pricing.stripe_currencies import UnsupportedByStripe, check_stripe_currency

AT = "promotion_code"


def check_created_fields(violations: Violations, draft: PromotionCodeDraft) -> None:
    """What a code is given once: its spelling and its restrictions."""
    CODE_PATTERN.check(violations, f"{AT}.code", draft.code)
    if draft.minimum_amount is not None:
        currency, amount = draft.minimum_amount
        try:
            check_stripe_currency(currency)
        except UnknownCurrency:
            violations.add(f"{AT}.minimum_amount.currency", "must be an ISO 4217 code")
        except UnsupportedByStripe as unsupported:
            violations.add(
                f"{AT}.minimum_amount.currency",
                f"{unsupported.code} is not a currency Stripe charges in",
            )
        if not 0 < amount <= MAX_AMOUNT_MINOR:
            violations.add(
                f"{AT}.minimum_amount.amount_minor", f"must be between 1 and {MAX_AMOUNT_MINOR}"
            )


def check_fields(
    violations: Violations, draft: PromotionCodeDraft, paths: Sequence[str], redeemed: int = 0
) -> None:
    """The updatable fields named in `paths`; a limit never below the
    redemptions so far."""
    limit = draft.max_redemptions
    if "max_redemptions" in paths and limit is not None:
        if limit < 1:
            violations.add(f"{AT}.max_redemptions", "must be at least 1 (unset for no limit)")
        elif limit < redeemed:
            violations.add(f"{AT}.max_redemptions", f"already redeemed {redeemed} times")
    if "metadata" in paths:
        check_metadata(violations, f"{AT}.metadata", draft.metadata)


def code_ineligibility(
    code: PromotionCode,
    *,
    moment: dt.datetime,
    customer_id: uuid.UUID | None,
    customer_has_purchased: bool,
    currency: str,
    amount_minor: int,
) -> Ineligibility | None:
    """Why the order may not use `code`, or None if it may. A code for one
    customer, or for a first purchase, needs the customer named: without it
    the rule cannot be seen to hold."""
    if code.archived_at is not None:
        return Ineligibility.PROMOTION_CODE_ARCHIVED
    if code.expires_at is not None and moment >= code.expires_at:
        return Ineligibility.EXPIRED
    if code.max_redemptions is not None and code.redemption_count >= code.max_redemptions:
        return Ineligibility.MAX_REDEMPTIONS_REACHED
    if code.customer_id is not None and customer_id != code.customer_id:
        return Ineligibility.CUSTOMER_NOT_ELIGIBLE
    if code.first_purchase_only and (customer_id is None or customer_has_purchased):
        return Ineligibility.FIRST_PURCHASE_ONLY
    if code.minimum_amount_minor is not None and (
        currency != code.minimum_amount_currency or amount_minor < code.minimum_amount_minor
    ):
        return Ineligibility.MINIMUM_AMOUNT_NOT_MET
    return None
