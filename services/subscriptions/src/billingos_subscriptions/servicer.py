"""gRPC adapters: request message in, domain call, response message out. No
SQL and no rules here; the kit's pipeline has already checked the caller,
resolved the organization and opened the unit of work."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.api import httpbody_pb2

from billingos.subscriptions.v1 import (
    checkout_pb2,
    checkout_pb2_grpc,
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    orders_pb2,
    orders_pb2_grpc,
    public_checkout_pb2,
    public_checkout_pb2_grpc,
    seats_pb2,
    seats_pb2_grpc,
    subscriptions_pb2,
    subscriptions_pb2_grpc,
    test_clocks_pb2,
    test_clocks_pb2_grpc,
)
from billingos_kit.clock import Clock
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.errors import InvalidArgument
from billingos_kit.grpc.scope import current_scope
from billingos_kit.ids import parse_id
from billingos_kit.pagination import ListFilter, page_request
from billingos_kit.repository import OnConnection
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions.billing import Billing
from billingos_subscriptions.billing_rules import rules_of, update_rules
from billingos_subscriptions.catalog_copy import Catalog
from billingos_subscriptions.checkout import (
    CheckoutLinks,
    CheckoutSessions,
    CheckoutSettings,
    PublicCheckout,
    organization_of,
    public_success_url,
)
from billingos_subscriptions.checkout_confirmation import CheckoutConfirmation
from billingos_subscriptions.checkout_limits import CheckoutOpenLimits
from billingos_subscriptions.clients import (
    BuyersClient,
    CatalogClient,
    MembersClient,
    OrganizationsClient,
    PaymentsClient,
)
from billingos_subscriptions.customer_portal import PortalOrders, PortalSubscriptions
from billingos_subscriptions.invoice_document import Invoices
from billingos_subscriptions.invoice_fonts import InvoiceFonts
from billingos_subscriptions.invoice_pdf import invoice_pdf
from billingos_subscriptions.messages import (
    billing_settings_message,
    checkout_session_message,
    order_message,
    public_link_message,
    public_session_message,
    seat_message,
    subscription_message,
    test_clock_message,
)
from billingos_subscriptions.models import CheckoutSession, Subscription, kit_tables
from billingos_subscriptions.portal_messages import (
    change_preview_message,
    portal_order_message,
)
from billingos_subscriptions.repository import (
    CheckoutSecrets,
    CheckoutSessionFilter,
    OrderFilter,
    SeatFilter,
    SessionKey,
    SubscriptionFilter,
)
from billingos_subscriptions.seats import Seats
from billingos_subscriptions.subscriptions import Subscriptions
from billingos_subscriptions.testclocks import TestClocks
from billingos_subscriptions.vocabulary import CheckoutSessionStatus, SubscriptionStatus

Context = grpc.aio.ServicerContext[Any, Any]
SOURCE = "subscriptions"


@dataclass(frozen=True)
class Backends:
    """What the servicers need beyond the call: the other contexts, the
    service's own clock, how to wake the workers after a commit, the
    deployment's checkout settings and the invoices' fonts."""

    catalog: CatalogClient
    directory: CustomerDirectory
    members: MembersClient
    buyers: BuyersClient
    payments: PaymentsClient
    real_clock: Clock
    wake: Callable[[], None]
    checkout: CheckoutSettings
    open_limits: CheckoutOpenLimits
    organizations: OrganizationsClient
    invoice_fonts: InvoiceFonts


def _optional_id(value: str, field: str) -> Any:
    if not value:
        return None
    return parse_id(value, field)


def _status(value: int) -> str | None:
    if value == subscriptions_pb2.SUBSCRIPTION_STATUS_UNSPECIFIED:
        return None
    name = subscriptions_pb2.SubscriptionStatus.Name(value).removeprefix("SUBSCRIPTION_STATUS_")  # type: ignore[arg-type]
    return SubscriptionStatus[name].value


class SubscriptionServicer(subscriptions_pb2_grpc.SubscriptionServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    def _service(self) -> Subscriptions:
        b = self._backends
        return Subscriptions(current_scope(), b.real_clock, b.catalog, b.directory, b.payments)

    async def _message(
        self, service: Subscriptions, row: Subscription
    ) -> subscriptions_pb2.Subscription:
        items = await service.items_of([row])
        return subscription_message(row, items[row.id])

    async def CreateSubscription(
        self, request: subscriptions_pb2.CreateSubscriptionRequest, context: Context
    ) -> subscriptions_pb2.Subscription:
        service = self._service()
        row = await service.create(request)
        self._backends.wake()
        return await self._message(service, row)

    async def GetSubscription(
        self, request: subscriptions_pb2.GetSubscriptionRequest, context: Context
    ) -> subscriptions_pb2.Subscription:
        service = self._service()
        return await self._message(service, await service.get(parse_id(request.id, "id")))

    async def ListSubscriptions(
        self, request: subscriptions_pb2.ListSubscriptionsRequest, context: Context
    ) -> subscriptions_pb2.ListSubscriptionsResponse:
        where = SubscriptionFilter(
            customer_id=_optional_id(request.customer_id, "customer_id"),
            status=_status(request.status),
            product_id=_optional_id(request.product_id, "product_id"),
        )
        page = page_request(request.page_size, request.page_token, where)
        service = self._service()
        result = await service.list_page(where, page)
        items = await service.items_of(list(result.items))
        return subscriptions_pb2.ListSubscriptionsResponse(
            subscriptions=[subscription_message(row, items[row.id]) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def CancelSubscription(
        self, request: subscriptions_pb2.CancelSubscriptionRequest, context: Context
    ) -> subscriptions_pb2.Subscription:
        service = self._service()
        row = await service.cancel(parse_id(request.id, "id"), request.immediately, request.comment)
        return await self._message(service, row)

    async def UncancelSubscription(
        self, request: subscriptions_pb2.UncancelSubscriptionRequest, context: Context
    ) -> subscriptions_pb2.Subscription:
        service = self._service()
        return await self._message(service, await service.uncancel(parse_id(request.id, "id")))

    async def ChangeSubscription(
        self, request: subscriptions_pb2.ChangeSubscriptionRequest, context: Context
    ) -> subscriptions_pb2.Subscription:
        service = self._service()
        row = await service.change(request, parse_id(request.id, "id"))
        self._backends.wake()
        return await self._message(service, row)

    async def GetBillingSettings(
        self, request: subscriptions_pb2.GetBillingSettingsRequest, context: Context
    ) -> subscriptions_pb2.BillingSettings:
        return billing_settings_message(await rules_of(current_scope()))

    async def UpdateBillingSettings(
        self, request: subscriptions_pb2.UpdateBillingSettingsRequest, context: Context
    ) -> subscriptions_pb2.BillingSettings:
        scope = current_scope()
        rules = await update_rules(
            scope, scope.clock.now(), request.billing_settings, request.update_mask
        )
        return billing_settings_message(rules)


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    async def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: Context
    ) -> orders_pb2.Order:
        billing = Billing(current_scope(), self._backends.real_clock)
        order = await billing.orders.require(parse_id(request.id, "id"))
        message = await billing.order_state(order)
        assert isinstance(message, orders_pb2.Order)
        return message

    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: Context
    ) -> orders_pb2.ListOrdersResponse:
        where = OrderFilter(
            customer_id=_optional_id(request.customer_id, "customer_id"),
            subscription_id=_optional_id(request.subscription_id, "subscription_id"),
        )
        page = page_request(request.page_size, request.page_token, where)
        billing = Billing(current_scope(), self._backends.real_clock)
        result = await billing.orders.page(where, page)
        ids = [row.id for row in result.items]
        lines = await billing.lines.of_orders(ids)
        attempts = await billing.attempts.of_orders(ids)
        return orders_pb2.ListOrdersResponse(
            orders=[
                order_message(
                    row,
                    [line for line in lines if line.order_id == row.id],
                    [attempt for attempt in attempts if attempt.order_id == row.id],
                )
                for row in result.items
            ],
            next_page_token=result.next_page_token,
        )


class SeatServicer(seats_pb2_grpc.SubscriptionSeatServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    def _service(self) -> Seats:
        b = self._backends
        scope = current_scope()
        catalog = Catalog(scope, b.catalog, b.directory)
        return Seats(Billing(scope, b.real_clock), b.members, catalog)

    async def AssignSeat(
        self, request: seats_pb2.AssignSeatRequest, context: Context
    ) -> seats_pb2.SubscriptionSeat:
        subscription_id = parse_id(request.subscription_id, "subscription_id")
        return seat_message(await self._service().assign(subscription_id, request.seat))

    async def GetSeat(
        self, request: seats_pb2.GetSeatRequest, context: Context
    ) -> seats_pb2.SubscriptionSeat:
        subscription_id = parse_id(request.subscription_id, "subscription_id")
        return seat_message(await self._service().get(subscription_id, parse_id(request.id, "id")))

    async def ListSeats(
        self, request: seats_pb2.ListSeatsRequest, context: Context
    ) -> seats_pb2.ListSeatsResponse:
        where = SeatFilter(
            subscription_id=parse_id(request.subscription_id, "subscription_id"),
            assigned=None if request.show_revoked else True,
        )
        page = page_request(request.page_size, request.page_token, where)
        result = await self._service().list_page(where, page)
        return seats_pb2.ListSeatsResponse(
            seats=[seat_message(row) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def RevokeSeat(
        self, request: seats_pb2.RevokeSeatRequest, context: Context
    ) -> seats_pb2.SubscriptionSeat:
        subscription_id = parse_id(request.subscription_id, "subscription_id")
        row = await self._service().revoke(subscription_id, parse_id(request.id, "id"))
        return seat_message(row)


class TestClockServicer(test_clocks_pb2_grpc.TestClockServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    def _service(self) -> TestClocks:
        return TestClocks(current_scope(), self._backends.real_clock)

    async def CreateTestClock(
        self, request: test_clocks_pb2.CreateTestClockRequest, context: Context
    ) -> test_clocks_pb2.TestClock:
        clock = request.test_clock
        frozen = (
            clock.frozen_time.ToDatetime(tzinfo=dt.UTC) if clock.HasField("frozen_time") else None
        )
        return test_clock_message(await self._service().create(frozen, clock.name))

    async def GetTestClock(
        self, request: test_clocks_pb2.GetTestClockRequest, context: Context
    ) -> test_clocks_pb2.TestClock:
        return test_clock_message(await self._service().get(parse_id(request.id, "id")))

    async def ListTestClocks(
        self, request: test_clocks_pb2.ListTestClocksRequest, context: Context
    ) -> test_clocks_pb2.ListTestClocksResponse:
        page = page_request(request.page_size, request.page_token, ListFilter())
        result = await self._service().list_page(page)
        return test_clocks_pb2.ListTestClocksResponse(
            test_clocks=[test_clock_message(row) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def AdvanceTestClock(
        self, request: test_clocks_pb2.AdvanceTestClockRequest, context: Context
    ) -> test_clocks_pb2.TestClock:
        frozen = (
            request.frozen_time.ToDatetime(tzinfo=dt.UTC)
            if request.HasField("frozen_time")
            else None
        )
        row = await self._service().advance(parse_id(request.id, "id"), frozen)
        self._backends.wake()
        return test_clock_message(row)

    async def DeleteTestClock(
        self, request: test_clocks_pb2.DeleteTestClockRequest, context: Context
    ) -> test_clocks_pb2.TestClock:
        return test_clock_message(await self._service().delete(parse_id(request.id, "id")))


def _subscriptions(backends: Backends, scope: Any) -> Subscriptions:
    b = backends
    return Subscriptions(scope, b.real_clock, b.catalog, b.directory, b.payments)


class CheckoutLinkServicer(checkout_pb2_grpc.CheckoutLinkServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    def _links(self) -> CheckoutLinks:
        b = self._backends
        return CheckoutLinks(_subscriptions(b, current_scope()), b.catalog, b.checkout)

    async def CreateCheckoutLink(
        self, request: checkout_pb2.CreateCheckoutLinkRequest, context: Context
    ) -> checkout_pb2.CheckoutLink:
        links = self._links()
        return links.message(await links.create(request.checkout_link))

    async def GetCheckoutLink(
        self, request: checkout_pb2.GetCheckoutLinkRequest, context: Context
    ) -> checkout_pb2.CheckoutLink:
        links = self._links()
        return links.message(await links.get(parse_id(request.id, "id")))

    async def ListCheckoutLinks(
        self, request: checkout_pb2.ListCheckoutLinksRequest, context: Context
    ) -> checkout_pb2.ListCheckoutLinksResponse:
        page = page_request(request.page_size, request.page_token, ListFilter())
        links = self._links()
        result = await links.list_page(page)
        return checkout_pb2.ListCheckoutLinksResponse(
            checkout_links=[links.message(row) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateCheckoutLink(
        self, request: checkout_pb2.UpdateCheckoutLinkRequest, context: Context
    ) -> checkout_pb2.CheckoutLink:
        links = self._links()
        return links.message(await links.update(request.checkout_link, request.update_mask))


def _session_status(value: int) -> str | None:
    try:
        status = CheckoutSessionStatus.from_proto(value)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidArgument("status", "is not a checkout session status") from None
    return None if status is None else status.value


class CheckoutSessionServicer(checkout_pb2_grpc.CheckoutSessionServiceServicer):
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    def _sessions(self) -> CheckoutSessions:
        b = self._backends
        return CheckoutSessions(_subscriptions(b, current_scope()), b.catalog, b.checkout)

    async def CreateCheckoutSession(
        self, request: checkout_pb2.CreateCheckoutSessionRequest, context: Context
    ) -> checkout_pb2.CheckoutSession:
        row, client_secret = await self._sessions().create(request.checkout_session)
        message = checkout_session_message(row)
        # Shown here only: the pipeline stores this answer without them.
        message.client_secret = client_secret
        message.url = self._backends.checkout.session_url(client_secret)
        return message

    async def GetCheckoutSession(
        self, request: checkout_pb2.GetCheckoutSessionRequest, context: Context
    ) -> checkout_pb2.CheckoutSession:
        row = await self._sessions().get(parse_id(request.id, "id"))
        return checkout_session_message(row)

    async def ListCheckoutSessions(
        self, request: checkout_pb2.ListCheckoutSessionsRequest, context: Context
    ) -> checkout_pb2.ListCheckoutSessionsResponse:
        where = CheckoutSessionFilter(
            checkout_link_id=_optional_id(request.checkout_link_id, "checkout_link_id"),
            status=_session_status(request.status),
            customer_id=_optional_id(request.customer_id, "customer_id"),
        )
        page = page_request(request.page_size, request.page_token, where)
        result = await self._sessions().list_page(where, page)
        return checkout_pb2.ListCheckoutSessionsResponse(
            checkout_sessions=[checkout_session_message(row) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def ExpireCheckoutSession(
        self, request: checkout_pb2.ExpireCheckoutSessionRequest, context: Context
    ) -> checkout_pb2.CheckoutSession:
        row = await self._sessions().expire(parse_id(request.id, "id"))
        return checkout_session_message(row)


class PublicCheckoutServicer(public_checkout_pb2_grpc.PublicCheckoutServiceServicer):
    """Anonymous calls: each acts in the organization its link id or client
    secret belongs to, on the call's own connection (and transaction)."""

    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    async def _work(self, organization_id: uuid.UUID) -> OrganizationWork:
        scope = current_scope()
        return OrganizationWork(
            await scope.connection(), organization_id, scope.clock, kit_tables, SOURCE
        )

    async def _sessions(self, organization_id: uuid.UUID) -> CheckoutSessions:
        b = self._backends
        return CheckoutSessions(
            _subscriptions(b, await self._work(organization_id)), b.catalog, b.checkout
        )

    async def _key(self, client_secret: str) -> SessionKey:
        connection = await current_scope().connection()
        return await PublicCheckout(CheckoutSecrets(OnConnection(connection))).session_key(
            client_secret
        )

    async def _confirmation(
        self, client_secret: str
    ) -> tuple[CheckoutConfirmation, CheckoutSessions, uuid.UUID]:
        key = await self._key(client_secret)
        confirmation, sessions = await self._confirmation_of(key.organization_id)
        return confirmation, sessions, key.id

    async def _confirmation_of(
        self, organization_id: uuid.UUID
    ) -> tuple[CheckoutConfirmation, CheckoutSessions]:
        b = self._backends
        subscriptions = _subscriptions(b, await self._work(organization_id))
        sessions = CheckoutSessions(subscriptions, b.catalog, b.checkout)
        return CheckoutConfirmation(sessions, subscriptions, b.payments, b.buyers), sessions

    async def _message(
        self,
        confirmation: CheckoutConfirmation,
        sessions: CheckoutSessions,
        row: CheckoutSession,
        setup_intent_client_secret: str = "",
    ) -> public_checkout_pb2.PublicCheckoutSession:
        products = await sessions.public_products(list(row.product_ids))
        payment = None
        status = CheckoutSessionStatus(row.status)
        if status is CheckoutSessionStatus.OPEN:
            payment = self._backends.checkout.payment(setup_intent_client_secret)
        elif status is CheckoutSessionStatus.PROCESSING:
            action = await confirmation.authentication_secret(row)
            if action:
                payment = self._backends.checkout.payment(payment_intent_client_secret=action)
        return public_session_message(row, products, public_success_url(row), payment)

    async def GetPublicCheckoutLink(
        self, request: public_checkout_pb2.GetPublicCheckoutLinkRequest, context: Context
    ) -> public_checkout_pb2.PublicCheckoutLink:
        sessions = await self._sessions(organization_of(request.organization))
        link = await sessions.public_link(parse_id(request.id, "id"))
        return public_link_message(link, await sessions.public_products(list(link.product_ids)))

    async def CreatePublicCheckoutSession(
        self, request: public_checkout_pb2.CreatePublicCheckoutSessionRequest, context: Context
    ) -> public_checkout_pb2.PublicCheckoutSession:
        organization_id = organization_of(request.organization)
        self._backends.open_limits.admit(current_scope().client_address, organization_id)
        confirmation, sessions = await self._confirmation_of(organization_id)
        row, client_secret = await sessions.open_from_link(
            parse_id(request.checkout_link_id, "checkout_link_id"), request.checkout_session
        )
        message = await self._message(confirmation, sessions, row)
        # Shown here only: the pipeline stores this answer without it.
        message.client_secret = client_secret
        return message

    async def GetPublicCheckoutSession(
        self, request: public_checkout_pb2.GetPublicCheckoutSessionRequest, context: Context
    ) -> public_checkout_pb2.PublicCheckoutSession:
        confirmation, sessions, session_id = await self._confirmation(request.client_secret)
        return await self._message(confirmation, sessions, await sessions.get(session_id))

    async def UpdatePublicCheckoutSession(
        self, request: public_checkout_pb2.UpdatePublicCheckoutSessionRequest, context: Context
    ) -> public_checkout_pb2.PublicCheckoutSession:
        confirmation, sessions, session_id = await self._confirmation(request.client_secret)
        row = await sessions.update_public(
            session_id, request.checkout_session, request.update_mask
        )
        return await self._message(confirmation, sessions, row)

    async def StartPublicCheckoutPayment(
        self, request: public_checkout_pb2.StartPublicCheckoutPaymentRequest, context: Context
    ) -> public_checkout_pb2.PublicCheckoutSession:
        self._backends.checkout.require_stripe_js()
        self._backends.open_limits.admit_payment(current_scope().client_address)
        confirmation, sessions, session_id = await self._confirmation(request.client_secret)
        row, intent_secret = await confirmation.start_payment(session_id)
        return await self._message(confirmation, sessions, row, intent_secret)

    async def ConfirmPublicCheckoutSession(
        self, request: public_checkout_pb2.ConfirmPublicCheckoutSessionRequest, context: Context
    ) -> public_checkout_pb2.PublicCheckoutSession:
        self._backends.open_limits.admit_payment(current_scope().client_address)
        confirmation, sessions, session_id = await self._confirmation(request.client_secret)
        row = await confirmation.confirm(session_id)
        self._backends.wake()
        return await self._message(confirmation, sessions, row)


class CustomerPortalServicer(customer_portal_pb2_grpc.CustomerPortalServiceServicer):
    """The portal's subscriptions and orders, for the customer session's
    customer (the kit puts it in the call's scope; no request names one)."""

    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    def _subscriptions(self) -> PortalSubscriptions:
        scope = current_scope()
        return PortalSubscriptions(_subscriptions(self._backends, scope), scope.portal_customer_id)

    def _orders(self) -> tuple[PortalOrders, Billing]:
        scope = current_scope()
        billing = Billing(scope, self._backends.real_clock)
        return PortalOrders(billing, scope.portal_customer_id), billing

    async def _message(
        self, portal: PortalSubscriptions, rows: list[Subscription]
    ) -> list[customer_portal_pb2.PortalSubscription]:
        return await portal.messages(rows)

    async def _one(
        self, portal: PortalSubscriptions, row: Subscription
    ) -> customer_portal_pb2.PortalSubscription:
        return await portal.message(row)

    async def ListPortalSubscriptions(
        self, request: customer_portal_pb2.ListPortalSubscriptionsRequest, context: Context
    ) -> customer_portal_pb2.ListPortalSubscriptionsResponse:
        portal = self._subscriptions()
        result = await portal.page(request.page_size, request.page_token)
        return customer_portal_pb2.ListPortalSubscriptionsResponse(
            subscriptions=await self._message(portal, list(result.items)),
            next_page_token=result.next_page_token,
        )

    async def GetPortalSubscription(
        self, request: customer_portal_pb2.GetPortalSubscriptionRequest, context: Context
    ) -> customer_portal_pb2.PortalSubscription:
        portal = self._subscriptions()
        return await self._one(portal, await portal.get(parse_id(request.id, "id")))

    async def CancelPortalSubscription(
        self, request: customer_portal_pb2.CancelPortalSubscriptionRequest, context: Context
    ) -> customer_portal_pb2.PortalSubscription:
        portal = self._subscriptions()
        row = await portal.cancel(parse_id(request.id, "id"), request.comment)
        return await self._one(portal, row)

    async def UncancelPortalSubscription(
        self, request: customer_portal_pb2.UncancelPortalSubscriptionRequest, context: Context
    ) -> customer_portal_pb2.PortalSubscription:
        portal = self._subscriptions()
        return await self._one(portal, await portal.uncancel(parse_id(request.id, "id")))

    async def PreviewPortalSubscriptionChange(
        self, request: customer_portal_pb2.PreviewPortalSubscriptionChangeRequest, context: Context
    ) -> customer_portal_pb2.PortalSubscriptionChangePreview:
        preview = await self._subscriptions().preview_change(
            parse_id(request.id, "id"), request.price_id, request.seats
        )
        return change_preview_message(preview)

    async def ChangePortalSubscription(
        self, request: customer_portal_pb2.ChangePortalSubscriptionRequest, context: Context
    ) -> customer_portal_pb2.PortalSubscription:
        portal = self._subscriptions()
        row = await portal.change(parse_id(request.id, "id"), request.price_id, request.seats)
        self._backends.wake()
        return await self._one(portal, row)

    async def ListPortalOrders(
        self, request: customer_portal_pb2.ListPortalOrdersRequest, context: Context
    ) -> customer_portal_pb2.ListPortalOrdersResponse:
        orders, _ = self._orders()
        result = await orders.page(
            _optional_id(request.subscription_id, "subscription_id"),
            request.page_size,
            request.page_token,
        )
        lines = await orders.lines_of(result.items)
        return customer_portal_pb2.ListPortalOrdersResponse(
            orders=[portal_order_message(row, lines[row.id]) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def GetPortalOrder(
        self, request: customer_portal_pb2.GetPortalOrderRequest, context: Context
    ) -> customer_portal_pb2.PortalOrder:
        orders, _ = self._orders()
        row = await orders.get(parse_id(request.id, "id"))
        return portal_order_message(row, (await orders.lines_of([row]))[row.id])

    async def GetPortalOrderInvoice(
        self, request: customer_portal_pb2.GetPortalOrderInvoiceRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        orders, billing = self._orders()
        b = self._backends
        invoices = Invoices(orders, billing, b.organizations, b.directory)
        document = await invoices.document(parse_id(request.id, "id"))
        return httpbody_pb2.HttpBody(
            content_type="application/pdf", data=await invoice_pdf(document, b.invoice_fonts)
        )
