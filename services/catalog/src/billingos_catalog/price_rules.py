"""The rules of a price, per amount type, and the row a checked price makes.
Pure: no database, no protobuf; the product aggregate (products.py) applies
them when a price is created, inline with its product or on its own."""

from __future__ import annotations

import uuid
from typing import Any

from billingos_catalog.drafts import PriceDraft
from billingos_catalog.models import Price, Product
from billingos_catalog.periods import check_period, effective_count
from billingos_catalog.vocabulary import AmountType
from billingos_kit.clock import Clock
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.validation import Violations
from billingos_pricing.amounts import (
    MAX_AMOUNT_MINOR,
    PricingError,
    check_custom_amounts,
    check_seat_tiers,
    parse_unit_amount,
)
from billingos_pricing.currencies import UnknownCurrency, normalize_currency
from billingos_pricing.stripe_amounts import price_amount_problem

MAX_SEAT_TIERS = 50


def check_price(
    violations: Violations, at: str, draft: PriceDraft, product_recurring: bool
) -> None:
    """Every rule of a price on a product, reported under the request path `at`."""
    currency: str | None = None
    try:
        currency = normalize_currency(draft.currency)
    except UnknownCurrency:
        violations.add(f"{at}.currency", "must be an ISO 4217 code BillingOS supports, e.g. USD")
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
    elif kind is AmountType.METERED_UNIT:
        _check_metered(violations, f"{at}.metered_unit", draft, product_recurring)
    elif kind is AmountType.SEAT_BASED:
        _check_seats(violations, f"{at}.seat_based", draft)


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
        if amount is not None and field not in reported:
            _check_chargeable(violations, field, amount, currency)


def _check_chargeable(violations: Violations, field: str, amount_minor: int, currency: str) -> None:
    """A fixed amount and the bounds and preset of a pay-what-you-want price are
    charged as they are, so one Stripe can never charge (1.005 KWD, when Stripe
    takes KWD in steps of 0.010; above its maximum) is refused here, not at
    every checkout. Zero and amounts below Stripe's minimum are valid prices
    (billing carries a small charge forward). Per-unit amounts (metered, seat
    tiers) are multiplied before they are charged and are not checked."""
    problem = price_amount_problem(amount_minor, currency)
    if problem is not None:
        violations.add(field, problem)


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


def _check_seats(violations: Violations, at: str, draft: PriceDraft) -> None:
    if draft.tier_mode is None:
        violations.add(f"{at}.tier_mode", "must be TIER_MODE_VOLUME or _GRADUATED")
    if len(draft.tiers) > MAX_SEAT_TIERS:
        violations.add(f"{at}.tiers", f"must have at most {MAX_SEAT_TIERS} tiers")
        return
    for problem in check_seat_tiers(draft.tiers, f"{at}.tiers"):
        violations.add(problem.field, problem.message)


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
    amounts: dict[str, Any] = {
        "amount_minor": None,
        "minimum_amount_minor": None,
        "maximum_amount_minor": None,
        "preset_amount_minor": None,
        "unit_amount": None,
        "meter_id": None,
        "cap_amount_minor": None,
        "tier_mode": None,
        "seat_tiers": None,
    }
    if kind is AmountType.FIXED:
        amounts["amount_minor"] = draft.amount_minor
    elif kind is AmountType.CUSTOM:
        amounts["minimum_amount_minor"] = draft.minimum_amount_minor
        amounts["maximum_amount_minor"] = draft.maximum_amount_minor
        amounts["preset_amount_minor"] = draft.preset_amount_minor
    elif kind is AmountType.METERED_UNIT:
        amounts["unit_amount"] = parse_unit_amount(draft.unit_amount)
        amounts["meter_id"] = uuid.UUID(draft.meter_id)
        amounts["cap_amount_minor"] = draft.cap_amount_minor
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
    return Price(
        id=new_id(clock),
        organization_id=product.organization_id,
        product_id=product.id,
        amount_type=kind,
        currency=normalize_currency(draft.currency),
        recurring_interval=interval,
        recurring_count=count,
        archived_at=None,
        created_at=clock.now(),
        **amounts,
    )
