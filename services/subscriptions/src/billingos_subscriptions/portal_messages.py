"""Rows to the customer portal's messages: what a customer sees of its
subscriptions, orders and a change's preview, and nothing the merchant
keeps to itself (metadata, prices' nicknames, charge attempts' decline
codes). What a message shows is decided by the caller (customer_portal.py:
the products, whether a discount still covers the period); these only
shape it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from billingos.catalog.v1 import discounts_pb2, products_pb2
from billingos.subscriptions.v1 import customer_portal_pb2
from billingos_kit.protoconv import timestamp
from billingos_pricing import invoices
from billingos_subscriptions import price_lines
from billingos_subscriptions.billing import price_of
from billingos_subscriptions.change_preview import ChangePreview, PricedOrder
from billingos_subscriptions.invoice_numbers import invoice_number
from billingos_subscriptions.messages import line_message, public_price, subscription_message
from billingos_subscriptions.models import Order, OrderLine, Subscription, SubscriptionItem
from billingos_subscriptions.vocabulary import BillingReason, OrderStatus


def _id(value: object) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class PortalDiscountView:
    """A discount that covers the subscription's current period: the
    catalog's discount, its effect in the subscription's currency (None: a
    fixed discount without an amount in it), and its limits."""

    discount: discounts_pb2.Discount
    effect: invoices.Discount | None
    end_at: dt.datetime | None
    remaining_orders: int | None


def portal_subscription_message(
    row: Subscription,
    items: Sequence[SubscriptionItem],
    product: products_pb2.Product | None,
    *,
    discount: PortalDiscountView | None,
) -> customer_portal_pb2.PortalSubscription:
    """The subscription as its customer sees it; `product`: the product it
    buys (its name), from the engine's copy; `discount`: the discount that
    covers its current period, if any (`customer_portal.live_discount`)."""
    full = subscription_message(row, items)
    live = [item for item in items if item.ended_at is None]
    static = next((price_of(i) for i in live if not price_lines.is_metered(price_of(i))), None)
    message = customer_portal_pb2.PortalSubscription(
        id=full.id,
        organization_id=full.organization_id,
        product_id=full.product_id,
        product_name="" if product is None else product.name,
        price_id=full.price_id,
        currency=full.currency,
        status=full.status,
        recurring=full.recurring,
        seats=full.seats,
        period_amount_minor=(
            0 if static is None else price_lines.static_charge(static, row.seats).amount_minor
        ),
        items=[
            customer_portal_pb2.PortalSubscriptionItem(
                price_id=item.price_id, price=public_price(item.price)
            )
            for item in full.items
        ],
        cancel_at_period_end=full.cancel_at_period_end,
        cancellation_reason=full.cancellation_reason,
        payment_method_id=full.payment_method_id,
        latest_order_id=full.latest_order_id,
        discount=None if discount is None else _discount(discount),
    )
    for name in (
        "current_period_start",
        "current_period_end",
        "trial_start",
        "trial_end",
        "cancel_time",
        "end_time",
        "next_retry_time",
        "scheduled_change",
        "create_time",
        "update_time",
    ):
        if full.HasField(name):
            getattr(message, name).CopyFrom(getattr(full, name))
    return message


def _discount(view: PortalDiscountView) -> customer_portal_pb2.PortalDiscount:
    shown = customer_portal_pb2.PortalDiscount(
        name=view.discount.name,
        end_time=timestamp(view.end_at),
        remaining_orders=view.remaining_orders or 0,
    )
    if isinstance(view.effect, invoices.PercentOff):
        shown.percent_off_basis_points = view.effect.basis_points
    elif isinstance(view.effect, invoices.AmountOff):
        shown.amount_off_minor = view.effect.amount_minor
    return shown


def portal_order_message(row: Order, lines: Sequence[OrderLine]) -> customer_portal_pb2.PortalOrder:
    return customer_portal_pb2.PortalOrder(
        id=str(row.id),
        invoice_number=invoice_number(row.id),
        subscription_id=_id(row.subscription_id),
        billing_reason=BillingReason(row.billing_reason).proto,
        status=OrderStatus(row.status).proto,
        currency=row.currency,
        lines=[line_message(line) for line in lines],
        subtotal_minor=row.subtotal_minor,
        discount_minor=row.discount_minor,
        tax_minor=row.tax_minor,
        inclusive_tax_minor=row.inclusive_tax_minor,
        total_minor=row.total_minor,
        credit_applied_minor=row.credit_applied_minor,
        credit_carried_minor=row.credit_carried_minor,
        amount_due_minor=row.amount_due_minor,
        amount_paid_minor=row.amount_paid_minor,
        amount_refunded_minor=row.amount_refunded_minor,
        tax_rate_percent=row.tax_rate_percent or "",
        period_start=timestamp(row.period_start),
        period_end=timestamp(row.period_end),
        next_retry_time=timestamp(row.next_charge_at),
        create_time=timestamp(row.created_at),
        paid_time=timestamp(row.paid_at),
    )


def invoice_preview_message(priced: PricedOrder) -> customer_portal_pb2.PortalInvoicePreview:
    amounts = priced.amounts
    return customer_portal_pb2.PortalInvoicePreview(
        currency=priced.currency,
        lines=[line_message(line) for line in priced.lines],
        subtotal_minor=amounts.subtotal,
        discount_minor=amounts.discount_total,
        tax_minor=amounts.tax_total,
        inclusive_tax_minor=amounts.inclusive_tax_total,
        total_minor=amounts.total,
        credit_applied_minor=priced.settlement.applied,
        credit_carried_minor=amounts.credit_carried,
        amount_due_minor=priced.settlement.due,
        tax_rate_percent="" if priced.rate is None else priced.rate.percentage,
        period_start=timestamp(priced.period[0]),
        period_end=timestamp(priced.period[1]),
    )


def change_preview_message(
    preview: ChangePreview,
) -> customer_portal_pb2.PortalSubscriptionChangePreview:
    plan = preview.plan
    bought = plan.bought
    message = customer_portal_pb2.PortalSubscriptionChangePreview(
        subscription_id=str(plan.row.id),
        price_id=bought.prices[0].id,
        product_id=bought.product.id,
        product_name=bought.product.name,
        seats=bought.seats,
        proration_behavior=plan.behavior.proto,
        effective_time=timestamp(preview.effective_at),
        proration_lines=[line_message(line) for line in preview.proration_lines],
        amount_due_now_minor=(
            0 if preview.invoice_now is None else preview.invoice_now.settlement.due
        ),
    )
    if preview.invoice_now is not None:
        message.invoice_now.CopyFrom(invoice_preview_message(preview.invoice_now))
    if preview.next_renewal is not None:
        message.next_renewal.CopyFrom(invoice_preview_message(preview.next_renewal))
    return message
