"""Assembles the subscriptions service (the billing engine) from the kit's
parts: its servicers (checkout's and the customer portal's among them); the
read copies of customers and the catalog and the consumer of payment
results; and its workers — the scheduler (renewals, trial ends, dunning
retries), the usage finalizer, the charger, the test clock watcher and the
checkout expiry sweep."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

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
from billingos_kit.server import AddServicer, ServiceApp
from billingos_kit.settings import ServiceSettings
from billingos_subscriptions import states
from billingos_subscriptions.charger import Charger
from billingos_subscriptions.checkout import CheckoutSettings
from billingos_subscriptions.checkout_expiry import CheckoutExpiry
from billingos_subscriptions.checkout_limits import CheckoutOpenLimits
from billingos_subscriptions.clients import (
    BuyersClient,
    CatalogClient,
    MembersClient,
    MeteringClient,
    OrganizationsClient,
    PaymentsClient,
)
from billingos_subscriptions.consumers import catalog_copy, customers_copy, payment_results
from billingos_subscriptions.invoice_fonts import InvoiceFonts
from billingos_subscriptions.models import kit_tables
from billingos_subscriptions.scheduler import Scheduler
from billingos_subscriptions.servicer import (
    Backends,
    CheckoutLinkServicer,
    CheckoutSessionServicer,
    CustomerPortalServicer,
    OrderServicer,
    PublicCheckoutServicer,
    SeatServicer,
    SubscriptionServicer,
    TestClockServicer,
)
from billingos_subscriptions.settings import SubscriptionsSettings
from billingos_subscriptions.testclocks import ClockWatcher
from billingos_subscriptions.usage_billing import UsageFinalizer

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> ServiceApp:
    assert isinstance(settings, SubscriptionsSettings)
    app = ServiceApp(settings, kit_tables, clock=clock)
    token = settings.service_token.get_secret_value()
    catalog = CatalogClient(settings.catalog_address, token)
    payments = PaymentsClient(settings.payments_address, token)
    metering = MeteringClient(settings.metering_address, token)
    customers_address = settings.customers_address or settings.key_check_address
    directory = CustomerDirectory(customers_address, token)
    members = MembersClient(customers_address, token)
    buyers = BuyersClient(customers_address, token)
    organizations = OrganizationsClient(customers_address, token)
    poll = settings.worker_poll_seconds
    charger = Charger(
        app.database,
        kit_tables,
        app.clock,
        payments,
        batch_size=settings.scheduler_batch_size,
        poll_seconds=poll,
        concurrency=settings.charge_concurrency,
    )
    finalizer = UsageFinalizer(
        app.database,
        kit_tables,
        app.clock,
        metering,
        batch_size=settings.scheduler_batch_size,
        poll_seconds=poll,
    )

    def woke() -> None:
        charger.wake.set()
        finalizer.wake.set()

    scheduler = Scheduler(
        app.database,
        kit_tables,
        app.clock,
        catalog,
        directory,
        batch_size=settings.scheduler_batch_size,
        poll_seconds=poll,
        on_work=woke,
        rounds_at_once=settings.scheduler_rounds_at_once,
        payments=payments,
    )

    def wake_all() -> None:
        scheduler.wake.set()
        woke()

    checkout = CheckoutSettings(
        public_base_url=settings.public_base_url,
        loopback_http_allowed=settings.checkout_loopback_http_allowed,
        stripe_publishable_key=settings.stripe_publishable_key,
        stripe_js_url=settings.stripe_js_url,
    )
    backends = Backends(
        catalog,
        directory,
        members,
        buyers,
        payments,
        app.clock,
        wake_all,
        checkout,
        CheckoutOpenLimits(
            app.clock,
            per_address_per_minute=settings.checkout_opens_per_minute_per_address,
            per_organization_per_minute=settings.checkout_opens_per_minute_per_organization,
            payment_calls_per_address_per_minute=(
                settings.checkout_payment_calls_per_minute_per_address
            ),
        ),
        organizations,
        InvoiceFonts(settings.invoice_font, settings.invoice_bold_font),
    )
    services: list[tuple[AddServicer, Any, ServiceDescriptor]] = [
        (
            subscriptions_pb2_grpc.add_SubscriptionServiceServicer_to_server,
            SubscriptionServicer(backends),
            subscriptions_pb2.DESCRIPTOR.services_by_name["SubscriptionService"],
        ),
        (
            orders_pb2_grpc.add_OrderServiceServicer_to_server,
            OrderServicer(backends),
            orders_pb2.DESCRIPTOR.services_by_name["OrderService"],
        ),
        (
            seats_pb2_grpc.add_SubscriptionSeatServiceServicer_to_server,
            SeatServicer(backends),
            seats_pb2.DESCRIPTOR.services_by_name["SubscriptionSeatService"],
        ),
        (
            test_clocks_pb2_grpc.add_TestClockServiceServicer_to_server,
            TestClockServicer(backends),
            test_clocks_pb2.DESCRIPTOR.services_by_name["TestClockService"],
        ),
        (
            checkout_pb2_grpc.add_CheckoutLinkServiceServicer_to_server,
            CheckoutLinkServicer(backends),
            checkout_pb2.DESCRIPTOR.services_by_name["CheckoutLinkService"],
        ),
        (
            checkout_pb2_grpc.add_CheckoutSessionServiceServicer_to_server,
            CheckoutSessionServicer(backends),
            checkout_pb2.DESCRIPTOR.services_by_name["CheckoutSessionService"],
        ),
        (
            public_checkout_pb2_grpc.add_PublicCheckoutServiceServicer_to_server,
            PublicCheckoutServicer(backends),
            public_checkout_pb2.DESCRIPTOR.services_by_name["PublicCheckoutService"],
        ),
        (
            customer_portal_pb2_grpc.add_CustomerPortalServiceServicer_to_server,
            CustomerPortalServicer(backends),
            customer_portal_pb2.DESCRIPTOR.services_by_name["CustomerPortalService"],
        ),
    ]
    for add_to_server, servicer, descriptor in services:
        app.add_service(add_to_server, servicer, descriptor)
    app.add_consumer(customers_copy(app.database, app.clock))
    app.add_consumer(catalog_copy(app.database, app.clock))
    app.add_consumer(payment_results(app.database, app.clock, wake_all))
    app.add_worker("scheduler", scheduler.run)
    app.add_worker("usage-finalizer", finalizer.run)
    app.add_worker("charger", charger.run)
    app.add_worker(
        "test-clocks", ClockWatcher(app.database, kit_tables, app.clock, poll_seconds=poll).run
    )
    expiry = CheckoutExpiry(
        app.database,
        kit_tables,
        app.clock,
        batch_size=settings.scheduler_batch_size,
        poll_seconds=settings.checkout_expiry_poll_seconds,
        retention=dt.timedelta(days=settings.checkout_retention_days),
        payments=payments,
    )
    app.add_worker("checkout-expiry", expiry.run)
    for client in (catalog, payments, metering, directory, members, buyers, organizations):
        app.add_closer(client.close)
    for source in states.state_sources(checkout):
        app.add_state_source(source)
    return app
