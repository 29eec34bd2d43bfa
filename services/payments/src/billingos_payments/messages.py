"""Requests to drafts, and rows to API messages (for the servicers and the
events). The status vocabularies' proto enums are mapped here, by codecs
checked against the StrEnums at import."""

from __future__ import annotations

import uuid

from google.protobuf import struct_pb2

from billingos.common.v1 import money_pb2
from billingos.payments.v1 import (
    connect_pb2,
    customer_portal_pb2,
    payment_methods_pb2,
    payments_pb2,
)
from billingos_kit.ids import parse_id
from billingos_kit.protoconv import timestamp
from billingos_kit.vocabulary import EnumCodec
from billingos_payments.customer_portal import StripeJs
from billingos_payments.drafts import AccountDraft, ChargeDraft, RefundDraft
from billingos_payments.models import (
    ConnectAccount,
    Payment,
    PaymentMethod,
    PaymentSettings,
    Refund,
    SetupIntent,
)
from billingos_payments.vocabulary import PaymentStatus, RefundStatus, SetupIntentStatus

SETUP_STATUS_CODEC = EnumCodec(
    SetupIntentStatus, payment_methods_pb2.SetupIntentStatus, "SETUP_INTENT_STATUS_"
)
PAYMENT_STATUS_CODEC = EnumCodec(PaymentStatus, payments_pb2.PaymentStatus, "PAYMENT_STATUS_")
REFUND_STATUS_CODEC = EnumCodec(RefundStatus, payments_pb2.RefundStatus, "REFUND_STATUS_")


def _money(amount_minor: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=currency)


def _id(value: object | None) -> str:
    return "" if value is None else str(value)


def setup_intent_message(row: SetupIntent) -> payment_methods_pb2.SetupIntent:
    return payment_methods_pb2.SetupIntent(
        id=str(row.id),
        organization_id=str(row.organization_id),
        customer_id=str(row.customer_id),
        stripe_setup_intent_id=row.stripe_setup_intent_id,
        client_secret=row.client_secret,
        status=payment_methods_pb2.SetupIntentStatus.ValueType(
            SETUP_STATUS_CODEC.to_proto(SetupIntentStatus(row.status))
        ),
        payment_method_id=_id(row.payment_method_id),
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def payment_method_message(row: PaymentMethod) -> payment_methods_pb2.PaymentMethod:
    return payment_methods_pb2.PaymentMethod(
        id=str(row.id),
        organization_id=str(row.organization_id),
        customer_id=str(row.customer_id),
        stripe_payment_method_id=row.stripe_payment_method_id,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        is_default=row.is_default,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
        detach_time=timestamp(row.detached_at),
    )


def portal_setup_intent_message(
    row: SetupIntent, stripe_js: StripeJs
) -> customer_portal_pb2.PortalSetupIntent:
    """A SetupIntent as the customer's page needs it: no Stripe ids, no
    organization or customer (the session's own)."""
    return customer_portal_pb2.PortalSetupIntent(
        id=str(row.id),
        status=payment_methods_pb2.SetupIntentStatus.ValueType(
            SETUP_STATUS_CODEC.to_proto(SetupIntentStatus(row.status))
        ),
        client_secret=row.client_secret,
        publishable_key=stripe_js.publishable_key,
        stripe_js_url=stripe_js.js_url,
        payment_method_id=_id(row.payment_method_id),
        create_time=timestamp(row.created_at),
    )


def portal_payment_method_message(row: PaymentMethod) -> customer_portal_pb2.PortalPaymentMethod:
    """A card as its customer sees it: what a page shows, no Stripe id."""
    return customer_portal_pb2.PortalPaymentMethod(
        id=str(row.id),
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        is_default=row.is_default,
        create_time=timestamp(row.created_at),
        detach_time=timestamp(row.detached_at),
    )


def payment_message(row: Payment) -> payments_pb2.Payment:
    message = payments_pb2.Payment(
        id=str(row.id),
        organization_id=str(row.organization_id),
        customer_id=str(row.customer_id),
        order_id=str(row.order_id),
        attempt_number=row.attempt_number,
        amount=_money(row.amount_minor, row.currency),
        payment_method_id=_id(row.payment_method_id),
        stripe_payment_intent_id=row.stripe_payment_intent_id or "",
        status=payments_pb2.PaymentStatus.ValueType(
            PAYMENT_STATUS_CODEC.to_proto(PaymentStatus(row.status))
        ),
        failure_code=row.failure_code or "",
        decline_code=row.decline_code or "",
        failure_message=row.failure_message or "",
        retryable=row.retryable,
        client_secret=row.client_secret or "",
        destination_account_id=row.destination_account or "",
        amount_refunded=_money(row.amount_refunded_minor, row.currency),
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )
    if row.application_fee_minor is not None:
        message.application_fee.CopyFrom(_money(row.application_fee_minor, row.currency))
    return message


def refund_message(row: Refund) -> payments_pb2.Refund:
    return payments_pb2.Refund(
        id=str(row.id),
        organization_id=str(row.organization_id),
        payment_id=str(row.payment_id),
        amount=_money(row.amount_minor, row.currency),
        reason=row.reason,
        stripe_refund_id=row.stripe_refund_id or "",
        status=payments_pb2.RefundStatus.ValueType(
            REFUND_STATUS_CODEC.to_proto(RefundStatus(row.status))
        ),
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
        failure_reason=row.failure_reason or "",
    )


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def connect_account_message(
    row: ConnectAccount, fee_basis_points: int
) -> connect_pb2.ConnectAccount:
    requirements = row.stripe_account.get("requirements") or {}
    stripe_account = struct_pb2.Struct()
    stripe_account.update(row.stripe_account)
    disabled = requirements.get("disabled_reason")
    return connect_pb2.ConnectAccount(
        id=str(row.id),
        organization_id=str(row.organization_id),
        stripe_account_id=row.stripe_account_id,
        country=row.country,
        email=row.email,
        charges_enabled=row.charges_enabled,
        payouts_enabled=row.payouts_enabled,
        details_submitted=row.details_submitted,
        requirements=connect_pb2.ConnectAccount.Requirements(
            currently_due=_strings(requirements.get("currently_due")),
            eventually_due=_strings(requirements.get("eventually_due")),
            past_due=_strings(requirements.get("past_due")),
            disabled_reason=disabled if isinstance(disabled, str) else "",
        ),
        stripe_account=stripe_account,
        application_fee_basis_points=fee_basis_points,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def payment_settings_message(row: PaymentSettings) -> payments_pb2.PaymentSettings:
    return payments_pb2.PaymentSettings(
        organization_id=str(row.organization_id),
        application_fee_basis_points=row.application_fee_basis_points,
    )


# ---- requests to drafts -------------------------------------------------------


def optional_id(value: str, field: str) -> uuid.UUID | None:
    return parse_id(value, field) if value else None


def charge_draft(request: payments_pb2.ChargeOrderRequest) -> ChargeDraft:
    return ChargeDraft(
        customer_id=parse_id(request.customer_id, "customer_id"),
        order_id=parse_id(request.order_id, "order_id"),
        attempt_number=request.attempt_number,
        amount_minor=request.amount.amount_minor,
        currency=request.amount.currency,
        payment_method_id=optional_id(request.payment_method_id, "payment_method_id"),
    )


def refund_draft(given: payments_pb2.Refund) -> RefundDraft:
    has_amount = given.HasField("amount")
    return RefundDraft(
        payment_id=parse_id(given.payment_id, "refund.payment_id"),
        amount_minor=given.amount.amount_minor if has_amount else None,
        currency=given.amount.currency if has_amount else "",
        reason=given.reason,
    )


def account_draft(given: connect_pb2.ConnectAccount) -> AccountDraft:
    return AccountDraft(country=given.country, email=given.email)
