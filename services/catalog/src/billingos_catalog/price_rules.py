"""The rules of a price, per amount type, and the row a checked price makes.
Pure: no database, no protobuf; the product aggregate (products.py) applies
them when a price is created, inline with its product or on its own.
Metered types' rules are in usage_rules.py; which prices a product may hold
together in price_mix.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from billingos_catalog.drafts import PriceDraft
from billingos_catalog.models import Price, Product
from billingos_catalog.periods import check_period, effective_count
from billingos_catalog.usage_rules import check_metered, metered_columns
from billingos_catalog.vocabulary import AmountType, TaxBehavior
from billingos_kit.clock import Clock
from billingos_kit.ids import new_id
from billingos_kit.validation import TextPattern, Violations, check_metadata, check_text
from billingos_pricing.amounts import (
    MAX_AMOUNT_MINOR,
    MAX_SEATS,
    check_custom_amounts,
    check_seat_tiers,
)
from billingos_pricing.currencies import UnknownCurrency
from billingos_pricing.stripe_amounts import UnchargeableAmount, stripe_amount
from billingos_pricing.stripe_currencies import UnsupportedByStripe, check_stripe_currency

MAX_SEAT_TIERS = 50
MAX_NICKNAME_LENGTH = 256
# ':' is allowed (Stripe's keys often hold one): GET /v1/prices/lookup/{key}
# reaches the price through Envoy with it plain or as %3A (an e2e test says
# so). '/' is not: it would be a path separator, and neither is a key of
# dots only: "." and ".." are path segments that Envoy and clients normalise
# away, so GET /v1/prices/lookup/.. could never reach the price.
LOOKUP_KEY = TextPattern(
    r"(?!\.+\Z)[A-Za-z0-9_.:-]{1,200}",
    "1 to 200 letters, digits, '_', '-', '.' or ':', and not only dots",
)
# Paths of a Price message that describe what may change over its life.
DETAIL_FIELDS = ("lookup_key", "nickname", "metadata", "tax_behavior")


def check_price(
    violations: Violations, at: str, draft: PriceDraft, product_recurring: bool
) -> None:
    """Every rule of a price on a product, reported under the request path `at`."""
    currency = check_currency(violations, f"{at}.currency", draft.currency)
    if draft.recurring is not None:
        if product_recurring:
            check_period(violations, f"{at}.recurring", draft.recurring)
        else:
            violations.add(f"{at}.recurring", "prices of a one-time product have no billing period")
    kind = draft.amount_type
    if kind is None:
        violations.add(
            f"{at}.amount", f"one of {', '.join(AmountType)} is required (the price's type)"
        )
    elif kind is AmountType.FIXED:
        _check_fixed(violations, f"{at}.fixed", draft, currency)
    elif kind is AmountType.CUSTOM:
        _check_custom(violations, f"{at}.custom", draft, currency)
    elif kind is AmountType.SEAT_BASED:
        _check_seats(violations, f"{at}.seat_based", draft)
    elif kind.metered:
        check_metered(violations, f"{at}.{kind}", draft, kind, product_recurring)
    check_details(violations, at, draft, DETAIL_FIELDS)
    if draft.archived:
        # Never ignored: a price meant to be staged would be buyable at once.
        violations.add(
            f"{at}.archived",
            "a price is created active; archive it after (update it with archived true)",
        )


def check_currency(violations: Violations, field: str, currency: str) -> str | None:
    """The upper-case code of a currency a price may be in (one Stripe
    charges in), or None with the violation added."""
    try:
        return check_stripe_currency(currency)
    except UnknownCurrency:
        violations.add(field, "must be an ISO 4217 code BillingOS supports, e.g. USD")
    except UnsupportedByStripe as unsupported:
        violations.add(
            field, f"{unsupported.code} is not a currency Stripe charges in, so no price can be"
        )
    return None


def check_details(violations: Violations, at: str, draft: PriceDraft, paths: Sequence[str]) -> None:
    """The fields that may change over a price's life, those named in `paths`."""
    if "lookup_key" in paths and draft.lookup_key:
        LOOKUP_KEY.check(violations, f"{at}.lookup_key", draft.lookup_key)
    if "nickname" in paths:
        check_text(violations, f"{at}.nickname", draft.nickname, max_length=MAX_NICKNAME_LENGTH)
    if "metadata" in paths:
        check_metadata(violations, f"{at}.metadata", draft.metadata)
    if "tax_behavior" in paths and draft.tax_behavior is None:
        violations.add(
            f"{at}.tax_behavior",
            "must be TAX_BEHAVIOR_UNSPECIFIED, TAX_BEHAVIOR_INCLUSIVE or TAX_BEHAVIOR_EXCLUSIVE",
        )


def _check_fixed(violations: Violations, at: str, draft: PriceDraft, currency: str | None) -> None:
    if draft.amount_minor <= 0:
        violations.add(f"{at}.amount_minor", "must be greater than 0 (use a free price for 0)")
    elif draft.amount_minor > MAX_AMOUNT_MINOR:
        violations.add(f"{at}.amount_minor", f"must be at most {MAX_AMOUNT_MINOR}")
    elif currency is not None:
        _check_chargeable(violations, f"{at}.amount_minor", draft.amount_minor, currency)


def _check_custom(violations: Violations, at: str, draft: PriceDraft, currency: str | None) -> None:
    problems = check_custom_amounts(
        draft.minimum_amount_minor, draft.maximum_amount_minor, draft.preset_amount_minor, at
    )
    for problem in problems:
        violations.add(problem.field, problem.message)
    if currency is None:
        return
    reported = {problem.field for problem in problems}
    for name, amount in (
        ("minimum_amount_minor", draft.minimum_amount_minor),
        ("maximum_amount_minor", draft.maximum_amount_minor),
        ("preset_amount_minor", draft.preset_amount_minor),
    ):
        field = f"{at}.{name}"
        # 0 is "free" (a minimum of 0 lets a customer pay nothing); any other
        # amount a customer may be charged must be one Stripe charges.
        if amount and field not in reported:
            _check_chargeable(violations, field, amount, currency)


def _check_chargeable(violations: Violations, field: str, amount_minor: int, currency: str) -> None:
    """A fixed amount and the bounds and preset of a pay-what-you-want price
    are charged as they are, so an amount Stripe can never charge is refused
    here, not at every checkout: below Stripe's minimum charge for the
    currency (a pay-what-you-want minimum: 0, or at least Stripe's), one it
    cannot represent (1.005 KWD, when Stripe takes KWD in steps of 0.010) or
    above its maximum. Per-unit amounts (metered, seat tiers) are multiplied
    before they are charged and are not checked."""
    try:
        stripe_amount(amount_minor, currency)
    except UnchargeableAmount as problem:
        violations.add(field, problem.message)


def _check_seats(violations: Violations, at: str, draft: PriceDraft) -> None:
    if draft.tier_mode is None:
        violations.add(f"{at}.tier_mode", "must be TIER_MODE_VOLUME or _GRADUATED")
    low, high = draft.minimum_seats, draft.maximum_seats
    for name, count in (("minimum_seats", low), ("maximum_seats", high)):
        if count is not None and not 1 <= count <= MAX_SEATS:
            violations.add(f"{at}.{name}", f"must be between 1 and {MAX_SEATS}")
    if low is not None and high is not None and 1 <= high < low:
        violations.add(f"{at}.minimum_seats", f"must not be above maximum_seats ({high})")
    if len(draft.tiers) > MAX_SEAT_TIERS:
        violations.add(f"{at}.tiers", f"must have at most {MAX_SEAT_TIERS} tiers")
        return
    for problem in check_seat_tiers(draft.tiers, f"{at}.tiers"):
        violations.add(problem.field, problem.message)


_NO_AMOUNTS: dict[str, Any] = {
    "amount_minor": None,
    "minimum_amount_minor": None,
    "maximum_amount_minor": None,
    "preset_amount_minor": None,
    "unit_amount": None,
    "meter_id": None,
    "cap_amount_minor": None,
    "tier_mode": None,
    "seat_tiers": None,
    "minimum_spend_minor": None,
    "minimum_seats": None,
    "maximum_seats": None,
    "usage_tiers": None,
    "package_size": None,
    "amount_per_package": None,
    "package_rounding": None,
    "free_units": None,
    "percentage_rate": None,
    "fixed_fee_per_event": None,
    "per_event_minimum": None,
    "per_event_maximum": None,
}


def new_price_row(clock: Clock, product: Product, draft: PriceDraft) -> Price:
    """The row for a draft `check_price` passed: the currency in upper case,
    the product's billing period unless the price overrides it (none for a
    one-time product), and only the amounts of its type."""
    kind = draft.amount_type
    if kind is None:
        raise ValueError("a price without an amount type was not checked")
    interval = count = None
    if product.recurring_interval is not None:
        recurring = draft.recurring
        interval = recurring.interval if recurring else product.recurring_interval
        count = effective_count(recurring) if recurring else product.recurring_count
    amounts = dict(_NO_AMOUNTS)
    if kind is AmountType.FIXED:
        amounts["amount_minor"] = draft.amount_minor
    elif kind is AmountType.CUSTOM:
        amounts["minimum_amount_minor"] = draft.minimum_amount_minor
        amounts["maximum_amount_minor"] = draft.maximum_amount_minor
        amounts["preset_amount_minor"] = draft.preset_amount_minor
    elif kind is AmountType.SEAT_BASED:
        amounts["tier_mode"] = draft.tier_mode
        amounts["seat_tiers"] = [
            {
                "from_seats": tier.from_seats,
                "to_seats": tier.to_seats,
                "amount_per_seat_minor": tier.amount_per_seat_minor,
            }
            for tier in draft.tiers
        ]
        amounts["minimum_seats"] = draft.minimum_seats
        amounts["maximum_seats"] = draft.maximum_seats
    elif kind.metered:
        amounts.update(metered_columns(draft, kind))
    now = clock.now()
    return Price(
        id=new_id(clock),
        organization_id=product.organization_id,
        product_id=product.id,
        amount_type=kind,
        currency=check_stripe_currency(draft.currency),
        recurring_interval=interval,
        recurring_count=count,
        archived_at=None,
        created_at=now,
        updated_at=now,
        lookup_key=draft.lookup_key or None,
        nickname=draft.nickname,
        metadata=draft.metadata,
        tax_behavior=draft.tax_behavior or TaxBehavior.UNSPECIFIED,
        first_used_at=None,
        **amounts,
    )
