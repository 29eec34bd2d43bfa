"""An invoice as a PDF, drawn with reportlab's canvas (services/subscriptions/
README.md says why reportlab): A4; the organization and the customer; the
invoice number, its date and status; each line with its period, quantity,
amount and discount; the subtotal, discount, tax, total, credit, what was
paid (or is due) and refunded. Text goes through `InvoiceFonts`, which
picks a font per character (a name in any script), and long descriptions
wrap; lines past a page's end continue on the next. The output is
deterministic (reportlab's `invariant`: no creation time, no random id):
the same document renders the same bytes. The document is not frozen
(invoice_document.py): the order's own figures, number and dates never
change once it is final, but the seller's and buyer's names and addresses
are read when the invoice is downloaded, so a renamed organization or a
moved customer is printed as it is now.

Drawing is CPU work (reportlab, a font chosen per character): a service
calls `invoice_pdf`, which renders in a worker thread, never
`render_invoice` on its event loop. One render at a time per process:
reportlab's font registry and a TrueType font's subsets are shared by
every canvas."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import threading

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from billingos_subscriptions.invoice_document import InvoiceDocument
from billingos_subscriptions.invoice_fonts import InvoiceFonts
from billingos_subscriptions.models import OrderLine
from billingos_subscriptions.money_text import money_text
from billingos_subscriptions.vocabulary import OrderStatus

WIDTH, HEIGHT = A4
MARGIN = 50.0
RIGHT = WIDTH - MARGIN
BOTTOM = 70.0  # the footer lives below
LINE = 13.0
# The lines table's columns: description, period, quantity, amount.
COLUMN_PERIOD = 300.0
COLUMN_QUANTITY_RIGHT = 455.0
DESCRIPTION_WIDTH = COLUMN_PERIOD - MARGIN - 10
GREY = (0.42, 0.42, 0.45)
BLACK = (0.0, 0.0, 0.0)


class _Page:
    """The canvas, the current height and the page count, with the few ways
    the invoice draws text."""

    def __init__(self, document: InvoiceDocument, fonts: InvoiceFonts) -> None:
        self.buffer = io.BytesIO()
        self.canvas = Canvas(self.buffer, pagesize=A4, invariant=True, pageCompression=True)
        self.canvas.setTitle(f"Invoice {document.number}")
        self.canvas.setAuthor(document.seller.name)
        self.canvas.setCreator("BillingOS")
        self.fonts = fonts
        self.document = document
        self.y = HEIGHT - MARGIN
        self.number = 1

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float = 9.5,
        *,
        bold: bool = False,
        right: bool = False,
        colour: tuple[float, float, float] = BLACK,
    ) -> None:
        """Draws `text` from `x` (or ending at `x`, `right`), font by font,
        in one text object (so a viewer copies it, and a reader extracts
        it, as one line)."""
        if right:
            x -= self.fonts.width(text, size, bold=bold)
        self.canvas.setFillColorRGB(*colour)
        line = self.canvas.beginText(x, y)
        for font, chars in self.fonts.runs(text, bold=bold):
            line.setFont(font, size)
            line.textOut(chars)
        self.canvas.drawText(line)

    def wrapped(self, text: str, width: float, size: float = 9.5) -> list[str]:
        """`text` in lines no wider than `width` (at word breaks where it
        can, inside a word too long for a line)."""
        lines: list[str] = []
        current = ""
        for word in text.split():
            candidate = f"{current} {word}" if current else word
            if self.fonts.width(candidate, size) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            while self.fonts.width(word, size) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and self.fonts.width(word[:cut], size) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        if current or not lines:
            lines.append(current)
        return lines

    def room_for(self, height: float) -> None:
        """Starts a new page (its table header again) unless `height` fits."""
        if self.y - height >= BOTTOM:
            return
        self.footer()
        self.canvas.showPage()
        self.number += 1
        self.y = HEIGHT - MARGIN
        self.text(MARGIN, self.y, f"Invoice {self.document.number} (continued)", 9, colour=GREY)
        self.y -= 2 * LINE
        table_header(self)

    def footer(self) -> None:
        seller = self.document.seller
        words = f"{seller.name} · Invoice {self.document.number} · Page {self.number}"
        self.text(MARGIN, 40, words, 8, colour=GREY)
        if seller.email:
            self.text(RIGHT, 40, f"Questions: {seller.email}", 8, right=True, colour=GREY)

    def rule(self) -> None:
        self.canvas.setStrokeColorRGB(0.8, 0.8, 0.82)
        self.canvas.setLineWidth(0.6)
        self.canvas.line(MARGIN, self.y, RIGHT, self.y)


# reportlab is not thread-safe: its font registry is global (a CJK font is
# registered on first use) and a TrueType font keeps each canvas's subset.
_RENDERING = threading.Lock()


async def invoice_pdf(document: InvoiceDocument, fonts: InvoiceFonts) -> bytes:
    """The invoice as a PDF, drawn in a worker thread (the event loop keeps
    serving meanwhile)."""
    return await asyncio.to_thread(render_invoice, document, fonts)


def render_invoice(document: InvoiceDocument, fonts: InvoiceFonts) -> bytes:
    """The invoice as a PDF, drawn on the calling thread: blocking (from
    async code, `invoice_pdf`)."""
    with _RENDERING:
        return _render(document, fonts)


def _render(document: InvoiceDocument, fonts: InvoiceFonts) -> bytes:
    page = _Page(document, fonts)
    heading(page)
    parties(page)
    table_header(page)
    for line in document.lines:
        order_line(page, line)
    totals(page)
    page.footer()
    page.canvas.showPage()
    page.canvas.save()
    return page.buffer.getvalue()


def _day(document: InvoiceDocument, moment: dt.datetime | None) -> str:
    """A date as the organization's billing time zone has it (ISO 8601:
    unambiguous in every country)."""
    if moment is None:
        return ""
    return moment.astimezone(document.zone).date().isoformat()


def status_text(document: InvoiceDocument) -> str:
    order = document.order
    status = OrderStatus(order.status)
    if status is OrderStatus.PAID:
        return f"Paid {_day(document, order.paid_at)}".strip()
    return {
        OrderStatus.PENDING: "Payment due",
        OrderStatus.VOID: "Void",
        OrderStatus.REFUNDED: "Refunded",
        OrderStatus.PARTIALLY_REFUNDED: "Partially refunded",
        OrderStatus.DRAFT: "Draft",
    }[status]


def heading(page: _Page) -> None:
    document = page.document
    order = document.order
    seller_lines = page.wrapped(document.seller.name, 280, 16)
    for index, chunk in enumerate(seller_lines):
        page.text(MARGIN, page.y - index * 19, chunk, 16, bold=True)
    page.text(RIGHT, page.y, "Invoice", 20, bold=True, right=True)
    below = page.y - 19 * len(seller_lines)
    if document.seller.email:
        page.text(MARGIN, below, document.seller.email, 9, colour=GREY)
    facts = [
        ("Invoice number", document.number),
        ("Date of issue", _day(document, order.finalized_at or order.created_at)),
        ("Status", status_text(document)),
    ]
    if order.period_start is not None and order.period_end is not None:
        period = f"{_day(document, order.period_start)} – {_day(document, order.period_end)}"
        facts.append(("Period", period))
    y = page.y - 30
    for label, value in facts:
        page.text(COLUMN_PERIOD, y, label, 8.5, colour=GREY)
        page.text(RIGHT, y, value, 8.5, bold=True, right=True)
        y -= LINE
    page.y = min(y, below - LINE) - LINE


def parties(page: _Page) -> None:
    buyer = page.document.buyer
    page.text(MARGIN, page.y, "Bill to", 8.5, bold=True, colour=GREY)
    page.y -= LINE
    for text in (buyer.name, buyer.email, *buyer.address):
        if not text:
            continue
        for chunk in page.wrapped(text, 300):
            page.text(MARGIN, page.y, chunk)
            page.y -= LINE
    page.y -= LINE


def table_header(page: _Page) -> None:
    y = page.y
    page.text(MARGIN, y, "Description", 8.5, bold=True, colour=GREY)
    page.text(COLUMN_PERIOD, y, "Period", 8.5, bold=True, colour=GREY)
    page.text(COLUMN_QUANTITY_RIGHT, y, "Qty", 8.5, bold=True, colour=GREY, right=True)
    page.text(RIGHT, y, "Amount", 8.5, bold=True, colour=GREY, right=True)
    page.y -= 5
    page.rule()
    page.y -= LINE


def order_line(page: _Page, line: OrderLine) -> None:
    document = page.document
    currency = document.order.currency
    description = page.wrapped(line.description, DESCRIPTION_WIDTH)
    height = LINE * (len(description) + (1 if line.discount_minor else 0)) + 4
    page.room_for(height)
    period = ""
    if line.period_start is not None and line.period_end is not None:
        period = f"{_day(document, line.period_start)} – {_day(document, line.period_end)}"
    page.text(COLUMN_PERIOD, page.y, period, 8.5)
    page.text(COLUMN_QUANTITY_RIGHT, page.y, line.quantity, 8.5, right=True)
    page.text(RIGHT, page.y, money_text(line.amount_minor, currency), right=True)
    for chunk in description:
        page.text(MARGIN, page.y, chunk)
        page.y -= LINE
    if line.discount_minor:
        page.text(MARGIN + 10, page.y, "Discount", 8.5, colour=GREY)
        page.text(
            RIGHT, page.y, money_text(-line.discount_minor, currency), 8.5, right=True, colour=GREY
        )
        page.y -= LINE
    page.y -= 4


def totals(page: _Page) -> None:
    order = page.document.order
    currency = order.currency
    rows: list[tuple[str, int, bool]] = [("Subtotal", order.subtotal_minor, False)]
    if order.discount_minor:
        rows.append(("Discount", -order.discount_minor, False))
    if order.tax_minor or order.tax_rate_percent:
        rate = f" ({order.tax_rate_percent}%)" if order.tax_rate_percent else ""
        exclusive = order.tax_minor - order.inclusive_tax_minor
        if exclusive or not order.inclusive_tax_minor:
            rows.append((f"Tax{rate}", exclusive, False))
        if order.inclusive_tax_minor:
            rows.append((f"Tax included{rate}", order.inclusive_tax_minor, False))
    rows.append(("Total", order.total_minor, True))
    if order.credit_applied_minor:
        rows.append(("Credit applied", -order.credit_applied_minor, False))
    if order.credit_carried_minor:
        rows.append(("Credit to your balance", order.credit_carried_minor, False))
    status = OrderStatus(order.status)
    if status is OrderStatus.PENDING:
        rows.append(("Amount due", order.amount_due_minor, True))
    else:
        rows.append(("Amount paid", order.amount_paid_minor, True))
    if order.amount_refunded_minor:
        rows.append(("Refunded", -order.amount_refunded_minor, False))
    page.room_for(LINE * (len(rows) + 1))
    page.rule()
    page.y -= LINE
    for label, amount, strong in rows:
        page.text(COLUMN_PERIOD, page.y, label, bold=strong)
        page.text(RIGHT, page.y, money_text(amount, currency), bold=strong, right=True)
        page.y -= LINE
