"""Both directions: request messages → drafts, rows → messages. Nothing else."""

from __future__ import annotations

from typing import Any

from billingos.entitlements.v1 import (
    benefit_grants_pb2,
    benefits_pb2,
    customer_portal_pb2,
    customer_state_pb2,
    entitlements_pb2,
    license_keys_pb2,
)
from billingos_entitlements.customer_portal import PortalKeyView
from billingos_entitlements.customer_state import CustomerState
from billingos_entitlements.drafts import BenefitDraft
from billingos_entitlements.entitlements import Answer
from billingos_entitlements.license_keys import KeyView
from billingos_entitlements.models import NO_MEMBER, Benefit, BenefitGrant, LicenseKeyActivation
from billingos_entitlements.vocabulary import (
    BENEFIT_TYPES,
    CREDIT_RENEWALS,
    KEY_STATUSES,
    REASONS,
    BenefitType,
    CreditRenewal,
    GrantSource,
)
from billingos_kit.protoconv import MetadataReader, metadata_to_proto, timestamp


def benefit_draft(message: benefits_pb2.Benefit) -> BenefitDraft:
    reader = MetadataReader()
    chosen = message.WhichOneof("properties")
    properties: dict[str, Any] = {}
    if chosen == "meter_credits":
        credits = message.meter_credits
        renewal = CREDIT_RENEWALS.from_proto(credits.renewal) or CreditRenewal.RESET
        properties = {"meter_id": credits.meter_id, "units": credits.units, "renewal": renewal}
    elif chosen == "license_keys":
        keys = message.license_keys
        properties = {
            "prefix": keys.prefix,
            "activation_limit": keys.activation_limit,
            "expires_after_days": keys.expires_after_days,
        }
    elif chosen == "custom":
        properties = {
            "properties": reader.read(message.custom.properties, "benefit.custom.properties"),
            "note": message.custom.note,
        }
    draft = BenefitDraft(
        type=BENEFIT_TYPES.from_proto(message.type),
        key=message.key,
        description=message.description,
        properties_type=BenefitType(chosen) if chosen is not None else None,
        properties=properties,
        metadata=reader.read(message.metadata, "benefit.metadata"),
    )
    reader.raise_if_any()
    return draft


def benefit_message(benefit: Benefit) -> benefits_pb2.Benefit:
    kind = BenefitType(benefit.type)
    message = benefits_pb2.Benefit(
        id=str(benefit.id),
        organization_id=str(benefit.organization_id),
        type=benefits_pb2.BenefitType.ValueType(BENEFIT_TYPES.to_proto(kind)),
        key=benefit.key,
        description=benefit.description,
        metadata=metadata_to_proto(benefit.metadata),
        create_time=timestamp(benefit.created_at),
        update_time=timestamp(benefit.updated_at),
        delete_time=timestamp(benefit.deleted_at),
    )
    props = benefit.properties
    if kind is BenefitType.FEATURE_FLAG:
        message.feature_flag.SetInParent()
    elif kind is BenefitType.METER_CREDITS:
        renewal = CREDIT_RENEWALS.to_proto(CreditRenewal(props["renewal"]))
        message.meter_credits.CopyFrom(
            benefits_pb2.MeterCreditsProperties(
                meter_id=props["meter_id"],
                units=props["units"],
                renewal=benefits_pb2.CreditRenewal.ValueType(renewal),
            )
        )
    elif kind is BenefitType.LICENSE_KEYS:
        message.license_keys.CopyFrom(
            benefits_pb2.LicenseKeysProperties(
                prefix=props["prefix"],
                activation_limit=props["activation_limit"],
                expires_after_days=props["expires_after_days"],
            )
        )
    else:
        message.custom.CopyFrom(
            benefits_pb2.CustomProperties(
                properties=metadata_to_proto(props.get("properties", {})),
                note=props.get("note", ""),
            )
        )
    return message


def grant_message(grant: BenefitGrant, benefit: Benefit) -> benefit_grants_pb2.BenefitGrant:
    """A grant with what it carries; `benefit` is the grant's (for its type
    and key)."""
    kind = BenefitType(benefit.type)
    source = GrantSource(grant.source)
    message = benefit_grants_pb2.BenefitGrant(
        id=str(grant.id),
        organization_id=str(grant.organization_id),
        customer_id=str(grant.customer_id),
        member_id="" if grant.member_id == NO_MEMBER else str(grant.member_id),
        benefit_id=str(grant.benefit_id),
        benefit_type=benefits_pb2.BenefitType.ValueType(BENEFIT_TYPES.to_proto(kind)),
        benefit_key=benefit.key,
        subscription_id=str(grant.source_id) if source is GrantSource.SUBSCRIPTION else "",
        order_id=str(grant.source_id) if source is GrantSource.ORDER else "",
        product_id=str(grant.product_id),
        is_granted=grant.is_granted,
        grant_time=timestamp(grant.granted_at),
        revoke_time=timestamp(grant.revoked_at),
        create_time=timestamp(grant.created_at),
        update_time=timestamp(grant.updated_at),
    )
    props = grant.properties
    if kind is BenefitType.METER_CREDITS:
        message.meter_credits.CopyFrom(
            benefit_grants_pb2.MeterCreditsGrant(
                meter_id=str(props.get("meter_id", "")),
                units=str(props.get("units", "")),
                credited_period_start=timestamp(None),
            )
        )
    elif kind is BenefitType.LICENSE_KEYS:
        message.license_key.CopyFrom(
            benefit_grants_pb2.LicenseKeyGrant(
                license_key_id=str(props.get("license_key_id", "")),
                display_key=str(props.get("key", "")),
            )
        )
    elif kind is BenefitType.CUSTOM:
        message.custom.CopyFrom(
            benefit_grants_pb2.CustomGrant(
                properties=metadata_to_proto(props.get("properties", {})),
                note=str(props.get("note", "")),
            )
        )
    return message


def entitlement_message(answer: Answer) -> entitlements_pb2.Entitlement:
    return entitlements_pb2.Entitlement(
        feature=answer.feature,
        allowed=answer.allowed,
        reason=entitlements_pb2.EntitlementReason.ValueType(REASONS.to_proto(answer.reason)),
        benefit_id=str(answer.benefit_id) if answer.benefit_id else "",
        benefit_type=benefits_pb2.BenefitType.ValueType(
            BENEFIT_TYPES.to_proto(answer.benefit_type) if answer.benefit_type else 0
        ),
        meter_id=str(answer.meter_id) if answer.meter_id else "",
        balance=answer.balance,
        credited_units=answer.credited,
        consumed_units=answer.consumed,
        as_of_time=timestamp(answer.as_of),
    )


def customer_state_message(state: CustomerState) -> customer_state_pb2.CustomerState:
    return customer_state_pb2.CustomerState(
        customer_id=str(state.customer.id),
        external_customer_id=state.customer.external_id or "",
        subscriptions=[
            customer_state_pb2.CustomerStateSubscription(
                id=str(source.id),
                product_id=str(source.product_id),
                price_id=str(source.price_id) if source.price_id else "",
                status=source.status,
                current_period_start=timestamp(source.current_period_start),
                current_period_end=timestamp(source.current_period_end),
                cancel_at_period_end=source.cancel_at_period_end,
                seats=source.seats,
            )
            for source in state.subscriptions
        ],
        granted_benefits=[grant_message(v.grant, v.benefit) for v in state.grants],
        meters=[
            customer_state_pb2.CustomerStateMeter(
                meter_id=str(meter_id),
                consumed_units=entry.consumed,
                credited_units=entry.credited,
                balance=entry.balance,
                update_time=timestamp(entry.updated),
            )
            for meter_id, entry in state.meters
        ],
    )


def license_key_message(view: KeyView) -> license_keys_pb2.LicenseKey:
    key = view.key
    return license_keys_pb2.LicenseKey(
        id=str(key.id),
        organization_id=str(key.organization_id),
        customer_id=str(key.customer_id),
        benefit_id=str(key.benefit_id),
        benefit_grant_id=str(key.grant_id),
        key=key.key,
        is_granted=view.granted,
        activation_limit=key.activation_limit,
        activations=view.activations,
        expire_time=timestamp(key.expires_at),
        create_time=timestamp(key.created_at),
        update_time=timestamp(key.updated_at),
    )


def activation_message(row: LicenseKeyActivation) -> license_keys_pb2.LicenseKeyActivation:
    return license_keys_pb2.LicenseKeyActivation(
        id=str(row.id),
        license_key_id=str(row.license_key_id),
        label=row.label,
        create_time=timestamp(row.created_at),
    )


def portal_license_key_message(shown: PortalKeyView) -> customer_portal_pb2.PortalLicenseKey:
    """A key as its customer sees it: the key itself, what it is for, and
    none of the merchant's ids but the benefit's."""
    key = shown.view.key
    return customer_portal_pb2.PortalLicenseKey(
        id=str(key.id),
        benefit_id=str(key.benefit_id),
        benefit_description=shown.benefit.description,
        key=key.key,
        status=customer_portal_pb2.PortalLicenseKeyStatus.ValueType(
            KEY_STATUSES.to_proto(shown.status)
        ),
        activation_limit=key.activation_limit,
        activations=shown.view.activations,
        expire_time=timestamp(key.expires_at),
        create_time=timestamp(key.created_at),
    )
