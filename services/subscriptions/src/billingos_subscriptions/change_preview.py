"""A change's preview: what `Subscriptions.apply_change` bills for a plan
(`Subscriptions.plan_change`, the very plan a change writes), priced as the
orders it leads to are finalized — their discount and tax rate from
`Billing.pricing_of`, their figures from `order_amounts.invoice_of` and
`settle` over `billing.order_line_rows` — and writing nothing. The order a
change opens at once (INVOICE_NOW) bills the plan's prorations; the next
renewal bills the new prices' `period_lines` for the next period, then the
prorations waiting for it (NEXT_INVOICE adds the plan's), as
`Scheduler._period_end` does; in a trial, the first order at its end bills
the new prices alone, as `Subscriptions.open_first_order` does."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from billingos_pricing import invoices
from billingos_subscriptions import order_amounts
from billingos_subscriptions.billing import Billing, LineDraft, draft_of_pending, order_line_rows
from billingos_subscriptions.models import OrderLine, Subscription
from billingos_subscriptions.subscriptions import ChangePlan, next_period, period_lines
from billingos_subscriptions.vocabulary import ProrationBehavior, SubscriptionStatus


@dataclass(frozen=True)
class PreviewKey:
    """What a previewed order's lines name as their order: the subscription."""

    id: uuid.UUID
    organization_id: uuid.UUID


@dataclass(frozen=True)
class PricedOrder:
    """An order's figures as the engine would give it now: its lines (each
    with its discount, tax and total), the invoice totals, the tax rate,
    what the customer's balance does to it, and the period it covers."""

    currency: str
    lines: list[OrderLine]
    amounts: invoices.InvoiceAmounts
    rate: order_amounts.Rate | None
    settlement: order_amounts.Settlement
    period: tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class ChangePreview:
    """What a change would do and bill: the plan, when its new prices take
    effect, the order it opens at once (if any), the next renewal (none for
    a subscription ending at its period's end), and its proration lines as
    priced in whichever of the two bills them."""

    plan: ChangePlan
    effective_at: dt.datetime
    invoice_now: PricedOrder | None
    next_renewal: PricedOrder | None
    proration_lines: list[OrderLine]


async def preview_change(billing: Billing, plan: ChangePlan) -> ChangePreview:
    row = plan.row
    credit = await billing.balances.credit_of(row.customer_id, row.currency)
    invoice_now: PricedOrder | None = None
    prorations: list[OrderLine] = []
    if plan.behavior is ProrationBehavior.INVOICE_NOW and plan.prorations:
        invoice_now = await _priced(
            billing, row, plan.prorations, (plan.now, row.current_period_end), credit
        )
        prorations = invoice_now.lines
        after = invoice_now.settlement.credit_after
        credit = credit if after is None else after
    next_renewal: PricedOrder | None = None
    if not row.cancel_at_period_end:
        start, end = next_period(row)
        bought = plan.bought
        drafts = period_lines(bought.prices, bought.product, bought.seats, start, end)
        carried = plan.prorations if plan.behavior is ProrationBehavior.NEXT_INVOICE else []
        if SubscriptionStatus(row.status) is not SubscriptionStatus.TRIALING:
            # A renewal takes what earlier changes left waiting, then these.
            waiting = await billing.pending.waiting(row.id, lock=False)
            drafts += [draft_of_pending(line) for line in waiting] + carried
        next_renewal = await _priced(billing, row, drafts, (start, end), credit)
        if carried:
            prorations = next_renewal.lines[len(next_renewal.lines) - len(carried) :]
    effective = (
        row.current_period_end if plan.behavior is ProrationBehavior.AT_PERIOD_END else plan.now
    )
    return ChangePreview(plan, effective, invoice_now, next_renewal, prorations)


async def _priced(
    billing: Billing,
    row: Subscription,
    drafts: Sequence[LineDraft],
    period: tuple[dt.datetime, dt.datetime],
    credit: int,
) -> PricedOrder:
    """An order of `row` for `period` with `drafts`, priced as
    `Billing.finalize` prices one (on `credit`, the balance as it stands)."""
    lines = order_line_rows(PreviewKey(row.id, row.organization_id), drafts, billing.scope.clock)
    discount, rate = await billing.pricing_of(row, row.customer_id, period[0])
    amounts = order_amounts.invoice_of(row.currency, lines, discount, rate)
    settlement = order_amounts.settle(credit, amounts, row.currency)
    return PricedOrder(row.currency, lines, amounts, rate, settlement, period)
