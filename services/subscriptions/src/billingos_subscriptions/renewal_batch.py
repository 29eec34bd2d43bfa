"""Renewals in bulk: the plain renewals of a claimed batch made with one
statement per kind of row for the whole batch (its items, copies, waiting
prorations and balances read once; its orders, lines, attempts, subscription
updates and events written once), instead of some twenty statements each.

A renewal is plain when a period's charge is all that happens: an active
subscription, not set to cancel, with no scheduled change and no metered
price (usage waits for metering: a draft), whose product is in the copy.
Everything else due — trials, incomplete starts, past-due or canceling
subscriptions, usage, scheduled changes — goes the one-by-one path
(`Scheduler._subscription`), and so does the whole batch if any of its
statements fails. Both paths finalize through `order_amounts`, and a test
renews the same books both ways and compares every row and event."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import Message

from billingos.catalog.v1 import products_pb2
from billingos_kit.clock import Clock
from billingos_kit.db import Connection
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions import events, order_amounts, price_lines
from billingos_subscriptions.billing import (
    LineDraft,
    draft_of_pending,
    new_attempt,
    new_order,
    order_line_rows,
    period_billing_key,
    schedule_next_action,
)
from billingos_subscriptions.messages import order_message, subscription_message
from billingos_subscriptions.models import (
    CustomerBalance,
    CustomerCopy,
    Order,
    OrderLine,
    PaymentAttempt,
    PendingLine,
    Subscription,
    SubscriptionItem,
    TaxRateCopy,
)
from billingos_subscriptions.repository import BalanceKey, DueSubscription, RenewalRows
from billingos_subscriptions.subscriptions import next_period, period_lines
from billingos_subscriptions.vocabulary import (
    BillingReason,
    OrderStatus,
    SubscriptionStatus,
)

CYCLE = BillingReason.SUBSCRIPTION_CYCLE


class BatchConflict(RuntimeError):
    """Renewals of the batch found their orders made already: the batch
    rolls back, and is tried again without them (they go one by one, where
    each is refused alone)."""

    def __init__(self, subscription_ids: set[uuid.UUID]) -> None:
        super().__init__(f"{len(subscription_ids)} of the batch's orders exist")
        self.subscription_ids = subscription_ids


def balance_key(sub: Subscription) -> BalanceKey:
    """The credit balance a subscription's orders settle against."""
    return (sub.organization_id, sub.customer_id, sub.currency)


def may_batch(due: DueSubscription, now: dt.datetime) -> bool:
    """Whether the claimed row is a plain renewal by its own fields (its
    items and product are checked once read)."""
    sub = due.row
    return (
        sub.status == SubscriptionStatus.ACTIVE.value
        and sub.ended_at is None
        and not sub.cancel_at_period_end
        and sub.scheduled_price_id is None
        and sub.scheduled_seats is None
        and sub.next_action_at is not None
        and sub.next_action_at <= now
        and sub.current_period_end <= now
    )


@dataclass
class _Renewal:
    """One renewal as computed, before anything is written."""

    sub: Subscription
    clock: Clock
    order: Order
    lines: list[OrderLine]
    taken: list[PendingLine]
    attempt: PaymentAttempt | None
    events: list[Message] = field(default_factory=list)


class RenewalBatch:
    """Renews a batch of plain renewals inside the caller's transaction.
    `real_clock`: when the charger is to send the charge (a test clock's
    time says what it is for, not when to send it)."""

    def __init__(
        self, connection: Connection, tables: KitTables, real_clock: Clock, source: str
    ) -> None:
        self._connection = connection
        self._tables = tables
        self._real_clock = real_clock
        self._source = source
        self._rows = RenewalRows(OnConnection(connection))
        self._prices: dict[bytes, products_pb2.Price] = {}

    async def renew(
        self, due: Sequence[tuple[DueSubscription, Clock]], held: Iterable[BalanceKey] = ()
    ) -> list[DueSubscription]:
        """Renews each row by one period on its business clock (the real
        one, or its test clock's); returns the rows that are not plain after
        all (to go one by one), with every row whose credit balance one of
        them or `held` shares: a balance is settled in claim order, and so
        only on one path. Raises (the caller rolls the batch back) if any
        order exists already."""
        # Worked on copies: the claimed rows stay as locked, for the one-by-one
        # path or another try if this one fails.
        rows = {claimed.id: dataclasses.replace(claimed.row) for claimed, _ in due}
        subs = list(rows.values())
        items = await self._items_of(subs)
        products = await self._products_of(subs)
        held_keys = set(held)
        for sub in subs:
            if sub.product_id not in products.get(sub.organization_id, {}) or any(
                price_lines.is_metered(self._price(item)) and not item.final_billed
                for item in items[sub.id]
            ):
                held_keys.add(balance_key(sub))
        left: list[DueSubscription] = []
        plain: list[tuple[Subscription, Clock, dt.datetime]] = []
        for claimed, clock in due:
            if balance_key(claimed.row) in held_keys:
                left.append(claimed)
            else:
                plain.append((rows[claimed.id], clock, clock.now()))
        if not plain:
            return left
        customers = await self._customers_of([sub for sub, _, _ in plain])
        rates = await self._rates_of(customers.values())
        waiting = await self._waiting_of([sub for sub, _, _ in plain])
        first_seen: dict[BalanceKey, dt.datetime] = {}
        for sub, _, now in plain:
            first_seen.setdefault(balance_key(sub), now)
        balances = await self._rows.lock_balances(first_seen)
        changed: dict[BalanceKey, CustomerBalance] = {}
        renewals: list[_Renewal] = []
        for sub, clock, now in plain:
            # A subscription periods behind (a test clock advanced months)
            # gets one order per period, in order, as one by one.
            taken = waiting.get(sub.id, [])
            while True:
                renewals.append(
                    self._renewal(
                        sub,
                        clock,
                        now,
                        items[sub.id],
                        products[sub.organization_id][sub.product_id],
                        taken,
                        customers.get((sub.organization_id, sub.customer_id)),
                        rates,
                        balances,
                        changed,
                    )
                )
                taken = []
                if sub.current_period_end > now:
                    break
        await self._write(renewals, list(changed.values()))
        return left

    # ---- reads ----------------------------------------------------------------

    async def _items_of(self, subs: list[Subscription]) -> dict[uuid.UUID, list[SubscriptionItem]]:
        found: dict[uuid.UUID, list[SubscriptionItem]] = defaultdict(list)
        for item in await self._rows.items_of([(s.organization_id, s.id) for s in subs]):
            found[item.subscription_id].append(item)
        return found

    async def _products_of(
        self, subs: list[Subscription]
    ) -> dict[uuid.UUID, dict[uuid.UUID, products_pb2.Product]]:
        pairs = sorted({(s.organization_id, s.product_id) for s in subs})
        found: dict[uuid.UUID, dict[uuid.UUID, products_pb2.Product]] = defaultdict(dict)
        for row in await self._rows.products_of(pairs):
            product = products_pb2.Product()
            product.ParseFromString(row.payload)
            found[row.organization_id][row.id] = product
        return found

    async def _customers_of(
        self, subs: list[Subscription]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], CustomerCopy]:
        pairs = sorted({(s.organization_id, s.customer_id) for s in subs})
        return {(c.organization_id, c.id): c for c in await self._rows.customers_of(pairs)}

    async def _rates_of(
        self, customers: Iterable[CustomerCopy]
    ) -> dict[tuple[uuid.UUID, str], list[TaxRateCopy]]:
        pairs = sorted({(c.organization_id, c.country) for c in customers if c.country})
        found: dict[tuple[uuid.UUID, str], list[TaxRateCopy]] = defaultdict(list)
        for rate in await self._rows.tax_rates_of(pairs):
            found[(rate.organization_id, rate.country)].append(rate)
        return found

    async def _waiting_of(self, subs: list[Subscription]) -> dict[uuid.UUID, list[PendingLine]]:
        found: dict[uuid.UUID, list[PendingLine]] = defaultdict(list)
        pairs = [(s.organization_id, s.id) for s in subs]
        for line in await self._rows.waiting_lines_of(pairs):
            found[line.subscription_id].append(line)
        return found

    def _price(self, item: SubscriptionItem) -> products_pb2.Price:
        """The item's bought price, parsed once per batch for each snapshot."""
        price = self._prices.get(item.price_snapshot)
        if price is None:
            price = self._prices[item.price_snapshot] = products_pb2.Price()
            price.ParseFromString(item.price_snapshot)
        return price

    # ---- one renewal, in memory -----------------------------------------------

    def _renewal(
        self,
        sub: Subscription,
        clock: Clock,
        now: dt.datetime,
        items: list[SubscriptionItem],
        product: products_pb2.Product,
        waiting: list[PendingLine],
        customer: CustomerCopy | None,
        rates: dict[tuple[uuid.UUID, str], list[TaxRateCopy]],
        balances: dict[BalanceKey, CustomerBalance],
        changed: dict[BalanceKey, CustomerBalance],
    ) -> _Renewal:
        """What `Scheduler._period_end`, `Billing.open_order` and
        `Billing.finalize` do for a plain renewal, computed without a
        statement; the balances are settled in the batch's order."""
        start, end = next_period(sub)
        drafts: list[LineDraft] = period_lines(
            [self._price(item) for item in items if item.ended_at is None],
            product,
            sub.seats,
            start,
            end,
        )
        drafts += [draft_of_pending(line) for line in waiting]
        sub.period_number += 1
        sub.current_period_start = start
        sub.current_period_end = end
        schedule_next_action(sub)
        order = new_order(
            sub, CYCLE, period_billing_key(sub.id, start, CYCLE), clock, now, (start, end)
        )
        for line in waiting:
            line.order_id = order.id
        lines = order_line_rows(order, drafts, clock)
        sub.latest_order_id = order.id
        sub.updated_at = now
        discount = order_amounts.discount_for(sub, start)
        rate = order_amounts.rate_for(
            customer,
            rates.get((customer.organization_id, customer.country), [])
            if customer is not None and customer.country
            else [],
        )
        amounts = order_amounts.invoice_of(order.currency, lines, discount, rate)
        if order_amounts.uses_up_discount(sub, discount, amounts):
            assert sub.discount_remaining_orders is not None
            sub.discount_remaining_orders -= 1
        key = balance_key(sub)
        balance = balances[key]
        settlement = order_amounts.settle(balance.credit_minor, amounts, order.currency)
        if settlement.credit_after is not None:
            balance.credit_minor = settlement.credit_after
            balance.updated_at = now
            changed[key] = balance
        order_amounts.record_amounts(order, amounts, rate, settlement, now)
        renewal = _Renewal(sub, clock, order, lines, waiting, None)
        renewal.events.append(events.order_created(order_message(order, lines, [])))
        if settlement.due == 0:
            order.status = OrderStatus.PAID.value
            order.paid_at = now
            renewal.events.append(events.order_paid(order_message(order, lines, [])))
        else:
            renewal.attempt = new_attempt(
                order, sub.payment_method_id, 1, clock, now, self._real_clock.now()
            )
        state = subscription_message(sub, items)
        renewal.events.append(events.renewed(state, str(order.id)))
        return renewal

    # ---- writes ---------------------------------------------------------------

    async def _write(self, renewals: list[_Renewal], balances: list[CustomerBalance]) -> None:
        written = await self._rows.insert_orders([r.order for r in renewals])
        if len(written) != len(renewals):
            raise BatchConflict({r.sub.id for r in renewals if r.order.id not in written})
        await self._rows.insert_lines([line for r in renewals for line in r.lines])
        await self._rows.take_pending([line for r in renewals for line in r.taken])
        await self._rows.set_balances(balances)
        # Each subscription once, in its last state (the rows are the same
        # objects for all of a subscription's renewals).
        renewed = {r.sub.id: r.sub for r in renewals}
        await self._rows.renew_subscriptions(list(renewed.values()))
        await self._rows.insert_attempts([r.attempt for r in renewals if r.attempt is not None])
        # The events of each organization (and business time) in one go, in
        # the order the one-by-one path writes them.
        grouped: dict[tuple[uuid.UUID, Clock], list[Message]] = defaultdict(list)
        for renewal in renewals:
            grouped[(renewal.sub.organization_id, renewal.clock)].extend(renewal.events)
        for (organization_id, clock), made in grouped.items():
            work = OrganizationWork(
                self._connection, organization_id, clock, self._tables, self._source
            )
            await work.outbox.add_many(made)
