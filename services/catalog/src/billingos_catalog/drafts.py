"""What requests ask of the catalog, as domain inputs: plain values, no
protobuf (messages.py builds them), no rules (the domain modules check them).
A vocabulary field is None when the request named no value this build knows."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from billingos_catalog.vocabulary import AmountType, DiscountDuration, Interval, TierMode
from billingos_kit.protoconv import MetadataValue
from billingos_pricing.amounts import SeatTier


@dataclass(frozen=True)
class PeriodSpec:
    """A billing period or trial as given: `count` 0 means 1."""

    interval: Interval | None
    count: int


@dataclass(frozen=True)
class PriceDraft:
    """A price as a request gives it; only the amounts of `amount_type` count."""

    currency: str
    recurring: PeriodSpec | None = None
    amount_type: AmountType | None = None
    amount_minor: int = 0
    minimum_amount_minor: int = 0
    maximum_amount_minor: int | None = None
    preset_amount_minor: int | None = None
    unit_amount: str = ""
    meter_id: str = ""
    cap_amount_minor: int | None = None
    tier_mode: TierMode | None = None
    tiers: tuple[SeatTier, ...] = ()


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
    duration_in_intervals: int = 0
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
class Purchase:
    """What a discount would apply to: a product, bought in a currency (as
    given), at a moment (None: now)."""

    product_id: uuid.UUID
    currency: str
    moment: dt.datetime | None = None


@dataclass(frozen=True)
class RedemptionDraft:
    """One use of a discount by the caller's `reference` (as given)."""

    reference: str
    purchase: Purchase
    customer_id: uuid.UUID | None = None
