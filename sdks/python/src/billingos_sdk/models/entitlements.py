"""Benefit grants and entitlement checks. Unit counts are `Decimal`: meter
credits may be fractional and must stay exact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import _json as j


@dataclass(frozen=True)
class MeterCreditsGrant:
    meter_id: str
    units: Decimal | None
    """Units credited each period."""
    credited_period_start: dt.datetime | None

    @classmethod
    def from_json(cls, data: j.Json) -> MeterCreditsGrant:
        return cls(
            meter_id=j.text(data, "meter_id"),
            units=j.decimal(data, "units"),
            credited_period_start=j.timestamp(data, "credited_period_start"),
        )


@dataclass(frozen=True)
class LicenseKeyGrant:
    license_key_id: str
    display_key: str

    @classmethod
    def from_json(cls, data: j.Json) -> LicenseKeyGrant:
        return cls(
            license_key_id=j.text(data, "license_key_id"),
            display_key=j.text(data, "display_key"),
        )


@dataclass(frozen=True)
class CustomGrant:
    note: str
    properties: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: j.Json) -> CustomGrant:
        return cls(note=j.text(data, "note"), properties=j.mapping(data, "properties"))


@dataclass(frozen=True)
class BenefitGrant:
    id: str
    organization_id: str
    customer_id: str
    member_id: str
    benefit_id: str
    benefit_key: str
    benefit_type: str
    """E.g. ``"BENEFIT_TYPE_FEATURE_FLAG"``."""
    product_id: str
    subscription_id: str
    order_id: str
    is_granted: bool
    grant_time: dt.datetime | None
    revoke_time: dt.datetime | None
    create_time: dt.datetime | None
    update_time: dt.datetime | None
    meter_credits: MeterCreditsGrant | None
    license_key: LicenseKeyGrant | None
    custom: CustomGrant | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: j.Json) -> BenefitGrant:
        return cls(
            id=j.text(data, "id"),
            organization_id=j.text(data, "organization_id"),
            customer_id=j.text(data, "customer_id"),
            member_id=j.text(data, "member_id"),
            benefit_id=j.text(data, "benefit_id"),
            benefit_key=j.text(data, "benefit_key"),
            benefit_type=j.text(data, "benefit_type"),
            product_id=j.text(data, "product_id"),
            subscription_id=j.text(data, "subscription_id"),
            order_id=j.text(data, "order_id"),
            is_granted=j.boolean(data, "is_granted"),
            grant_time=j.timestamp(data, "grant_time"),
            revoke_time=j.timestamp(data, "revoke_time"),
            create_time=j.timestamp(data, "create_time"),
            update_time=j.timestamp(data, "update_time"),
            meter_credits=j.nested(data, "meter_credits", MeterCreditsGrant.from_json),
            license_key=j.nested(data, "license_key", LicenseKeyGrant.from_json),
            custom=j.nested(data, "custom", CustomGrant.from_json),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Entitlement:
    """The answer to "may this customer use this feature now?"."""

    feature: str
    allowed: bool
    reason: str
    """E.g. ``"ENTITLEMENT_REASON_GRANTED"``, ``"ENTITLEMENT_REASON_UNKNOWN_FEATURE"``."""
    benefit_id: str
    benefit_type: str
    meter_id: str
    balance: Decimal | None
    credited_units: Decimal | None
    consumed_units: Decimal | None
    as_of_time: dt.datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def __bool__(self) -> bool:
        """``if billingos.entitlements.check(...):`` reads as the question."""
        return self.allowed

    @classmethod
    def from_json(cls, data: j.Json) -> Entitlement:
        return cls(
            feature=j.text(data, "feature"),
            allowed=j.boolean(data, "allowed"),
            reason=j.text(data, "reason"),
            benefit_id=j.text(data, "benefit_id"),
            benefit_type=j.text(data, "benefit_type"),
            meter_id=j.text(data, "meter_id"),
            balance=j.decimal(data, "balance"),
            credited_units=j.decimal(data, "credited_units"),
            consumed_units=j.decimal(data, "consumed_units"),
            as_of_time=j.timestamp(data, "as_of_time"),
            raw=dict(data),
        )
