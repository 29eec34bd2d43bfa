"""`./billingos reconcile` over a merchant's real checkouts (a purchase paid
after a decline, one refunded in part, one declined until it gave up):
orders, attempts, payments and refunds come out even. Then the books are
broken on purpose, one rule at a time (a second succeeded charge of a paid
order, money for an order that does not exist, a refund the order does not
know of), and each break is reported by its check, with exit status 1."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from billingos_cli.__main__ import main
from billingos_cli.reconcile import reconcile, run_reconcile
from billingos_cli.suite import Suite
from billingos_kit.testing.waiting import eventually

from .conftest import Merchant
from .test_checkout_confirmation import (
    COMPLETED,
    DECLINED_ON_CHARGE,
    GOOD_CARD,
    OPEN,
    confirm,
    open_session,
    save_card,
    settled,
    start_payment,
)
from .test_checkout_purchase import EXPIRED, one_time_offer, session_of

pytestmark = pytest.mark.e2e


async def buy(
    http: httpx.AsyncClient,
    suite: Suite,
    merchant: Merchant,
    link: dict[str, Any],
    cards: list[str],
) -> dict[str, Any]:
    """A checkout paid (or not) with each card in turn; the merchant's view."""
    session = await open_session(http, merchant, link, customer_email=f"{uuid.uuid4().hex}@x.io")
    secret = session["client_secret"]
    for card in cards:
        started = await start_payment(http, secret)
        await save_card(suite, started["payment"], card)
        assert (await confirm(http, secret)).status_code == 200
        after = await settled(http, secret)
        if after["status"] != OPEN:
            break
    return await session_of(merchant, session["id"])


async def paid_payment(merchant: Merchant, customer_id: str) -> dict[str, Any]:
    found = await merchant.client.get("/v1/payments", params={"customer_id": customer_id})
    succeeded = [p for p in found.json()["payments"] if p["status"] == "PAYMENT_STATUS_SUCCEEDED"]
    assert len(succeeded) == 1, found.text
    return dict(succeeded[0])


async def settled_books(suite: Suite, organization: uuid.UUID) -> Any:
    """The report once every event has been applied (the engine hears of
    refunds and payments through events)."""

    async def even() -> Any:
        report = await reconcile(suite.database_url, [organization], settle_seconds=0)
        return report if report.even else None

    try:
        return await eventually(even, seconds=30, every=0.5)
    except AssertionError:
        report = await reconcile(suite.database_url, [organization], settle_seconds=0)
        raise AssertionError("\n".join(report.lines())) from None


async def test_real_checkouts_come_out_even_and_each_break_is_reported(
    merchant: Merchant, http: httpx.AsyncClient, suite: Suite, tmp_path: Path
) -> None:
    organization = uuid.UUID(merchant.organization_id)
    link, _ = await one_time_offer(merchant)
    paid = await buy(http, suite, merchant, link, [DECLINED_ON_CHARGE, GOOD_CARD])
    assert paid["status"] == COMPLETED
    refunded = await buy(http, suite, merchant, link, [GOOD_CARD])
    gave_up = await buy(http, suite, merchant, link, [DECLINED_ON_CHARGE] * 3)
    assert gave_up["status"] == EXPIRED
    payment = await paid_payment(merchant, refunded["customer_id"])
    refund = await merchant.client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": {"amount_minor": 1000, "currency": "USD"}, "reason": "goodwill"},
        headers={"Idempotency-Key": f"refund-{payment['id']}"},
    )
    assert refund.status_code == 200, refund.text

    report = await settled_books(suite, organization)
    assert report.totals == {"orders": 3, "succeeded_payments": 2, "succeeded_refunds": 1}
    out = tmp_path / "reconcile.json"
    # The command itself, as a merchant or operator runs it.
    status = await asyncio.to_thread(
        main,
        [
            "reconcile",
            "--database-url",
            suite.database_url,
            "--organization",
            merchant.organization_id,
            "--settle-seconds",
            "0",
            "--json",
            str(out),
        ],
    )
    assert status == 0
    assert json.loads(out.read_text())["even"] is True

    # Broken on purpose, as a bug would: each rule's check says so.
    charged = await paid_payment(merchant, paid["customer_id"])
    connection = await asyncpg.connect(suite.database_url)
    try:
        copy = await connection.fetchrow(
            "SELECT * FROM payments.payments WHERE id = $1", uuid.UUID(charged["id"])
        )
        assert copy is not None

        async def insert_payment(**changes: Any) -> None:
            # The copied payment's own times: settled, in the past.
            row = {**dict(copy), **changes, "id": uuid.uuid4(), "stripe_payment_intent_id": None}
            columns = ", ".join(row)
            places = ", ".join(f"${n}" for n in range(1, len(row) + 1))
            await connection.execute(
                f"INSERT INTO payments.payments ({columns}) VALUES ({places})",  # noqa: S608
                *row.values(),
            )

        await insert_payment(attempt_number=9)  # the paid order charged twice
        await insert_payment(order_id=uuid.uuid4(), attempt_number=1)  # no such order
        await connection.execute(
            "UPDATE payments.payments SET amount_refunded_minor = amount_refunded_minor + 1"
            " WHERE id = $1",
            uuid.UUID(payment["id"]),
        )
    finally:
        await connection.close()

    broken = await reconcile(suite.database_url, [organization], settle_seconds=0)
    failing = {check.name: check.breaks for check in broken.checks if not check.even}
    assert set(failing) == {
        "no_double_charge",
        "no_money_without_order",
        "attempts_agree_with_payments",
        "payment_refunds_add_up",
    }, broken.lines()
    assert [b["order_id"] for b in failing["no_double_charge"]] == [charged["order_id"]]
    assert failing["payment_refunds_add_up"][0]["payment_id"] == payment["id"]
    status = await asyncio.to_thread(
        run_reconcile,
        suite.database_url,
        [merchant.organization_id],
        settle_seconds=0,
        json_out=None,
    )
    assert status == 1
    # Another organization's books are not this one's.
    other = await reconcile(suite.database_url, [uuid.uuid4()], settle_seconds=0)
    assert other.even
    assert other.totals["orders"] == 0
