"""The entitlements vocabularies: what rows store and the domain speaks, each
with its proto enum's codec (checked against the StrEnum at import, so a
value added on one side only fails at start-up)."""

from __future__ import annotations

from enum import StrEnum

from billingos.entitlements.v1 import benefits_pb2, customer_portal_pb2, entitlements_pb2
from billingos_kit.vocabulary import EnumCodec


class BenefitType(StrEnum):
    """What a benefit gives; the name of its `properties` oneof field."""

    FEATURE_FLAG = "feature_flag"
    METER_CREDITS = "meter_credits"
    LICENSE_KEYS = "license_keys"
    CUSTOM = "custom"


class CreditRenewal(StrEnum):
    """What a meter's unused credits do at a period's end."""

    RESET = "reset"
    ROLLOVER = "rollover"


class EntitlementReason(StrEnum):
    """Why a check answered as it did."""

    GRANTED = "granted"
    NOT_GRANTED = "not_granted"
    UNKNOWN_FEATURE = "unknown_feature"
    NO_CREDITS_LEFT = "no_credits_left"


class GrantSource(StrEnum):
    """What grants a benefit: a subscription while it lives, or a one-time
    order while it stays paid."""

    SUBSCRIPTION = "subscription"
    ORDER = "order"


class KeyStatus(StrEnum):
    """Whether a license key validates now."""

    VALID = "valid"
    REVOKED = "revoked"  # its grant was (valid again on a regrant)
    EXPIRED = "expired"


BENEFIT_TYPES = EnumCodec(BenefitType, benefits_pb2.BenefitType, "BENEFIT_TYPE_")
CREDIT_RENEWALS = EnumCodec(CreditRenewal, benefits_pb2.CreditRenewal, "CREDIT_RENEWAL_")
REASONS = EnumCodec(EntitlementReason, entitlements_pb2.EntitlementReason, "ENTITLEMENT_REASON_")
KEY_STATUSES = EnumCodec(
    KeyStatus, customer_portal_pb2.PortalLicenseKeyStatus, "PORTAL_LICENSE_KEY_STATUS_"
)
