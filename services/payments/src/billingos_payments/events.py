"""The events the payments context publishes, built from rows; what each is
(type, subject, the entity whose state it carries) is declared on the
message in protos/billingos/payments/v1/events.proto."""

from __future__ import annotations

from billingos.payments.v1 import events_pb2
from billingos_kit.protoconv import timestamp
from billingos_payments.messages import (
    connect_account_message,
    payment_message,
    payment_method_message,
    refund_message,
)
from billingos_payments.models import ConnectAccount, Customer, Payment, PaymentMethod, Refund
from billingos_payments.vocabulary import PaymentStatus


def stripe_customer_created(customer: Customer) -> events_pb2.StripeCustomerCreatedEvent:
    return events_pb2.StripeCustomerCreatedEvent(
        stripe_customer=events_pb2.StripeCustomer(
            id=str(customer.id),
            stripe_customer_id=customer.stripe_customer_id or "",
            create_time=timestamp(customer.updated_at),
        )
    )


def payment_method_attached(row: PaymentMethod) -> events_pb2.PaymentMethodAttachedEvent:
    return events_pb2.PaymentMethodAttachedEvent(payment_method=payment_method_message(row))


def payment_method_updated(row: PaymentMethod) -> events_pb2.PaymentMethodUpdatedEvent:
    return events_pb2.PaymentMethodUpdatedEvent(payment_method=payment_method_message(row))


def payment_method_detached(row: PaymentMethod) -> events_pb2.PaymentMethodDetachedEvent:
    return events_pb2.PaymentMethodDetachedEvent(payment_method=payment_method_message(row))


def payment_outcome(
    row: Payment,
) -> (
    events_pb2.PaymentSucceededEvent
    | events_pb2.PaymentFailedEvent
    | events_pb2.PaymentRequiresActionEvent
    | None
):
    """The event a payment's status announces (None: nothing yet to announce)."""
    status = PaymentStatus(row.status)
    if status is PaymentStatus.SUCCEEDED:
        return events_pb2.PaymentSucceededEvent(payment=payment_message(row))
    if status is PaymentStatus.FAILED:
        return events_pb2.PaymentFailedEvent(payment=payment_message(row))
    if status is PaymentStatus.REQUIRES_ACTION:
        return events_pb2.PaymentRequiresActionEvent(payment=payment_message(row))
    return None


def refund_created(row: Refund) -> events_pb2.RefundCreatedEvent:
    return events_pb2.RefundCreatedEvent(refund=refund_message(row))


def refund_updated(row: Refund) -> events_pb2.RefundUpdatedEvent:
    return events_pb2.RefundUpdatedEvent(refund=refund_message(row))


def account_updated(row: ConnectAccount, fee_basis_points: int) -> events_pb2.AccountUpdatedEvent:
    return events_pb2.AccountUpdatedEvent(
        connect_account=connect_account_message(row, fee_basis_points)
    )
