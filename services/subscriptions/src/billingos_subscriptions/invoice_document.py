"""What an order's invoice says, gathered for the PDF (invoice_pdf.py): the
order and its lines from this service, the organization's name and support
email from the customers service (only its id is known here), the
customer's name, email and billing address from the customers service too
(the engine's copy keeps only what taxes need), and the organization's
billing time zone, in which the invoice's dates are printed.

What is stable and what is not: the order's number, dates, lines and
totals (subtotal, discount, tax, total, credit) are the order's, fixed once
it is final; its status and what was paid and refunded are the order's as
they stand (a refund shows on the next download). The seller's and buyer's
details (names, support email, billing address) and the time zone are read
live at download time, so an invoice downloaded after the organization or
the customer changed prints the new details: the same order does NOT
always render the same bytes. Freezing them on the order at finalization
is a follow-up (services/subscriptions/README.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from billingos.common.v1 import address_pb2
from billingos_kit.customer_directory import CustomerDirectory
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.clients import OrganizationsClient
from billingos_subscriptions.customer_portal import PortalOrders
from billingos_subscriptions.invoice_numbers import invoice_number
from billingos_subscriptions.models import Order, OrderLine


@dataclass(frozen=True)
class InvoiceParty:
    """Who sells or buys: a name, an email address and the address's lines."""

    name: str
    email: str
    address: tuple[str, ...] = ()


@dataclass(frozen=True)
class InvoiceDocument:
    """An invoice's content: `number`, `order`, `lines` are the order's;
    `seller`, `buyer` and `zone` are as they are when it is downloaded."""

    number: str
    order: Order
    lines: list[OrderLine]
    seller: InvoiceParty
    buyer: InvoiceParty
    zone: ZoneInfo


def address_lines(address: address_pb2.Address) -> tuple[str, ...]:
    """An address as an envelope prints it (the parts given)."""
    town = " ".join(part for part in (address.postal_code, address.city) if part)
    parts = (address.line1, address.line2, town, address.state, address.country)
    return tuple(part for part in parts if part)


class Invoices:
    """The invoices of the session's customer's orders."""

    def __init__(
        self,
        orders: PortalOrders,
        billing: Billing,
        organizations: OrganizationsClient,
        directory: CustomerDirectory,
    ) -> None:
        self._orders = orders
        self._billing = billing
        self._organizations = organizations
        self._directory = directory

    async def document(self, order_id: uuid.UUID) -> InvoiceDocument:
        """The order's invoice (NotFound for an order not the customer's);
        UNAVAILABLE while the customers service is down."""
        order = await self._orders.get(order_id)
        lines = (await self._orders.lines_of([order]))[order.id]
        organization = await self._organizations.organization(order.organization_id)
        seller = InvoiceParty(
            name=str(order.organization_id) if organization is None else organization.name,
            email="" if organization is None else organization.branding.support_email,
        )
        customer = await self._directory.find(order.organization_id, order.customer_id)
        buyer = (
            InvoiceParty(name="", email="")
            if customer is None
            else InvoiceParty(
                name=customer.name,
                email=customer.email,
                address=address_lines(customer.billing_address),
            )
        )
        zone = (await self._billing.rules()).zone
        return InvoiceDocument(invoice_number(order.id), order, lines, seller, buyer, zone)
