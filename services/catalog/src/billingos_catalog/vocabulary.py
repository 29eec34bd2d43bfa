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
    """How tiers price a count, of seats or of usage
    (billingos_pricing.amounts.TierMode)."""

    VOLUME = "volume"
    GRADUATED = "graduated"


class AmountType(StrEnum):
    """A price's kind: the name of the `amount` oneof field that holds it."""

    FIXED = "fixed"
    FREE = "free"
    CUSTOM = "custom"
    METERED_UNIT = "metered_unit"
    SEAT_BASED = "seat_based"
    METERED_TIERS = "metered_tiers"
    METERED_PACKAGE = "metered_package"
    METERED_PERCENTAGE = "metered_percentage"
    METERED_GRADUATED_PERCENTAGE = "metered_graduated_percentage"

    @property
    def metered(self) -> bool:
        """Billed on a meter's usage at the end of each period."""
        return self in METERED_TYPES

    @property
    def static(self) -> bool:
        """What a subscription pays whatever the usage: at most one active
        static price per currency and billing period (price_mix.py)."""
        return not self.metered


METERED_TYPES = frozenset(
    {
        AmountType.METERED_UNIT,
        AmountType.METERED_TIERS,
        AmountType.METERED_PACKAGE,
        AmountType.METERED_PERCENTAGE,
        AmountType.METERED_GRADUATED_PERCENTAGE,
    }
)


class PackageRounding(StrEnum):
    """Whether a package price charges a started block
    (billingos_pricing.packages.PackageRounding)."""

    UP = "up"
    DOWN = "down"


class TaxBehavior(StrEnum):
    """Whether a price's amounts include tax (billingos_pricing.invoices.TaxBehavior).
    UNSPECIFIED is a choice too: the organization's default decides."""

    UNSPECIFIED = "unspecified"
    INCLUSIVE = "inclusive"
    EXCLUSIVE = "exclusive"


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
    PROMOTION_CODE_ARCHIVED = "promotion_code_archived"
    FIRST_PURCHASE_ONLY = "first_purchase_only"
    CUSTOMER_NOT_ELIGIBLE = "customer_not_eligible"
    MINIMUM_AMOUNT_NOT_MET = "minimum_amount_not_met"
