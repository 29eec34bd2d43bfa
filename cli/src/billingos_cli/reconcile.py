"""`./billingos reconcile`: do the books come out even? The billing engine's
orders and attempts (the subscriptions schema) against the payments and
refunds that moved money (the payments schema), per organization, read in
one REPEATABLE READ, read-only transaction, so every check sees the same
moment. Each check is a query that returns the rows that break a rule:

- no order is charged twice (at most one succeeded payment per order);
- no money without its order (a succeeded payment's order exists and is
  paid, or refunded);
- no order paid without its money (a paid order that had anything due has
  its succeeded payment, for the amount it says it was paid);
- attempts and payments agree (a settled payment's attempt says the same);
- refunds add up (a payment's and an order's refunded amounts are the sum
  of their succeeded refunds).

Settled states only: a payment changed in the last `settle_seconds` may
still be on its way to the engine (its event), and is not judged yet. A
read-only audit across the two schemas is the one place outside a service
that reads its tables: it changes nothing, and every rule it checks is one
the services promise."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

# The order states a succeeded payment's order may be in, spelled in the
# queries: ('paid', 'partially_refunded', 'refunded').


@dataclass(frozen=True)
class Check:
    """One rule: its name, what it promises, and the query of the rows that
    break it ($1: organizations, NULL for all; $2: settle seconds)."""

    name: str
    promise: str
    query: str


CHECKS = (
    Check(
        "no_double_charge",
        "at most one succeeded payment per order",
        """
        SELECT p.organization_id, p.order_id, count(*) AS succeeded, sum(p.amount_minor) AS amount
        FROM payments.payments p
        WHERE p.status = 'succeeded' AND ($1::uuid[] IS NULL OR p.organization_id = ANY($1))
        GROUP BY p.organization_id, p.order_id
        HAVING count(*) > 1
        """,
    ),
    Check(
        "no_money_without_order",
        "a succeeded payment's order exists and is paid or refunded",
        """
        SELECT p.organization_id, p.id AS payment_id, p.order_id, o.status AS order_status,
               p.amount_minor
        FROM payments.payments p
        LEFT JOIN subscriptions.orders o
          ON o.id = p.order_id AND o.organization_id = p.organization_id
        WHERE p.status = 'succeeded'
          AND p.updated_at < now() - make_interval(secs => $2)
          AND ($1::uuid[] IS NULL OR p.organization_id = ANY($1))
          AND (o.id IS NULL OR o.status NOT IN ('paid', 'partially_refunded', 'refunded'))
        """,
    ),
    Check(
        "no_order_paid_without_money",
        "a paid order that had something due has a succeeded payment for that amount",
        """
        SELECT o.organization_id, o.id AS order_id, o.status, o.amount_due_minor,
               o.amount_paid_minor, p.amount_minor AS payment_amount, p.currency AS payment_currency
        FROM subscriptions.orders o
        LEFT JOIN payments.payments p
          ON p.order_id = o.id AND p.organization_id = o.organization_id
         AND p.status = 'succeeded'
        WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
          AND ($1::uuid[] IS NULL OR o.organization_id = ANY($1))
          AND o.amount_due_minor > 0
          AND (p.id IS NULL OR p.amount_minor <> o.amount_paid_minor OR p.currency <> o.currency)
        """,
    ),
    Check(
        "attempts_agree_with_payments",
        "a settled payment's attempt in the engine has the same outcome",
        """
        SELECT p.organization_id, p.order_id, p.attempt_number, p.status AS payment_status,
               a.status AS attempt_status
        FROM payments.payments p
        LEFT JOIN subscriptions.payment_attempts a
          ON a.order_id = p.order_id AND a.attempt_number = p.attempt_number
         AND a.organization_id = p.organization_id
        WHERE p.status IN ('succeeded', 'failed')
          AND p.updated_at < now() - make_interval(secs => $2)
          AND ($1::uuid[] IS NULL OR p.organization_id = ANY($1))
          AND (a.id IS NULL OR a.status <> p.status)
        """,
    ),
    Check(
        "payment_refunds_add_up",
        "a payment's refunded amount is the sum of its succeeded refunds",
        """
        SELECT p.organization_id, p.id AS payment_id, p.amount_refunded_minor,
               coalesce(sum(r.amount_minor) FILTER (WHERE r.status = 'succeeded'), 0) AS refunded
        FROM payments.payments p
        LEFT JOIN payments.refunds r
          ON r.payment_id = p.id AND r.organization_id = p.organization_id
        WHERE ($1::uuid[] IS NULL OR p.organization_id = ANY($1))
        GROUP BY p.organization_id, p.id, p.amount_refunded_minor
        HAVING p.amount_refunded_minor
               <> coalesce(sum(r.amount_minor) FILTER (WHERE r.status = 'succeeded'), 0)
        """,
    ),
    Check(
        "order_refunds_add_up",
        "an order's refunded amount is the sum of its payments' succeeded refunds",
        """
        SELECT o.organization_id, o.id AS order_id, o.amount_refunded_minor,
               coalesce(sum(r.amount_minor) FILTER (WHERE r.status = 'succeeded'), 0) AS refunded
        FROM subscriptions.orders o
        LEFT JOIN payments.payments p
          ON p.order_id = o.id AND p.organization_id = o.organization_id
        LEFT JOIN payments.refunds r
          ON r.payment_id = p.id AND r.organization_id = p.organization_id
        WHERE ($1::uuid[] IS NULL OR o.organization_id = ANY($1))
        GROUP BY o.organization_id, o.id, o.amount_refunded_minor
        HAVING o.amount_refunded_minor
               <> coalesce(sum(r.amount_minor) FILTER (WHERE r.status = 'succeeded'), 0)
           AND coalesce(max(r.updated_at) < now() - make_interval(secs => $2), true)
        """,
    ),
)

# Totals the report shows beside the checks: what was charged and refunded.
_TOTALS = """
SELECT
  (SELECT count(*) FROM subscriptions.orders
    WHERE $1::uuid[] IS NULL OR organization_id = ANY($1)) AS orders,
  (SELECT count(*) FROM payments.payments
    WHERE status = 'succeeded' AND ($1::uuid[] IS NULL OR organization_id = ANY($1)))
    AS succeeded_payments,
  (SELECT count(*) FROM payments.refunds
    WHERE status = 'succeeded' AND ($1::uuid[] IS NULL OR organization_id = ANY($1)))
    AS succeeded_refunds
"""


@dataclass
class CheckResult:
    name: str
    promise: str
    breaks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def even(self) -> bool:
        return not self.breaks


@dataclass
class Report:
    organizations: list[str] | None
    totals: dict[str, int]
    checks: list[CheckResult]

    @property
    def even(self) -> bool:
        return all(check.even for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "even": self.even,
            "organizations": self.organizations,
            "totals": self.totals,
            "checks": [{**dataclasses.asdict(check), "even": check.even} for check in self.checks],
        }

    def lines(self) -> list[str]:
        scope = "all organizations" if self.organizations is None else ", ".join(self.organizations)
        shown = [
            f"Reconciliation of {scope}: {self.totals['orders']} orders, "
            f"{self.totals['succeeded_payments']} succeeded payments, "
            f"{self.totals['succeeded_refunds']} succeeded refunds"
        ]
        for check in self.checks:
            mark = "ok " if check.even else "BAD"
            shown.append(f"  {mark} {check.name}: {check.promise}")
            for row in check.breaks[:20]:
                shown.append(f"        {json.dumps(row, sort_keys=True)}")
            if len(check.breaks) > 20:
                shown.append(f"        … and {len(check.breaks) - 20} more")
        shown.append("The books come out even." if self.even else "The books do NOT come out even.")
        return shown


def _plain(value: Any) -> Any:
    """A row's value as JSON has it (sums of bigint are numeric: whole)."""
    if isinstance(value, uuid.UUID | dt.datetime):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return int(value)
    return value


async def reconcile(
    database_url: str,
    organizations: list[uuid.UUID] | None = None,
    *,
    settle_seconds: float = 60.0,
) -> Report:
    """Runs every check in one snapshot of the database."""
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            totals = await connection.fetchrow(_TOTALS, organizations)
            assert totals is not None
            results = []
            for check in CHECKS:
                arguments = (
                    (organizations, settle_seconds) if "$2" in check.query else (organizations,)
                )
                rows = await connection.fetch(check.query, *arguments)
                breaks = [{key: _plain(value) for key, value in row.items()} for row in rows]
                results.append(CheckResult(check.name, check.promise, breaks))
    finally:
        await connection.close()
    return Report(
        None if organizations is None else [str(o) for o in organizations],
        {key: int(value) for key, value in totals.items()},
        results,
    )


def run_reconcile(
    database_url: str,
    organizations: list[str],
    *,
    settle_seconds: float,
    json_out: Path | None,
) -> int:
    """The command: prints the report (and writes it as JSON); 0 when the
    books come out even, 1 when they do not."""
    parsed = [uuid.UUID(o) for o in organizations] or None
    report = asyncio.run(reconcile(database_url, parsed, settle_seconds=settle_seconds))
    print("\n".join(report.lines()))
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_json(), indent=2, sort_keys=True) + "\n")
    return 0 if report.even else 1
