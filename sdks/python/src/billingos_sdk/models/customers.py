"""Customers and their portal sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _json as j


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    """ISO 3166-1 alpha-2, upper case."""

    @classmethod
    def from_json(cls, data: j.Json) -> Address:
        return cls(
            line1=j.text(data, "line1"),
            line2=j.text(data, "line2"),
            city=j.text(data, "city"),
            state=j.text(data, "state"),
            postal_code=j.text(data, "postal_code"),
            country=j.text(data, "country"),
        )


@dataclass(frozen=True)
class Customer:
    id: str
    organization_id: str
    email: str
    external_id: str
    """The merchant's own id for the customer; empty when none was given."""
    name: str
    metadata: Mapping[str, Any]
    billing_address: Address | None
    stripe_customer_id: str
    test_clock_id: str
    create_time: dt.datetime | None
    update_time: dt.datetime | None
    delete_time: dt.datetime | None
    """Set once the customer is deleted."""
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: j.Json) -> Customer:
        return cls(
            id=j.text(data, "id"),
            organization_id=j.text(data, "organization_id"),
            email=j.text(data, "email"),
            external_id=j.text(data, "external_id"),
            name=j.text(data, "name"),
            metadata=j.mapping(data, "metadata"),
            billing_address=j.nested(data, "billing_address", Address.from_json),
            stripe_customer_id=j.text(data, "stripe_customer_id"),
            test_clock_id=j.text(data, "test_clock_id"),
            create_time=j.timestamp(data, "create_time"),
            update_time=j.timestamp(data, "update_time"),
            delete_time=j.timestamp(data, "delete_time"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class CustomerSession:
    id: str
    organization_id: str
    customer_id: str
    token: str
    """Sent as ``Authorization: Bearer <token>`` to the customer-portal
    routes; only the create answer carries it."""
    create_time: dt.datetime | None
    expire_time: dt.datetime | None
    revoke_time: dt.datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: j.Json) -> CustomerSession:
        return cls(
            id=j.text(data, "id"),
            organization_id=j.text(data, "organization_id"),
            customer_id=j.text(data, "customer_id"),
            token=j.text(data, "token"),
            create_time=j.timestamp(data, "create_time"),
            expire_time=j.timestamp(data, "expire_time"),
            revoke_time=j.timestamp(data, "revoke_time"),
            raw=dict(data),
        )
