"""An order's money as pure functions: which discount and tax rate apply,
the invoice arithmetic over its lines, and what the customer's balance
covers. The one-order path (Billing.finalize) and the batched renewals
(renewal_batch) both finalize through these, so a renewal's figures cannot
depend on which path made it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billingos.catalog.v1 import discounts_pb2
from billingos_pricing import invoices
from billingos_pricing.currencies import normalize_currency
from billingos_pricing.stripe_amounts import UnchargeableAmount, stripe_amount
from billingos_subscriptions.models import (
    CustomerCopy,
    Order,
    OrderLine,
    Subscription,
    TaxRateCopy,
)
from billingos_subscriptions.vocabulary import OrderStatus


@dataclass(frozen=True)
class Rate:
    """A tax rate as the order records it (`percentage`) and computes it."""

    percentage: str
    rate: invoices.TaxRate


@dataclass(frozen=True)
class Settlement:
    """What the balance does to an order: `applied` credit (negative: a debt
    added), the `due` amount, and the balance after (None: unchanged)."""

    applied: int
    due: int
    credit_after: int | None


def discount_for(sub: Subscription, at: dt.datetime) -> invoices.Discount | None:
    """The subscription's discount for an order of a period starting `at`
    (a discount covers the periods that start before it ends), if any left."""
    if sub.discount_snapshot is None:
        return None
    if not discount_live(sub.discount_remaining_orders, sub.discount_end_at, at):
        return None
    discount = discounts_pb2.Discount()
    discount.ParseFromString(sub.discount_snapshot)
    return invoice_discount(discount, sub.currency)


def discount_live(
    remaining_orders: int | None, end_at: dt.datetime | None, at: dt.datetime
) -> bool:
    """Whether a discount redeemed with these limits (orders left for a
    once-only one, the end of a repeating one) covers an order of a period
    starting `at`."""
    if remaining_orders is not None and remaining_orders <= 0:
        return False
    return end_at is None or at < end_at


def invoice_discount(discount: discounts_pb2.Discount, currency: str) -> invoices.Discount | None:
    """The catalog's discount as the invoice arithmetic takes it (None: a
    fixed discount without an amount in `currency`)."""
    applies_to = frozenset(discount.product_ids) or None
    if discount.HasField("percent_off"):
        return invoices.PercentOff(discount.percent_off.basis_points, applies_to)
    for money in discount.amount_off.amounts:
        if normalize_currency(money.currency) == currency:
            return invoices.AmountOff(money.amount_minor, currency, applies_to)
    return None


def rate_for(customer: CustomerCopy | None, rates: Sequence[TaxRateCopy]) -> Rate | None:
    """The rate of the customer's billing address, as the catalog resolves
    it: its region's, else its country's, else none. `rates`: the
    organization's rates of the customer's country (deleted ones skipped)."""
    if customer is None:
        return None
    return rate_of_place(customer.country, customer.region, rates)


def rate_of_place(
    country: str | None, region: str | None, rates: Sequence[TaxRateCopy]
) -> Rate | None:
    """The rate of a place (an address's upper-case country and region
    codes, as `catalog_copy.place_of` reads them), as `rate_for`."""
    if not country:
        return None
    by_region = {r.region: r for r in rates if r.deleted_at is None and r.country == country}
    found = by_region.get(region or "") if region and region in by_region else by_region.get("")
    if found is None:
        return None
    return Rate(found.percentage, invoices.TaxRate(Decimal(found.percentage), found.inclusive))


def invoice_of(
    currency: str,
    lines: Sequence[OrderLine],
    discount: invoices.Discount | None,
    rate: Rate | None,
) -> invoices.InvoiceAmounts:
    """The invoice arithmetic over the order's lines; each line's figures
    are written onto it (in position order, as computed)."""
    amounts = invoices.compute_invoice(
        currency,
        [
            invoices.InvoiceLine(
                line_id=f"{line.position:06d}",
                kind=invoices.LineKind(line.kind),
                amount=int(Decimal(line.amount_given)),
                product_id=None if line.product_id is None else str(line.product_id),
                cap_minor=line.cap_minor,
                tax_behavior=invoices.TaxBehavior(line.tax_behavior),
            )
            for line in lines
        ],
        discount,
        rate.rate if rate is not None else None,
    )
    for line, figures in zip(lines, amounts.lines, strict=True):
        line.amount_minor = figures.amount
        line.discount_minor = figures.discount
        line.tax_minor = figures.tax
        line.tax_inclusive = figures.tax_inclusive
        line.total_minor = figures.total
    return amounts


def settle(credit: int, amounts: invoices.InvoiceAmounts, currency: str) -> Settlement:
    """The customer's `credit` (negative: owed) against the order's total:
    credit covers what it can, a debt is added, an amount too small to
    charge is owed to the next order, and a negative total is carried as
    credit."""
    applied = min(credit, amounts.total) if credit > 0 else credit
    due = amounts.total - applied
    if due > 0 and _below_minimum(due, currency):
        applied += due
        due = 0
    after = credit - applied + amounts.credit_carried
    changed = bool(applied or amounts.credit_carried)
    return Settlement(applied, due, after if changed else None)


def record_amounts(
    order: Order,
    amounts: invoices.InvoiceAmounts,
    rate: Rate | None,
    settlement: Settlement,
    now: dt.datetime,
) -> None:
    """The order, final: its figures, pending (the caller marks it paid
    when nothing is due)."""
    order.tax_rate_percent = None if rate is None else rate.percentage
    order.subtotal_minor = amounts.subtotal
    order.discount_minor = amounts.discount_total
    order.tax_minor = amounts.tax_total
    order.inclusive_tax_minor = amounts.inclusive_tax_total
    order.total_minor = amounts.total
    order.credit_applied_minor = settlement.applied
    order.credit_carried_minor = amounts.credit_carried
    order.amount_due_minor = settlement.due
    order.finalized_at = now
    order.updated_at = now
    order.status = OrderStatus.PENDING.value


def uses_up_discount(
    sub: Subscription, discount: invoices.Discount | None, amounts: invoices.InvoiceAmounts
) -> bool:
    """Whether the order counts against a discount limited to N orders."""
    return (
        discount is not None
        and sub.discount_remaining_orders is not None
        and amounts.discount_total > 0
    )


def _below_minimum(amount_minor: int, currency: str) -> bool:
    try:
        stripe_amount(amount_minor, currency)
    except UnchargeableAmount as problem:
        return problem.reason == "AMOUNT_BELOW_MINIMUM"
    return False


ORDER_AMOUNT_FIELDS = (
    "tax_rate_percent",
    "subtotal_minor",
    "discount_minor",
    "tax_minor",
    "inclusive_tax_minor",
    "total_minor",
    "credit_applied_minor",
    "credit_carried_minor",
    "amount_due_minor",
    "finalized_at",
    "updated_at",
    "status",
)
