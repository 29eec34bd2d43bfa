"""The `catalog` schema: its tables (what migrations build and the drift test
checks) and, for each, the row a repository reads and writes (a dataclass
whose fields are the table's columns, in order, checked when the repository
class is made). Vocabulary columns (intervals, amount types, durations) hold
the values of the StrEnums in vocabulary.py."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from billingos_kit.db import service_metadata
from billingos_kit.tables import Timestamp, define_kit_tables

SCHEMA = "catalog"

metadata = service_metadata(SCHEMA)
kit_tables = define_kit_tables(metadata)

# Read copy of the customers context's organizations, so public pages can find
# one by slug without calling the customers service.
organizations = Table(
    "organizations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    # The source's update time of the state kept: a newer state replaces it,
    # an older or equal one (a replay, a redelivery) changes nothing. The
    # default, the epoch, is a state of no known time (rows copied before
    # this column, and a previous release's inserts during a rolling deploy):
    # any announced state is newer.
    Column(
        "updated_at",
        Timestamp,
        nullable=False,
        server_default=text("'1970-01-01 00:00:00+00'"),
    ),
)

# Read copy of the customers context's customers (who exists, in which
# organization, whether deleted), so a redemption only names a live customer.
customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
)

# Read copy of the entitlements context's benefits (who owns each, whether
# deleted), so a product only lists a live benefit of its own organization.
# `updated_at` is the benefit's update time: an older state arriving late
# never overwrites a newer one.
benefits = Table(
    "benefits",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("key", Text, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
)

products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    # NULL interval: a one-time product.
    Column("recurring_interval", Text, nullable=True),
    Column("recurring_count", Integer, nullable=True),
    Column("trial_interval", Text, nullable=True),
    Column("trial_count", Integer, nullable=True),
    Column("metadata", JSONB, nullable=False),
    Column("public_metadata", JSONB, nullable=False),
    Column("archived_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # The entitlements context's benefits, in attach order (products.py
    # keeps at most MAX_BENEFITS_PER_PRODUCT, each once).
    Column("benefit_ids", ARRAY(Uuid), nullable=False),
    Index("ix_products_organization_id_id", "organization_id", "id"),
    CheckConstraint(
        "(recurring_interval IS NULL) = (recurring_count IS NULL)", name="recurring_complete"
    ),
    CheckConstraint(
        "trial_interval IS NULL OR recurring_interval IS NOT NULL", name="trial_needs_recurring"
    ),
)

# The unique index that keeps lookup keys unique per organization, archived
# prices included (the repository maps its violation to the field).
PRICE_LOOKUP_KEY_INDEX = "uq_prices_organization_id_lookup_key"
_METERED = (
    "'metered_unit', 'metered_tiers', 'metered_package', 'metered_percentage', "
    "'metered_graduated_percentage'"
)

# One row per price, polymorphic by `amount_type`; the columns of the other
# types stay NULL (checked by constraints).
prices = Table(
    "prices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=False),
    Column("amount_type", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("recurring_interval", Text, nullable=True),
    Column("recurring_count", Integer, nullable=True),
    # fixed
    Column("amount_minor", BigInteger, nullable=True),
    # custom
    Column("minimum_amount_minor", BigInteger, nullable=True),
    Column("maximum_amount_minor", BigInteger, nullable=True),
    Column("preset_amount_minor", BigInteger, nullable=True),
    # metered_unit: minor units per unit, up to 12 decimal places
    Column("unit_amount", Numeric(24, 12), nullable=True),
    Column("meter_id", Uuid, nullable=True),
    Column("cap_amount_minor", BigInteger, nullable=True),
    # seat_based: [{"from_seats", "to_seats", "amount_per_seat_minor"}]
    Column("tier_mode", Text, nullable=True),
    Column("seat_tiers", JSONB(none_as_null=True), nullable=True),
    Column("archived_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # what may change over the price's life (never its amounts)
    Column("lookup_key", Text, nullable=True),
    Column("nickname", Text, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("tax_behavior", Text, nullable=False),
    # set once, by the first purchase: from then on tax_behavior is fixed
    Column("first_used_at", Timestamp, nullable=True),
    # every metered type
    Column("minimum_spend_minor", BigInteger, nullable=True),
    # seat_based
    Column("minimum_seats", Integer, nullable=True),
    Column("maximum_seats", Integer, nullable=True),
    # metered_tiers: [{"up_to", "unit_amount", "flat_fee_minor"}] (decimals as
    # text, up_to null on the last tier; tier_mode as for seats);
    # metered_graduated_percentage: [{"up_to", "rate", "flat_fee_minor"}]
    Column("usage_tiers", JSONB(none_as_null=True), nullable=True),
    # metered_package
    Column("package_size", BigInteger, nullable=True),
    Column("amount_per_package", Numeric(24, 12), nullable=True),
    Column("package_rounding", Text, nullable=True),
    Column("free_units", Numeric(54, 30), nullable=True),
    # metered_percentage (a percent, "2.9"; fees and bounds in minor units)
    Column("percentage_rate", Numeric(13, 10), nullable=True),
    Column("fixed_fee_per_event", Numeric(24, 12), nullable=True),
    Column("per_event_minimum", Numeric(24, 12), nullable=True),
    Column("per_event_maximum", Numeric(24, 12), nullable=True),
    Index("ix_prices_product_id_id", "product_id", "id"),
    Index(
        PRICE_LOOKUP_KEY_INDEX,
        "organization_id",
        "lookup_key",
        unique=True,
        postgresql_where=text("lookup_key IS NOT NULL"),
    ),
    CheckConstraint(
        "amount_type IN ('fixed', 'free', 'custom', 'seat_based', " + _METERED + ")",
        name="known_amount_type_v2",
    ),
    CheckConstraint(
        f"(amount_type IN ({_METERED})) = (meter_id IS NOT NULL)", name="metered_has_meter"
    ),
    CheckConstraint(
        "minimum_spend_minor IS NULL OR meter_id IS NOT NULL", name="minimum_spend_is_metered"
    ),
    CheckConstraint(
        "(tier_mode IS NOT NULL) = (amount_type IN ('seat_based', 'metered_tiers'))",
        name="tier_mode_where_tiered",
    ),
    CheckConstraint(
        "(amount_type IN ('metered_tiers', 'metered_graduated_percentage')) = "
        "(usage_tiers IS NOT NULL)",
        name="usage_tiers_where_tiered",
    ),
    CheckConstraint(
        "(amount_type = 'metered_package') = (package_size IS NOT NULL AND "
        "amount_per_package IS NOT NULL AND package_rounding IS NOT NULL AND "
        "free_units IS NOT NULL)",
        name="package_complete",
    ),
    CheckConstraint(
        "(amount_type = 'metered_percentage') = (percentage_rate IS NOT NULL AND "
        "fixed_fee_per_event IS NOT NULL)",
        name="percentage_has_rate",
    ),
    CheckConstraint(
        "amount_type = 'seat_based' OR (minimum_seats IS NULL AND maximum_seats IS NULL)",
        name="seat_counts_on_seats",
    ),
    CheckConstraint(
        "tax_behavior IN ('unspecified', 'inclusive', 'exclusive')", name="known_tax_behavior"
    ),
    CheckConstraint(
        "(amount_type = 'fixed') = (amount_minor IS NOT NULL)", name="fixed_has_amount"
    ),
    CheckConstraint(
        "(amount_type = 'custom') = (minimum_amount_minor IS NOT NULL)",
        name="custom_has_minimum",
    ),
    CheckConstraint(
        "(amount_type = 'metered_unit') = (unit_amount IS NOT NULL AND meter_id IS NOT NULL)",
        name="metered_has_unit_amount",
    ),
    CheckConstraint(
        "(amount_type = 'seat_based') = (seat_tiers IS NOT NULL AND tier_mode IS NOT NULL)",
        name="seat_based_has_tiers",
    ),
)

# The unique index that keeps codes unique per organization, ignoring case,
# among live discounts (the repository maps its violation to the code field).
DISCOUNT_CODE_INDEX = "uq_discounts_organization_id_code_live"

discounts = Table(
    "discounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    Column("code", Text, nullable=True),
    Column("basis_points", Integer, nullable=True),
    # {"USD": 500, "EUR": 450}
    Column("amounts_off", JSONB(none_as_null=True), nullable=True),
    Column("duration", Text, nullable=False),
    Column("duration_in_intervals", Integer, nullable=True),
    Column("max_redemptions", Integer, nullable=True),
    Column("redemption_count", Integer, nullable=False),
    Column("starts_at", Timestamp, nullable=True),
    Column("ends_at", Timestamp, nullable=True),
    Column("product_ids", ARRAY(Uuid), nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    # repeating discounts made since duration_in_intervals was replaced
    Column("duration_in_months", Integer, nullable=True),
    Index("ix_discounts_organization_id_id", "organization_id", "id"),
    Index(
        DISCOUNT_CODE_INDEX,
        "organization_id",
        text("lower(code)"),
        unique=True,
        postgresql_where=text("deleted_at IS NULL AND code IS NOT NULL"),
    ),
    CheckConstraint("(basis_points IS NULL) <> (amounts_off IS NULL)", name="one_effect"),
    CheckConstraint(
        "max_redemptions IS NULL OR redemption_count <= max_redemptions",
        name="never_over_redeemed",
    ),
)

# The unique index that keeps promotion codes unique per organization,
# ignoring case, among codes that are not archived. (A discount's own code and
# a promotion code never share a spelling either: promotion_codes.py checks
# the other table under a lock per code.)
PROMOTION_CODE_INDEX = "uq_promotion_codes_organization_id_code_live"

promotion_codes = Table(
    "promotion_codes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("discount_id", Uuid, ForeignKey("discounts.id"), nullable=False),
    Column("code", Text, nullable=False),
    Column("archived_at", Timestamp, nullable=True),
    Column("max_redemptions", Integer, nullable=True),
    Column("redemption_count", Integer, nullable=False),
    Column("expires_at", Timestamp, nullable=True),
    Column("first_purchase_only", Boolean, nullable=False),
    Column("customer_id", Uuid, nullable=True),
    Column("minimum_amount_minor", BigInteger, nullable=True),
    Column("minimum_amount_currency", Text, nullable=True),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_promotion_codes_discount_id_id", "discount_id", "id"),
    Index(
        PROMOTION_CODE_INDEX,
        "organization_id",
        text("lower(code)"),
        unique=True,
        postgresql_where=text("archived_at IS NULL"),
    ),
    CheckConstraint(
        "max_redemptions IS NULL OR redemption_count <= max_redemptions",
        name="never_over_redeemed",
    ),
    CheckConstraint(
        "(minimum_amount_minor IS NULL) = (minimum_amount_currency IS NULL)",
        name="minimum_amount_complete",
    ),
)

discount_redemptions = Table(
    "discount_redemptions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("discount_id", Uuid, ForeignKey("discounts.id"), nullable=False),
    Column("reference", Text, nullable=False),
    Column("customer_id", Uuid, nullable=True),
    Column("redeemed_at", Timestamp, nullable=False),
    Column("promotion_code_id", Uuid, ForeignKey("promotion_codes.id"), nullable=True),
    # Given back: what redeemed it was abandoned unpaid (it counts no more).
    Column("released_at", Timestamp, nullable=True),
    UniqueConstraint("discount_id", "reference"),
    # a customer's earlier first-purchase redemptions (discounts.py)
    Index("ix_discount_redemptions_organization_id_customer_id", "organization_id", "customer_id"),
)

# What customers bought, as the billing engine records it (purchases.py):
# the catalog's only knowledge of use, until subscriptions announce theirs.
PURCHASE_REFERENCE_CONSTRAINT = "uq_purchases_organization_id_reference"

purchases = Table(
    "purchases",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("reference", Text, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("price_ids", ARRAY(Uuid), nullable=False),
    Column("purchased_at", Timestamp, nullable=False),
    # Never paid for (the subscriptions context's `purchase.abandoned`): not
    # the customer's purchase for first-purchase-only codes.
    Column("abandoned_at", Timestamp, nullable=True),
    UniqueConstraint("organization_id", "reference"),
    Index("ix_purchases_organization_id_customer_id", "organization_id", "customer_id"),
)

# One live rate per organization, country and region ('' for the whole country).
TAX_RATE_PLACE_INDEX = "uq_tax_rates_organization_id_country_region_live"

tax_rates = Table(
    "tax_rates",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("country", Text, nullable=False),
    Column("region", Text, nullable=False),
    # percent, up to 4 decimal places (billingos_pricing.invoices.TaxRate)
    Column("percentage", Numeric(7, 4), nullable=False),
    Column("inclusive", Boolean, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp, nullable=True),
    Index("ix_tax_rates_organization_id_id", "organization_id", "id"),
    Index(
        TAX_RATE_PLACE_INDEX,
        "organization_id",
        "country",
        "region",
        unique=True,
        postgresql_where=text("deleted_at IS NULL"),
    ),
    CheckConstraint("percentage >= 0 AND percentage <= 100", name="percentage_in_range"),
)

# One row per organization that chose its settings; its id is the organization's.
tax_settings = Table(
    "tax_settings",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("default_tax_behavior", Text, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    CheckConstraint("id = organization_id", name="one_per_organization"),
    CheckConstraint(
        "default_tax_behavior IN ('unspecified', 'inclusive', 'exclusive')",
        name="known_default_tax_behavior",
    ),
)


@dataclass
class KnownOrganization:
    """An organization as the customers context last announced it."""

    id: uuid.UUID
    slug: str
    name: str
    updated_at: dt.datetime


@dataclass
class KnownCustomer:
    """A customer as the customers context announced it; `deleted_at` set
    once it is deleted (and never cleared: a deletion is final)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    deleted_at: dt.datetime | None


@dataclass
class KnownBenefit:
    """A benefit as the entitlements context last announced it; `deleted_at`
    set once it is deleted (and never cleared: a deletion is final)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    key: str
    updated_at: dt.datetime
    deleted_at: dt.datetime | None


@dataclass
class Product:
    """What a merchant sells; `recurring_interval` None for a one-time product."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str
    recurring_interval: str | None
    recurring_count: int | None
    trial_interval: str | None
    trial_count: int | None
    metadata: dict[str, Any]
    public_metadata: dict[str, Any]
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    benefit_ids: list[uuid.UUID]


@dataclass
class Price:
    """What a product costs in one currency; never edited, only archived."""

    id: uuid.UUID
    organization_id: uuid.UUID
    product_id: uuid.UUID
    amount_type: str
    currency: str
    recurring_interval: str | None
    recurring_count: int | None
    amount_minor: int | None
    minimum_amount_minor: int | None
    maximum_amount_minor: int | None
    preset_amount_minor: int | None
    unit_amount: Decimal | None
    meter_id: uuid.UUID | None
    cap_amount_minor: int | None
    tier_mode: str | None
    seat_tiers: list[dict[str, Any]] | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lookup_key: str | None
    nickname: str
    metadata: dict[str, Any]
    tax_behavior: str
    first_used_at: dt.datetime | None
    minimum_spend_minor: int | None
    minimum_seats: int | None
    maximum_seats: int | None
    usage_tiers: list[dict[str, Any]] | None
    package_size: int | None
    amount_per_package: Decimal | None
    package_rounding: str | None
    free_units: Decimal | None
    percentage_rate: Decimal | None
    fixed_fee_per_event: Decimal | None
    per_event_minimum: Decimal | None
    per_event_maximum: Decimal | None


@dataclass
class Discount:
    """A percentage (`basis_points`) or per-currency amounts off. Deleting
    sets `deleted_at`; the row stays for its redemptions."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    code: str | None
    basis_points: int | None
    amounts_off: dict[str, int] | None
    duration: str
    duration_in_intervals: int | None
    max_redemptions: int | None
    redemption_count: int
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    product_ids: list[uuid.UUID]
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    duration_in_months: int | None


@dataclass
class PromotionCode:
    """A code for a discount, with limits of its own; archiving frees the code."""

    id: uuid.UUID
    organization_id: uuid.UUID
    discount_id: uuid.UUID
    code: str
    archived_at: dt.datetime | None
    max_redemptions: int | None
    redemption_count: int
    expires_at: dt.datetime | None
    first_purchase_only: bool
    customer_id: uuid.UUID | None
    minimum_amount_minor: int | None
    minimum_amount_currency: str | None
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class DiscountRedemption:
    """One use of a discount, once per discount and reference."""

    id: uuid.UUID
    organization_id: uuid.UUID
    discount_id: uuid.UUID
    reference: str
    customer_id: uuid.UUID | None
    redeemed_at: dt.datetime
    promotion_code_id: uuid.UUID | None
    released_at: dt.datetime | None = None


@dataclass
class Purchase:
    """Prices a customer bought, once per reference."""

    id: uuid.UUID
    organization_id: uuid.UUID
    reference: str
    customer_id: uuid.UUID
    price_ids: list[uuid.UUID]
    purchased_at: dt.datetime
    abandoned_at: dt.datetime | None = None


@dataclass
class TaxRate:
    """A rate for a country, or a region of one (`region` '' for the whole
    country); deleting sets `deleted_at`."""

    id: uuid.UUID
    organization_id: uuid.UUID
    display_name: str
    country: str
    region: str
    percentage: Decimal
    inclusive: bool
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None


@dataclass
class TaxSettings:
    """An organization's tax settings; `id` is the organization's id."""

    id: uuid.UUID
    organization_id: uuid.UUID
    default_tax_behavior: str
    updated_at: dt.datetime
