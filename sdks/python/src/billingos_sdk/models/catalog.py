"""Products and their prices.

Amounts are integers in the currency's minor unit (``2900`` USD cents);
the wire's int64 strings are converted. Enums (``interval``,
``tax_behavior``) stay strings such as ``"INTERVAL_MONTH"``: a value added
to the API later then reads as itself instead of failing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from . import _json as j

# The `oneof amount` of a price, in the order the API documents them.
AMOUNT_KINDS: Final = (
    "fixed",
    "custom",
    "free",
    "metered_unit",
    "seat_based",
    "metered_tiers",
    "metered_package",
    "metered_percentage",
    "metered_graduated_percentage",
)


@dataclass(frozen=True)
class Period:
    """``count`` times ``interval``, e.g. 3 × ``INTERVAL_MONTH``."""

    interval: str
    count: int = 1

    @classmethod
    def from_json(cls, data: j.Json) -> Period:
        return cls(interval=j.text(data, "interval"), count=j.integer(data, "count") or 1)


@dataclass(frozen=True)
class FixedAmount:
    amount_minor: int

    @classmethod
    def from_json(cls, data: j.Json) -> FixedAmount:
        return cls(amount_minor=j.integer(data, "amount_minor"))


@dataclass(frozen=True)
class CustomAmount:
    """Pay what you want, within bounds."""

    minimum_amount_minor: int
    maximum_amount_minor: int | None
    preset_amount_minor: int | None

    @classmethod
    def from_json(cls, data: j.Json) -> CustomAmount:
        return cls(
            minimum_amount_minor=j.integer(data, "minimum_amount_minor"),
            maximum_amount_minor=j.optional_integer(data, "maximum_amount_minor"),
            preset_amount_minor=j.optional_integer(data, "preset_amount_minor"),
        )


@dataclass(frozen=True)
class Price:
    """A price. ``fixed`` and ``custom`` are typed; the metered and
    seat-based amounts (tiers, packages, percentages) are given as their JSON
    in ``amount`` for the kind that `amount_kind` names."""

    id: str
    product_id: str
    organization_id: str
    currency: str
    archived: bool
    lookup_key: str
    nickname: str
    metadata: Mapping[str, Any]
    recurring: Period | None
    tax_behavior: str
    fixed: FixedAmount | None
    custom: CustomAmount | None
    create_time: dt.datetime | None
    update_time: dt.datetime | None
    first_use_time: dt.datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def amount_kind(self) -> str:
        """Which amount the price has (``"fixed"``, ``"metered_unit"``…);
        empty when the server sent a kind this SDK does not know."""
        return next((kind for kind in AMOUNT_KINDS if kind in self.raw), "")

    @property
    def amount(self) -> Mapping[str, Any]:
        """The JSON of the price's amount, whatever its kind."""
        kind = self.amount_kind
        value = self.raw.get(kind) if kind else None
        return value if isinstance(value, Mapping) else {}

    @classmethod
    def from_json(cls, data: j.Json) -> Price:
        return cls(
            id=j.text(data, "id"),
            product_id=j.text(data, "product_id"),
            organization_id=j.text(data, "organization_id"),
            currency=j.text(data, "currency"),
            archived=j.boolean(data, "archived"),
            lookup_key=j.text(data, "lookup_key"),
            nickname=j.text(data, "nickname"),
            metadata=j.mapping(data, "metadata"),
            recurring=j.nested(data, "recurring", Period.from_json),
            tax_behavior=j.text(data, "tax_behavior"),
            fixed=j.nested(data, "fixed", FixedAmount.from_json),
            custom=j.nested(data, "custom", CustomAmount.from_json),
            create_time=j.timestamp(data, "create_time"),
            update_time=j.timestamp(data, "update_time"),
            first_use_time=j.timestamp(data, "first_use_time"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Product:
    id: str
    organization_id: str
    name: str
    description: str
    archived: bool
    recurring: Period | None
    """The billing period of a subscription product; None: one-time."""
    trial: Period | None
    metadata: Mapping[str, Any]
    public_metadata: Mapping[str, Any]
    prices: tuple[Price, ...]
    """The product's prices that are not archived."""
    benefit_ids: tuple[str, ...]
    create_time: dt.datetime | None
    update_time: dt.datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: j.Json) -> Product:
        return cls(
            id=j.text(data, "id"),
            organization_id=j.text(data, "organization_id"),
            name=j.text(data, "name"),
            description=j.text(data, "description"),
            archived=j.boolean(data, "archived"),
            recurring=j.nested(data, "recurring", Period.from_json),
            trial=j.nested(data, "trial", Period.from_json),
            metadata=j.mapping(data, "metadata"),
            public_metadata=j.mapping(data, "public_metadata"),
            prices=j.each(data, "prices", Price.from_json),
            benefit_ids=j.strings(data, "benefit_ids"),
            create_time=j.timestamp(data, "create_time"),
            update_time=j.timestamp(data, "update_time"),
            raw=dict(data),
        )
