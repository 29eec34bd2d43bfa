"""The rules of a benefit's fields, in one place: the key a merchant's app
checks, the description, and each type's properties as stored in the
`properties` column (and read back by messages.py):

- feature_flag:  {}
- meter_credits: {"meter_id": "<uuid>", "units": "<decimal>", "renewal": "reset" | "rollover"}
- license_keys:  {"prefix": str, "activation_limit": int, "expires_after_days": int}
- custom:        {"properties": {<metadata>}, "note": str}
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from billingos_entitlements.drafts import BenefitDraft
from billingos_entitlements.vocabulary import BenefitType, CreditRenewal
from billingos_kit.ids import canonical_id
from billingos_kit.validation import TextPattern, Violations, check_metadata, check_text

BENEFIT_KEY = TextPattern(
    r"[a-z0-9][a-z0-9_.-]{0,63}",
    "1-64 characters of a-z, 0-9, '_', '-' and '.', a letter or digit first",
)
MAX_DESCRIPTION = 280
MAX_NOTE = 2000
LICENSE_PREFIX = TextPattern(r"[A-Za-z0-9-]{0,16}", "at most 16 letters, digits and '-'")
MAX_ACTIVATIONS = 1000
MAX_EXPIRY_DAYS = 36_500
# A credit's units: positive, at most 18 digits before the point and 12 after.
_UNITS = re.compile(r"\d{1,18}(\.\d{1,12})?", re.ASCII)


def check_new(violations: Violations, draft: BenefitDraft) -> None:
    """Everything a create needs: a type, its properties, a key, a description."""
    if draft.type is None:
        violations.add("benefit.type", "is required")
    BENEFIT_KEY.check(violations, "benefit.key", draft.key)
    check_description(violations, draft.description)
    if draft.type is not None:
        if draft.properties_type not in (None, draft.type):
            violations.add(
                f"benefit.{draft.properties_type}",
                f"does not go with type {draft.type.name}; set benefit.{draft.type.value}",
            )
        else:
            check_properties(violations, draft.type, draft.properties)
    check_metadata(violations, "benefit.metadata", draft.metadata)


def check_description(violations: Violations, description: str) -> None:
    check_text(
        violations, "benefit.description", description, max_length=MAX_DESCRIPTION, required=True
    )


def check_properties(violations: Violations, kind: BenefitType, properties: dict[str, Any]) -> None:
    """The type's properties, as messages.py read them from the request."""
    at = f"benefit.{kind.value}"
    if kind is BenefitType.METER_CREDITS:
        if canonical_id(str(properties.get("meter_id", ""))) is None:
            violations.add(f"{at}.meter_id", "must be a meter id (canonical UUID form)")
        units = str(properties.get("units", ""))
        if not _UNITS.fullmatch(units) or Decimal(units) <= 0:
            violations.add(
                f"{at}.units",
                "must be a positive decimal, at most 18 digits before the point and 12 after",
            )
    elif kind is BenefitType.LICENSE_KEYS:
        LICENSE_PREFIX.check(violations, f"{at}.prefix", str(properties.get("prefix", "")))
        limit = int(properties.get("activation_limit", 0))
        if not 0 <= limit <= MAX_ACTIVATIONS:
            violations.add(f"{at}.activation_limit", f"must be 0 (no limit) to {MAX_ACTIVATIONS}")
        days = int(properties.get("expires_after_days", 0))
        if not 0 <= days <= MAX_EXPIRY_DAYS:
            violations.add(f"{at}.expires_after_days", f"must be 0 (never) to {MAX_EXPIRY_DAYS}")
    elif kind is BenefitType.CUSTOM:
        check_metadata(violations, f"{at}.properties", properties.get("properties", {}))
        check_text(violations, f"{at}.note", str(properties.get("note", "")), max_length=MAX_NOTE)


def stored_properties(kind: BenefitType, properties: dict[str, Any]) -> dict[str, Any]:
    """The checked properties as the column keeps them (units normalised, the
    renewal spelt out), so equal benefits store equal JSON."""
    if kind is BenefitType.METER_CREDITS:
        meter = canonical_id(str(properties["meter_id"]))
        units = Decimal(str(properties["units"])).normalize()
        return {
            "meter_id": str(meter),
            "units": format(units, "f"),
            "renewal": str(properties.get("renewal") or CreditRenewal.RESET),
        }
    if kind is BenefitType.LICENSE_KEYS:
        return {
            "prefix": str(properties.get("prefix", "")),
            "activation_limit": int(properties.get("activation_limit", 0)),
            "expires_after_days": int(properties.get("expires_after_days", 0)),
        }
    if kind is BenefitType.CUSTOM:
        return {
            "properties": dict(properties.get("properties", {})),
            "note": str(properties.get("note", "")),
        }
    return {}
