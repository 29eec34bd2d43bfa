"""gRPC adapters: request message in, domain call, response message out. No
SQL and no rules here; the kit's pipeline has already checked the caller,
resolved the organization and opened the unit of work."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

import grpc

from billingos.payments.v1 import (
    connect_pb2,
    connect_pb2_grpc,
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    payment_methods_pb2,
    payment_methods_pb2_grpc,
    payments_pb2,
    payments_pb2_grpc,
    webhooks_pb2,
    webhooks_pb2_grpc,
)
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.grpc.scope import current_scope
from billingos_kit.ids import parse_id
from billingos_kit.pagination import page_request
from billingos_kit.protoconv import timestamp
from billingos_payments.connect import ConnectAccounts, expires
from billingos_payments.customer_portal import PortalPaymentMethods, StripeJs
from billingos_payments.messages import (
    account_draft,
    charge_draft,
    connect_account_message,
    optional_id,
    payment_message,
    payment_method_message,
    payment_settings_message,
    portal_payment_method_message,
    portal_setup_intent_message,
    refund_draft,
    refund_message,
    setup_intent_message,
)
from billingos_payments.payment_methods import PaymentMethods
from billingos_payments.payments import Charges, Refunds
from billingos_payments.repository import PaymentFilter, PaymentMethodFilter, RefundFilter
from billingos_payments.signatures import SIGNATURE_HEADER
from billingos_payments.stripe_gateway import StripeGateway
from billingos_payments.webhooks import receive

Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class Backends:
    """What the servicers need beyond the call: the door to Stripe and the
    customers service."""

    gateway: StripeGateway
    directory: CustomerDirectory


class PaymentMethodServicer(payment_methods_pb2_grpc.PaymentMethodServiceServicer):
    def __init__(self, stripe: Backends) -> None:
        self._stripe = stripe

    def _service(self) -> PaymentMethods:
        return PaymentMethods(current_scope(), self._stripe.gateway, self._stripe.directory)

    async def CreateSetupIntent(
        self, request: payment_methods_pb2.CreateSetupIntentRequest, context: Context
    ) -> payment_methods_pb2.SetupIntent:
        customer_id = parse_id(request.setup_intent.customer_id, "setup_intent.customer_id")
        return setup_intent_message(await self._service().create_setup_intent(customer_id))

    async def GetSetupIntent(
        self, request: payment_methods_pb2.GetSetupIntentRequest, context: Context
    ) -> payment_methods_pb2.SetupIntent:
        return setup_intent_message(
            await self._service().get_setup_intent(parse_id(request.id, "id"))
        )

    async def SyncSetupIntent(
        self, request: payment_methods_pb2.SyncSetupIntentRequest, context: Context
    ) -> payment_methods_pb2.SetupIntent:
        return setup_intent_message(
            await self._service().sync_setup_intent(parse_id(request.id, "id"))
        )

    async def ListPaymentMethods(
        self, request: payment_methods_pb2.ListPaymentMethodsRequest, context: Context
    ) -> payment_methods_pb2.ListPaymentMethodsResponse:
        where = PaymentMethodFilter(
            customer_id=parse_id(request.customer_id, "customer_id"),
            attached=None if request.show_detached else True,
        )
        page = page_request(request.page_size, request.page_token, where)
        result = await self._service().list_page(where, page)
        return payment_methods_pb2.ListPaymentMethodsResponse(
            payment_methods=[payment_method_message(row) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def GetPaymentMethod(
        self, request: payment_methods_pb2.GetPaymentMethodRequest, context: Context
    ) -> payment_methods_pb2.PaymentMethod:
        return payment_method_message(await self._service().get(parse_id(request.id, "id")))

    async def SetDefaultPaymentMethod(
        self, request: payment_methods_pb2.SetDefaultPaymentMethodRequest, context: Context
    ) -> payment_methods_pb2.PaymentMethod:
        return payment_method_message(await self._service().set_default(parse_id(request.id, "id")))

    async def DetachPaymentMethod(
        self, request: payment_methods_pb2.DetachPaymentMethodRequest, context: Context
    ) -> payment_methods_pb2.PaymentMethod:
        return payment_method_message(await self._service().detach(parse_id(request.id, "id")))


class CustomerPortalServicer(customer_portal_pb2_grpc.CustomerPortalServiceServicer):
    """The session's customer's cards (the kit puts the customer in the
    call's scope; no request can name another)."""

    def __init__(self, stripe: Backends, stripe_js: StripeJs) -> None:
        self._stripe = stripe
        self._stripe_js = stripe_js

    def _service(self) -> PortalPaymentMethods:
        return PortalPaymentMethods(
            current_scope(), self._stripe.gateway, self._stripe.directory, self._stripe_js
        )

    async def ListPortalPaymentMethods(
        self, request: customer_portal_pb2.ListPortalPaymentMethodsRequest, context: Context
    ) -> customer_portal_pb2.ListPortalPaymentMethodsResponse:
        result = await self._service().list_page(request.page_size, request.page_token)
        return customer_portal_pb2.ListPortalPaymentMethodsResponse(
            payment_methods=[portal_payment_method_message(row) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def CreatePortalSetupIntent(
        self, request: customer_portal_pb2.CreatePortalSetupIntentRequest, context: Context
    ) -> customer_portal_pb2.PortalSetupIntent:
        row = await self._service().create_setup_intent()
        return portal_setup_intent_message(row, self._stripe_js)

    async def SyncPortalSetupIntent(
        self, request: customer_portal_pb2.SyncPortalSetupIntentRequest, context: Context
    ) -> customer_portal_pb2.PortalSetupIntent:
        row = await self._service().sync_setup_intent(parse_id(request.id, "id"))
        return portal_setup_intent_message(row, self._stripe_js)

    async def SetDefaultPortalPaymentMethod(
        self, request: customer_portal_pb2.SetDefaultPortalPaymentMethodRequest, context: Context
    ) -> customer_portal_pb2.PortalPaymentMethod:
        row = await self._service().set_default(parse_id(request.id, "id"))
        return portal_payment_method_message(row)

    async def DetachPortalPaymentMethod(
        self, request: customer_portal_pb2.DetachPortalPaymentMethodRequest, context: Context
    ) -> customer_portal_pb2.PortalPaymentMethod:
        row = await self._service().detach(parse_id(request.id, "id"))
        return portal_payment_method_message(row)


class PaymentServicer(payments_pb2_grpc.PaymentServiceServicer):
    def __init__(self, stripe: Backends) -> None:
        self._stripe = stripe

    async def GetPayment(
        self, request: payments_pb2.GetPaymentRequest, context: Context
    ) -> payments_pb2.Payment:
        charges = Charges(current_scope(), self._stripe.gateway, self._stripe.directory)
        return payment_message(await charges.get(parse_id(request.id, "id")))

    async def ListPayments(
        self, request: payments_pb2.ListPaymentsRequest, context: Context
    ) -> payments_pb2.ListPaymentsResponse:
        where = PaymentFilter(
            customer_id=optional_id(request.customer_id, "customer_id"),
            order_id=optional_id(request.order_id, "order_id"),
        )
        page = page_request(request.page_size, request.page_token, where)
        charges = Charges(current_scope(), self._stripe.gateway, self._stripe.directory)
        result = await charges.list_page(where, page)
        return payments_pb2.ListPaymentsResponse(
            payments=[payment_message(row) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def CreateRefund(
        self, request: payments_pb2.CreateRefundRequest, context: Context
    ) -> payments_pb2.Refund:
        scope = current_scope()
        refunds = Refunds(scope, self._stripe.gateway)
        return refund_message(await refunds.create(scope, refund_draft(request.refund)))

    async def GetRefund(
        self, request: payments_pb2.GetRefundRequest, context: Context
    ) -> payments_pb2.Refund:
        refunds = Refunds(current_scope(), self._stripe.gateway)
        return refund_message(await refunds.get(parse_id(request.id, "id")))

    async def ListRefunds(
        self, request: payments_pb2.ListRefundsRequest, context: Context
    ) -> payments_pb2.ListRefundsResponse:
        where = RefundFilter(payment_id=parse_id(request.payment_id, "payment_id"))
        page = page_request(request.page_size, request.page_token, where)
        result = await Refunds(current_scope(), self._stripe.gateway).list_page(where, page)
        return payments_pb2.ListRefundsResponse(
            refunds=[refund_message(row) for row in result.items],
            next_page_token=result.next_page_token,
        )


class PaymentAdminServicer(payments_pb2_grpc.PaymentAdminServiceServicer):
    def __init__(self, stripe: Backends) -> None:
        self._stripe = stripe

    async def ChargeOrder(
        self, request: payments_pb2.ChargeOrderRequest, context: Context
    ) -> payments_pb2.Payment:
        scope = current_scope()
        charges = Charges(scope, self._stripe.gateway, self._stripe.directory)
        return payment_message(await charges.charge(scope, charge_draft(request)))

    async def CancelOrderPayment(
        self, request: payments_pb2.CancelOrderPaymentRequest, context: Context
    ) -> payments_pb2.Payment:
        scope = current_scope()
        charges = Charges(scope, self._stripe.gateway, self._stripe.directory)
        order_id = parse_id(request.order_id, "order_id")
        return payment_message(await charges.cancel(order_id, request.attempt_number))

    async def UpdatePaymentSettings(
        self, request: payments_pb2.UpdatePaymentSettingsRequest, context: Context
    ) -> payments_pb2.PaymentSettings:
        accounts = ConnectAccounts(current_scope(), self._stripe.gateway)
        settings = await accounts.update_settings(request.settings.application_fee_basis_points)
        return payment_settings_message(settings)


class ConnectAccountServicer(connect_pb2_grpc.ConnectAccountServiceServicer):
    def __init__(self, stripe: Backends) -> None:
        self._stripe = stripe

    def _service(self) -> ConnectAccounts:
        return ConnectAccounts(current_scope(), self._stripe.gateway)

    async def CreateConnectAccount(
        self, request: connect_pb2.CreateConnectAccountRequest, context: Context
    ) -> connect_pb2.ConnectAccount:
        service = self._service()
        account = await service.create(account_draft(request.connect_account))
        return connect_account_message(account, await service.fee_basis_points())

    async def GetConnectAccount(
        self, request: connect_pb2.GetConnectAccountRequest, context: Context
    ) -> connect_pb2.ConnectAccount:
        service = self._service()
        return connect_account_message(await service.get(), await service.fee_basis_points())

    async def CreateOnboardingLink(
        self, request: connect_pb2.CreateOnboardingLinkRequest, context: Context
    ) -> connect_pb2.AccountLink:
        link = await self._service().onboarding_link(request.return_url, request.refresh_url)
        return connect_pb2.AccountLink(
            url=str(link.get("url") or ""), expire_time=timestamp(expires(link))
        )

    async def CreateDashboardLink(
        self, request: connect_pb2.CreateDashboardLinkRequest, context: Context
    ) -> connect_pb2.AccountLink:
        link = await self._service().dashboard_link()
        return connect_pb2.AccountLink(url=str(link.get("url") or ""))


class StripeWebhookServicer(webhooks_pb2_grpc.StripeWebhookServiceServicer):
    def __init__(self, secret: str, tolerance: dt.timedelta, wake: asyncio.Event) -> None:
        self._secret = secret
        self._tolerance = tolerance
        self._wake = wake

    async def ReceiveStripeWebhook(
        self, request: webhooks_pb2.ReceiveStripeWebhookRequest, context: Context
    ) -> webhooks_pb2.ReceiveStripeWebhookResponse:
        metadata = {key: value for key, value in context.invocation_metadata() or ()}
        scope = current_scope()
        received = await receive(
            await scope.connection(),
            request.body.data,
            str(metadata.get(SIGNATURE_HEADER, "")),
            secret=self._secret,
            clock=scope.clock,
            tolerance=self._tolerance,
        )
        self._wake.set()  # processed after this call commits; polled otherwise
        return webhooks_pb2.ReceiveStripeWebhookResponse(
            event_id=received.event_id, duplicate=received.duplicate
        )
