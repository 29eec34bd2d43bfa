"""What requests ask of the catalog, as domain inputs: plain values, no
protobuf (messages.py builds them), no rules (the domain modules check them).
A vocabulary field is None when the request named no value this build knows."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from billingos_catalog.vocabulary import (
    AmountType,
    DiscountDuration,
    Interval,
    PackageRounding,
    TaxBehavior,
    TierMode,
)
from billingos_kit.protoconv import MetadataValue
from billingos_pricing.amounts import SeatTier


@dataclass(frozen=True)
class PeriodSpec:
    """A billing period or trial as given: `count` 0 means 1."""

    interval: Interval | None
    count: int


@dataclass(frozen=True)
class TierDraft:
    """One tier of a usage price as given: decimals as text (usage_rules.py
    parses them). `rate` for graduated percentage tiers, `unit_amount` for
    usage tiers."""

    up_to: str = ""
    unit_amount: str = ""
    rate: str = ""
    flat_fee_minor: int = 0


@dataclass(frozen=True)
class UsageDraft:
    """The model of a metered price besides a unit amount: tiers, a package,
    or a percentage (which fields count follows from the price's type)."""

    tiers: tuple[TierDraft, ...] = ()
    package_size: int = 0
    amount_per_package: str = ""
    rounding: PackageRounding | None = None
    free_units: str = ""
    rate: str = ""
    fixed_fee_per_event: str = ""
    per_event_minimum: str = ""
    per_event_maximum: str = ""


@dataclass(frozen=True)
class PriceDraft:
    """A price as a request gives it; only the amounts of `amount_type` count.
    `tax_behavior` None: the request named a value this build does not know."""

    currency: str
    recurring: PeriodSpec | None = None
    amount_type: AmountType | None = None
    amount_minor: int = 0
    minimum_amount_minor: int = 0
    maximum_amount_minor: int | None = None
    preset_amount_minor: int | None = None
    # every metered type
    unit_amount: str = ""
    meter_id: str = ""
    cap_amount_minor: int | None = None
    minimum_spend_minor: int | None = None
    usage: UsageDraft = field(default_factory=UsageDraft)
    # seat_based (tier_mode: metered_tiers too)
    tier_mode: TierMode | None = None
    tiers: tuple[SeatTier, ...] = ()
    minimum_seats: int | None = None
    maximum_seats: int | None = None
    # what may change over the price's life
    lookup_key: str = ""
    nickname: str = ""
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    tax_behavior: TaxBehavior | None = TaxBehavior.UNSPECIFIED
    archived: bool = False


@dataclass(frozen=True)
class ProductDraft:
    """A product's writable fields, with the prices to create with it."""

    name: str = ""
    description: str = ""
    recurring: PeriodSpec | None = None
    trial: PeriodSpec | None = None
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    public_metadata: dict[str, MetadataValue] = field(default_factory=dict)
    archived: bool = False
    prices: tuple[PriceDraft, ...] = ()


@dataclass(frozen=True)
class DiscountDraft:
    """A discount's fields; `product_ids` as given (the domain parses them, so
    a bad one is reported with its index beside the other problems)."""

    name: str = ""
    code: str = ""
    basis_points: int | None = None
    amounts_off: tuple[tuple[str, int], ...] | None = None  # (currency, amount_minor)
    duration: DiscountDuration | None = None
    duration_in_intervals: int = 0  # replaced by duration_in_months: refused
    duration_in_months: int = 0
    max_redemptions: int | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    product_ids: tuple[str, ...] = ()
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True)
class DiscountLookup:
    """Which discount a validation means: by id, or by code."""

    code: str = ""
    discount_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Order:
    """What a discount would apply to: a product, bought in a currency (as
    given), at a moment (None: now), by a customer if known, coming to
    `amount_minor` before discounts (for a promotion code's minimum)."""

    product_id: uuid.UUID
    currency: str
    moment: dt.datetime | None = None
    customer_id: uuid.UUID | None = None
    amount_minor: int = 0


@dataclass(frozen=True)
class RedemptionDraft:
    """One use of a discount by the caller's `reference` (as given),
    through one of its promotion codes or not."""

    reference: str
    order: Order
    promotion_code_id: uuid.UUID | None = None


@dataclass(frozen=True)
class PromotionCodeDraft:
    """A promotion code's fields; `customer_id` as given (the domain parses
    it, so a bad one is reported beside the other problems)."""

    code: str = ""
    archived: bool = False
    max_redemptions: int | None = None
    expires_at: dt.datetime | None = None
    first_purchase_only: bool = False
    customer_id: str = ""
    minimum_amount: tuple[str, int] | None = None  # (currency, amount_minor)
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True)
class PurchaseDraft:
    """A purchase the billing engine records: ids as given."""

    reference: str
    customer_id: str
    price_ids: tuple[str, ...]


@dataclass(frozen=True)
class TaxRateDraft:
    """A tax rate's fields as given: codes and the percentage as text."""

    display_name: str = ""
    country: str = ""
    region: str = ""
    percentage: str = ""
    inclusive: bool = False
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True)
class BillingAddress:
    """The part of a billing address that chooses a tax rate, as given."""

    country: str
    state: str = ""
