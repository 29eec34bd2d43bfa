"""Assembles the payments service from the kit's parts: its servicers (the
customer portal's cards among them), the consumer of customers' states, the
worker that processes stored Stripe webhooks and the sweep of refunds Stripe
never answered for. The Stripe gateway is the one door to Stripe."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

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
from billingos_kit.clock import Clock
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.server import AddServicer, ServiceApp
from billingos_kit.settings import ServiceSettings
from billingos_payments import states
from billingos_payments.consumers import customer_copy
from billingos_payments.customer_portal import StripeJs
from billingos_payments.models import kit_tables
from billingos_payments.refund_sweep import UnsentRefundSweep
from billingos_payments.servicer import (
    Backends,
    ConnectAccountServicer,
    CustomerPortalServicer,
    PaymentAdminServicer,
    PaymentMethodServicer,
    PaymentServicer,
    StripeWebhookServicer,
)
from billingos_payments.settings import PaymentsSettings
from billingos_payments.stripe_gateway import StripeGateway
from billingos_payments.webhooks import WebhookProcessor

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> ServiceApp:
    assert isinstance(settings, PaymentsSettings)
    app = ServiceApp(settings, kit_tables, clock=clock)
    gateway = StripeGateway(
        settings.stripe_secret_key.get_secret_value(),
        settings.stripe_api_base,
        timeout_seconds=settings.stripe_timeout_seconds,
    )
    directory = CustomerDirectory(
        settings.customers_address or settings.key_check_address,
        settings.service_token.get_secret_value(),
    )
    stripe = Backends(gateway, directory)
    processor = WebhookProcessor(
        app.database,
        kit_tables,
        app.clock,
        gateway,
        directory,
        batch_size=settings.webhook_batch_size,
    )
    services: list[tuple[AddServicer, Any, ServiceDescriptor]] = [
        (
            payment_methods_pb2_grpc.add_PaymentMethodServiceServicer_to_server,
            PaymentMethodServicer(stripe),
            payment_methods_pb2.DESCRIPTOR.services_by_name["PaymentMethodService"],
        ),
        (
            customer_portal_pb2_grpc.add_CustomerPortalServiceServicer_to_server,
            CustomerPortalServicer(
                stripe, StripeJs(settings.stripe_publishable_key, settings.stripe_js_url)
            ),
            customer_portal_pb2.DESCRIPTOR.services_by_name["CustomerPortalService"],
        ),
        (
            payments_pb2_grpc.add_PaymentServiceServicer_to_server,
            PaymentServicer(stripe),
            payments_pb2.DESCRIPTOR.services_by_name["PaymentService"],
        ),
        (
            payments_pb2_grpc.add_PaymentAdminServiceServicer_to_server,
            PaymentAdminServicer(stripe),
            payments_pb2.DESCRIPTOR.services_by_name["PaymentAdminService"],
        ),
        (
            connect_pb2_grpc.add_ConnectAccountServiceServicer_to_server,
            ConnectAccountServicer(stripe),
            connect_pb2.DESCRIPTOR.services_by_name["ConnectAccountService"],
        ),
        (
            webhooks_pb2_grpc.add_StripeWebhookServiceServicer_to_server,
            StripeWebhookServicer(
                settings.stripe_webhook_secret.get_secret_value(),
                dt.timedelta(seconds=settings.webhook_tolerance_seconds),
                processor.wake,
            ),
            webhooks_pb2.DESCRIPTOR.services_by_name["StripeWebhookService"],
        ),
    ]
    for add_to_server, servicer, descriptor in services:
        app.add_service(add_to_server, servicer, descriptor)
    app.add_consumer(customer_copy(app.database, app.clock, gateway, directory))
    app.add_worker("stripe-webhooks", processor.run)
    sweep = UnsentRefundSweep(
        app.database,
        kit_tables,
        app.clock,
        gateway,
        unsent_after=dt.timedelta(seconds=settings.refund_unsent_after_seconds),
        poll_seconds=settings.refund_sweep_seconds,
    )
    app.add_worker("unsent-refunds", sweep.run)
    app.add_closer(directory.close)
    for source in states.state_sources():
        app.add_state_source(source)
    return app
