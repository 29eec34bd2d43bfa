"""The invoice PDF's parts without a service: money from minor units by the
currency's exponent, invoice numbers (stable, unique, time-ordered, back to
their order), the font for each character (a system TrueType font, Adobe's
CJK fonts, Helvetica, else a visible "?"), and a whole invoice read back as
text, with fonts and without, across pages."""

from __future__ import annotations

import datetime as dt
import io
import threading
import uuid
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from billingos.common.v1 import address_pb2
from billingos_kit.clock import FrozenClock
from billingos_kit.ids import new_id
from billingos_pricing.amounts import to_major_units
from billingos_subscriptions import invoice_pdf
from billingos_subscriptions.invoice_document import InvoiceDocument, InvoiceParty, address_lines
from billingos_subscriptions.invoice_fonts import (
    CJK_JAPANESE,
    CJK_KOREAN,
    CJK_SIMPLIFIED_CHINESE,
    SYSTEM_FONTS,
    InvoiceFonts,
)
from billingos_subscriptions.invoice_numbers import invoice_number, order_of_invoice_number
from billingos_subscriptions.invoice_pdf import render_invoice
from billingos_subscriptions.models import Order, OrderLine
from billingos_subscriptions.money_text import money_text

START = dt.datetime(2027, 1, 31, 10, tzinfo=dt.UTC)
END = dt.datetime(2027, 2, 28, 10, tzinfo=dt.UTC)


def test_money_is_printed_from_minor_units_by_the_currencys_exponent() -> None:
    assert money_text(15000, "USD") == "USD 150.00"
    assert money_text(123456789, "EUR") == "EUR 1,234,567.89"
    assert money_text(-5, "USD") == "-USD 0.05"
    assert money_text(1235, "JPY") == "JPY 1,235"
    assert money_text(1235, "KWD") == "KWD 1.235"
    assert money_text(0, "usd") == "USD 0.00"
    assert money_text(0, "JPY") == "JPY 0"
    assert money_text(-123456789, "JPY") == "-JPY 123,456,789"
    assert money_text(10**12, "KWD") == "KWD 1,000,000,000.000"


def test_money_text_prints_the_pricing_packages_major_units() -> None:
    for currency in ("USD", "JPY", "KWD"):
        for amount in (0, 1, 99, 100, 1005, 123456789, 10**12):
            printed = money_text(amount, currency)
            assert Decimal(printed.split(" ")[1].replace(",", "")) == to_major_units(
                amount, currency
            )


def test_invoice_numbers_are_stable_unique_time_ordered_and_lead_back() -> None:
    clock = FrozenClock(START)
    ids = [new_id(clock) for _ in range(50)]
    clock.advance(dt.timedelta(milliseconds=1))
    ids += [new_id(clock) for _ in range(50)]
    numbers = [invoice_number(order_id) for order_id in ids]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)
    assert all(len(n) == 26 and n.isalnum() and n.isupper() for n in numbers)
    assert [order_of_invoice_number(n) for n in numbers] == ids
    assert invoice_number(ids[0]) == numbers[0]
    assert order_of_invoice_number(numbers[0].lower()) == ids[0]
    for wrong in ("", "0" * 25, "I" * 26, "8" + "0" * 25):
        assert order_of_invoice_number(wrong) is None


def test_without_a_truetype_font_cjk_and_western_text_print_and_the_rest_is_marked() -> None:
    fonts = InvoiceFonts(system=())
    assert fonts.unicode_font is None
    assert fonts.runs("Zoë Müller") == [("Helvetica", "Zoë Müller")]
    assert fonts.runs("Total", bold=True) == [("Helvetica-Bold", "Total")]
    assert fonts.runs("山田 太郎") == [(CJK_SIMPLIFIED_CHINESE, "山田 太郎")]
    assert fonts.runs("やまだ") == [(CJK_JAPANESE, "やまだ")]
    assert fonts.runs("김철수") == [(CJK_KOREAN, "김철수")]
    # Mixed: Latin by Helvetica, the name by its CID font.
    assert fonts.runs("Mr 山田") == [("Helvetica", "Mr "), (CJK_SIMPLIFIED_CHINESE, "山田")]
    # A script none of them has: a visible "?", not a wrong glyph.
    assert fonts.runs("Дмитрий") == [("Helvetica", "???????")]


def _system_fonts() -> InvoiceFonts:
    fonts = InvoiceFonts()
    if fonts.unicode_font is None:
        pytest.skip(
            "no Unicode TrueType font on this machine (looked for "
            + ", ".join(regular for regular, _ in SYSTEM_FONTS)
            + ")"
        )
    return fonts


def test_a_system_truetype_font_prints_every_script_it_has() -> None:
    fonts = _system_fonts()
    name = fonts.unicode_font
    assert fonts.runs("Дмитрий Ωμέγα Łukasz") == [(name, "Дмитрий Ωμέγα Łukasz")]
    # What it lacks (CJK, in DejaVu or Liberation) falls back as above.
    runs = fonts.runs("Дмитрий 山田")
    assert runs[0][0] == name
    assert "".join(chars for _, chars in runs) == "Дмитрий 山田"


def test_a_font_that_is_not_truetype_is_passed_over(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-font.ttf"
    bogus.write_bytes(b"not a font")
    fonts = InvoiceFonts(str(bogus), system=())
    assert fonts.unicode_font is None
    assert fonts.runs("Ada") == [("Helvetica", "Ada")]


def _document(lines: int, buyer: str) -> InvoiceDocument:
    order_id = new_id(FrozenClock(START))
    organization_id = uuid.uuid4()
    order = Order(
        id=order_id,
        organization_id=organization_id,
        customer_id=uuid.uuid4(),
        subscription_id=uuid.uuid4(),
        billing_key="key",
        billing_reason="subscription_cycle",
        status="pending",
        currency="EUR",
        period_start=START,
        period_end=END,
        usage_from=None,
        usage_to=None,
        subtotal_minor=15000 + 100 * (lines - 1),
        discount_minor=1500,
        tax_minor=2584,
        inclusive_tax_minor=0,
        total_minor=16084 + 100 * (lines - 1),
        credit_applied_minor=0,
        credit_carried_minor=0,
        amount_due_minor=16084 + 100 * (lines - 1),
        amount_paid_minor=0,
        amount_refunded_minor=0,
        tax_rate_percent="19",
        test_clock_id=None,
        attempt_count=0,
        first_failed_at=None,
        next_charge_at=None,
        created_at=START,
        finalized_at=START,
        paid_at=None,
        updated_at=START,
    )

    def line(position: int, description: str, amount: int, discount: int) -> OrderLine:
        return OrderLine(
            id=uuid.uuid4(),
            organization_id=organization_id,
            order_id=order_id,
            position=position,
            kind="plan" if position == 0 else "usage",
            description=description,
            price_id=None,
            product_id=None,
            period_start=START,
            period_end=END,
            prorated_seconds=0,
            period_seconds=0,
            quantity="1" if position == 0 else f"{position}.5",
            meter_id=None,
            event_count=0,
            late_quantity="",
            amount_given=str(amount),
            cap_minor=None,
            tax_behavior="unspecified",
            amount_minor=amount,
            discount_minor=discount,
            tax_minor=0,
            tax_inclusive=False,
            total_minor=amount - discount,
        )

    rows = [line(0, "Team — yearly, with a description long enough to wrap", 15000, 1500)]
    rows += [line(n, f"API calls {n}", 100, 0) for n in range(1, lines)]
    address = address_pb2.Address(line1="1 Main St", postal_code="10117", city="Berlin")
    return InvoiceDocument(
        invoice_number(order_id),
        order,
        rows,
        InvoiceParty("Acme GmbH", "help@acme.example"),
        InvoiceParty(buyer, "ada@example.com", address_lines(address)),
        ZoneInfo("Europe/Berlin"),
    )


def _text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_an_invoice_without_fonts_prints_its_figures_and_marks_what_it_cannot() -> None:
    document = _document(3, "Zoë Дмитрий")
    data = render_invoice(document, InvoiceFonts(system=()))
    assert data.startswith(b"%PDF-")
    pages, text = _text(data)
    assert pages == 1
    for expected in (
        "Acme GmbH",
        document.number,
        "Payment due",
        "2027-01-31 – 2027-02-28",  # in Berlin's time zone: 11:00 on both days
        "Zoë ???????",
        "1 Main St",
        "10117 Berlin",
        "EUR 150.00",
        "-EUR 15.00",
        "Tax (19%)",
        "EUR 25.84",
        "Amount due",
        "EUR 162.84",
        "API calls 2",
        "Questions: help@acme.example",
    ):
        assert expected in text, (expected, text)


def test_a_long_invoice_continues_on_further_pages_with_the_same_bytes_each_time() -> None:
    fonts = _system_fonts()
    document = _document(120, "Дмитрий Łukasz")
    data = render_invoice(document, fonts)
    assert render_invoice(document, fonts) == data
    pages, text = _text(data)
    assert pages >= 3
    assert "Дмитрий Łukasz" in text
    assert f"Invoice {document.number} (continued)" in text
    assert "API calls 119" in text
    assert f"Page {pages}" in text
    assert "Amount due EUR 279.84" in text  # 160.84 and 119 lines of 1.00


async def test_the_async_entry_point_renders_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = _document(3, "Ada")
    fonts = InvoiceFonts(system=())
    threads: list[int] = []
    render = invoice_pdf._render

    def recorded(*args: object) -> bytes:
        threads.append(threading.get_ident())
        return render(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(invoice_pdf, "_render", recorded)
    data = await invoice_pdf.invoice_pdf(document, fonts)
    assert threads
    assert threads[0] != threading.get_ident()
    assert data == render_invoice(document, fonts)
