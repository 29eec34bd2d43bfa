"""The rules of discounts: what a discount may take off and for how long,
its code, its window, and whether it applies to a purchase. Pure: no
database, no protobuf; discounts.py applies them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from billingos_catalog.drafts import DiscountDraft, DiscountLookup
from billingos_catalog.models import Discount
from billingos_catalog.vocabulary import DiscountDuration, Ineligibility
from billingos_kit.errors import FailedPrecondition, InvalidArgument
from billingos_kit.validation import TextPattern, Violations, check_metadata, check_text
from billingos_pricing.amounts import BASIS_POINTS_IN_WHOLE
from billingos_pricing.currencies import UnknownCurrency, normalize_currency
from billingos_pricing.stripe_currencies import UnsupportedByStripe, check_stripe_currency

CODE_PATTERN = TextPattern(r"[A-Za-z0-9_-]{3,64}", "3 to 64 letters, digits, '-' or '_'")
MAX_REPEATING_MONTHS = 120
MAX_NAME_LENGTH = 256
MAX_REFERENCE_LENGTH = 256
MAX_AMOUNT_OFF_MINOR = 10**12
MAX_PRODUCT_IDS = 100


def check_effect(violations: Violations, draft: DiscountDraft) -> None:
    """What a discount takes off, and for how long: fixed at creation."""
    if draft.basis_points is None and draft.amounts_off is None:
        violations.add("discount.effect", "one of percent_off or amount_off is required")
    if draft.basis_points is not None and not 0 < draft.basis_points <= BASIS_POINTS_IN_WHOLE:
        violations.add(
            "discount.percent_off.basis_points", "must be between 1 and 10000 (0.01 % to 100 %)"
        )
    if draft.amounts_off is not None:
        _check_amounts_off(violations, draft.amounts_off)
    if draft.duration_in_intervals:
        # Repeating discounts count calendar months, as Stripe and Polar do: a
        # count of billing periods means a year for a monthly plan and ten
        # years for a yearly one.
        violations.add(
            "discount.duration_in_intervals",
            "is replaced by duration_in_months: a repeating discount lasts a number of months",
        )
    if draft.duration is None:
        violations.add(
            "discount.duration", "must be DISCOUNT_DURATION_ONCE, _REPEATING or _FOREVER"
        )
    elif draft.duration is DiscountDuration.REPEATING:
        if not 1 <= draft.duration_in_months <= MAX_REPEATING_MONTHS:
            violations.add(
                "discount.duration_in_months",
                f"must be between 1 and {MAX_REPEATING_MONTHS} for a repeating discount",
            )
    elif draft.duration_in_months:
        violations.add("discount.duration_in_months", "only for a repeating discount")


def _check_amounts_off(violations: Violations, amounts: Sequence[tuple[str, int]]) -> None:
    field_name = "discount.amount_off.amounts"
    if not amounts:
        violations.add(field_name, "must name at least one currency")
    seen: set[str] = set()
    for index, (currency, amount) in enumerate(amounts):
        try:
            code = check_stripe_currency(currency)
        except UnknownCurrency:
            violations.add(f"{field_name}[{index}].currency", "must be an ISO 4217 code")
            continue
        except UnsupportedByStripe as unsupported:
            violations.add(
                f"{field_name}[{index}].currency",
                f"{unsupported.code} is not a currency Stripe charges in, so no price is",
            )
            continue
        if code in seen:
            violations.add(f"{field_name}[{index}].currency", "appears twice")
        seen.add(code)
        if not 0 < amount <= MAX_AMOUNT_OFF_MINOR:
            violations.add(
                f"{field_name}[{index}].amount_minor",
                f"must be between 1 and {MAX_AMOUNT_OFF_MINOR}",
            )


def check_fields(violations: Violations, draft: DiscountDraft, paths: Sequence[str]) -> None:
    """The updatable fields named in `paths`, each on its own."""
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
        check_window(violations, draft.starts_at, draft.ends_at)
    if "metadata" in paths:
        check_metadata(violations, "discount.metadata", draft.metadata)


def check_window(
    violations: Violations, starts_at: dt.datetime | None, ends_at: dt.datetime | None
) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        violations.add("discount.end_time", "must be after start_time")


def check_lookup(lookup: DiscountLookup) -> None:
    if not lookup.code and lookup.discount_id is None:
        raise InvalidArgument("code", "give a code or a discount_id")


def check_list_code(code: str | None) -> None:
    """A code filter no discount could have is a mistake, not an empty list."""
    if code and not CODE_PATTERN.matches(code):
        raise InvalidArgument("code", f"must be {CODE_PATTERN.description}")


def purchase_currency(currency: str) -> str:
    """The currency of a purchase, upper case; InvalidArgument if unknown."""
    try:
        return normalize_currency(currency)
    except UnknownCurrency:
        raise InvalidArgument("currency", "must be an ISO 4217 code BillingOS supports") from None


def redemption_reference(reference: str) -> str:
    """The caller's reference, without surrounding whitespace, 1 to 256 characters."""
    stripped = reference.strip()
    if not stripped or len(stripped) > MAX_REFERENCE_LENGTH:
        raise InvalidArgument("reference", f"must be 1 to {MAX_REFERENCE_LENGTH} characters")
    return stripped


def ineligibility(
    discount: Discount, product_id: uuid.UUID, currency: str, moment: dt.datetime
) -> Ineligibility | None:
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


def refusal(reason: Ineligibility) -> FailedPrecondition:
    """What a redemption the discount does not apply to is told."""
    return FailedPrecondition(
        f"discount does not apply: {reason.value.replace('_', ' ')}",
        reason=f"DISCOUNT_{reason.name}",
    )
