"""The catalog's vocabularies: what rows store and the domain speaks. Each
proto enum's codec (messages.py) is checked against its StrEnum at import, so
a value added on one side only fails at start-up, not in a call."""

from __future__ import annotations

from enum import StrEnum


class Interval(StrEnum):
    """A unit of calendar time for billing periods and trials."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class TierMode(StrEnum):
    """How seat tiers price a seat count (billingos_pricing.amounts.TierMode)."""

    VOLUME = "volume"
    GRADUATED = "graduated"


class AmountType(StrEnum):
    """A price's kind: the name of the `amount` oneof field that holds it."""

    FIXED = "fixed"
    FREE = "free"
    CUSTOM = "custom"
    METERED_UNIT = "metered_unit"
    SEAT_BASED = "seat_based"


class DiscountDuration(StrEnum):
    """How long a discount applies to a subscription."""

    ONCE = "once"
    REPEATING = "repeating"
    FOREVER = "forever"


class Ineligibility(StrEnum):
    """Why a discount does not apply to a purchase."""

    NOT_STARTED = "not_started"
    EXPIRED = "expired"
    MAX_REDEMPTIONS_REACHED = "max_redemptions_reached"
    PRODUCT_NOT_ELIGIBLE = "product_not_eligible"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
