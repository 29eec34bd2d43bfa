"""A checkout's quote: what the first order of a subscription bought with
the session's choices comes to, computed by the very functions that order
is finalized with (billing.order_line_rows, order_amounts.invoice_of and
settle), over the lines `subscriptions.first_period_line` gives. Pure: the
caller gathers the lines, the discount and the tax rate as the order's path
does (checkout.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from billingos_kit.clock import Clock
from billingos_pricing import invoices
from billingos_subscriptions import order_amounts
from billingos_subscriptions.billing import LineDraft, order_line_rows
from billingos_subscriptions.models import OrderLine


@dataclass(frozen=True)
class QuoteKey:
    """What the quote's lines name as their order: the session."""

    id: uuid.UUID
    organization_id: uuid.UUID


@dataclass(frozen=True)
class Quote:
    """The first order's figures: its lines (each with its discount and
    tax), the invoice totals, the tax rate, and what is charged at once
    (nothing during a trial, or below Stripe's minimum: the order's own
    rules for a customer without credit)."""

    currency: str
    lines: list[OrderLine]
    amounts: invoices.InvoiceAmounts
    rate: order_amounts.Rate | None
    due_now_minor: int
    trial_end: dt.datetime | None


def quote(
    key: QuoteKey,
    currency: str,
    drafts: Sequence[LineDraft],
    discount: invoices.Discount | None,
    rate: order_amounts.Rate | None,
    trial_end: dt.datetime | None,
    clock: Clock,
) -> Quote:
    lines = order_line_rows(key, drafts, clock)
    amounts = order_amounts.invoice_of(currency, lines, discount, rate)
    due = 0 if trial_end is not None else order_amounts.settle(0, amounts, currency).due
    return Quote(currency, lines, amounts, rate, due, trial_end)
