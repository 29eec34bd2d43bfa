"""What requests ask of the customers context, as domain inputs: plain
values, no protobuf (messages.py builds them), no rules (the domain modules
check them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from billingos_kit.protoconv import MetadataValue


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    postal_code: str = ""
    city: str = ""
    state: str = ""
    country: str = ""


@dataclass(frozen=True)
class CustomerFields:
    """A customer's merchant-writable fields, as a request gives them."""

    email: str = ""
    external_id: str = ""
    name: str = ""
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    billing_address: Address | None = None
    # Create only (CUSTOMER_MASK's immutable field), as the request spells it.
    test_clock_id: str = ""

    def column_values(self, paths: Sequence[str]) -> dict[str, object]:
        """The row's values for the fields named in `paths` (API field names
        and column names are the same)."""
        values: dict[str, object] = {
            "email": self.email.strip(),
            "external_id": self.external_id or None,
            "name": self.name,
            "metadata": self.metadata,
            "billing_address": _address_json(self.billing_address),
        }
        return {path: values[path] for path in paths}


@dataclass(frozen=True)
class SessionRequest:
    """What CreateCustomerSession asks for: the customer by id or by the
    merchant's external id (exactly one), and a lifetime (0: the default)."""

    customer_id: str = ""
    external_customer_id: str = ""
    ttl_seconds: int = 0


def _address_json(address: Address | None) -> dict[str, str] | None:
    if address is None:
        return None
    return {k: v for k, v in dataclasses.asdict(address).items() if v}


@dataclass(frozen=True)
class WebhookEndpointFields:
    """A webhook endpoint's merchant-writable fields, as a request gives them."""

    url: str = ""
    description: str = ""
    event_types: tuple[str, ...] = ()
    disabled: bool = False


@dataclass(frozen=True)
class Branding:
    """An organization's branding, as a request gives it."""

    logo_url: str = ""
    brand_color: str = ""
    support_email: str = ""


@dataclass(frozen=True)
class OrganizationFields:
    """An organization's merchant-writable fields, as a request gives them."""

    name: str = ""
    branding: Branding = field(default_factory=Branding)
