"""Assembles the customers service from the kit's parts."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from billingos.customers.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    customer_sessions_pb2,
    customer_sessions_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    organizations_pb2,
    organizations_pb2_grpc,
    portal_sign_in_pb2,
    portal_sign_in_pb2_grpc,
    webhook_endpoints_pb2,
    webhook_endpoints_pb2_grpc,
)
from billingos_customers import states
from billingos_customers.api_keys import StoredKeys
from billingos_customers.consumers import stripe_customer_links
from billingos_customers.customer_sessions import StoredSessions
from billingos_customers.models import kit_tables
from billingos_customers.portal_sign_in import SignInLinks
from billingos_customers.portal_sign_in_limits import PortalSignInLimits
from billingos_customers.portal_sign_in_retention import PortalSignInRetention
from billingos_customers.servicer import (
    ApiKeyAdminServicer,
    ApiKeyServicer,
    CustomerPortalServicer,
    CustomerServicer,
    CustomerSessionAdminServicer,
    CustomerSessionServicer,
    OrganizationAdminServicer,
    OrganizationServicer,
    PublicOrganizationServicer,
    PublicPortalSignInServicer,
    WebhookEndpointServicer,
)
from billingos_customers.settings import CustomersSettings
from billingos_customers.test_clocks import TestClockDirectory
from billingos_customers.webhook_dispatch import webhook_dispatchers
from billingos_customers.webhook_retention import WebhookRetention
from billingos_customers.webhook_sender import WebhookSender
from billingos_kit.clock import Clock
from billingos_kit.db import Database
from billingos_kit.own_loop import Work, on_own_loop
from billingos_kit.server import ServiceApp
from billingos_kit.settings import ServiceSettings
from billingos_kit.throttle import FailedCheckThrottle

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The webhook workers' connections, as Postgres names them (pg_stat_activity).
WEBHOOKS_APPLICATION = "billingos-customers-webhooks"


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> ServiceApp:
    assert isinstance(settings, CustomersSettings)
    app = ServiceApp(settings, kit_tables, clock=clock)
    test_clocks = None
    if settings.subscriptions_address:
        test_clocks = TestClockDirectory(
            settings.subscriptions_address, settings.service_token.get_secret_value()
        )
        app.add_closer(test_clocks.close)
    app.add_service(
        customers_pb2_grpc.add_CustomerServiceServicer_to_server,
        CustomerServicer(test_clocks),
        customers_pb2.DESCRIPTOR.services_by_name["CustomerService"],
    )
    app.add_service(
        organizations_pb2_grpc.add_OrganizationServiceServicer_to_server,
        OrganizationServicer(),
        organizations_pb2.DESCRIPTOR.services_by_name["OrganizationService"],
    )
    app.add_service(
        organizations_pb2_grpc.add_PublicOrganizationServiceServicer_to_server,
        PublicOrganizationServicer(
            FailedCheckThrottle(app.clock, settings.public_organization_misses_per_minute)
        ),
        organizations_pb2.DESCRIPTOR.services_by_name["PublicOrganizationService"],
    )
    app.add_service(
        organizations_pb2_grpc.add_OrganizationAdminServiceServicer_to_server,
        OrganizationAdminServicer(),
        organizations_pb2.DESCRIPTOR.services_by_name["OrganizationAdminService"],
    )
    app.add_service(
        api_keys_pb2_grpc.add_ApiKeyServiceServicer_to_server,
        ApiKeyServicer(),
        api_keys_pb2.DESCRIPTOR.services_by_name["ApiKeyService"],
    )
    app.add_service(
        api_keys_pb2_grpc.add_ApiKeyAdminServiceServicer_to_server,
        ApiKeyAdminServicer(),
        api_keys_pb2.DESCRIPTOR.services_by_name["ApiKeyAdminService"],
    )
    app.add_service(
        customer_sessions_pb2_grpc.add_CustomerSessionServiceServicer_to_server,
        CustomerSessionServicer(),
        customer_sessions_pb2.DESCRIPTOR.services_by_name["CustomerSessionService"],
    )
    app.add_service(
        customer_sessions_pb2_grpc.add_CustomerSessionAdminServiceServicer_to_server,
        CustomerSessionAdminServicer(),
        customer_sessions_pb2.DESCRIPTOR.services_by_name["CustomerSessionAdminService"],
    )
    app.add_service(
        customer_portal_pb2_grpc.add_CustomerPortalServiceServicer_to_server,
        CustomerPortalServicer(),
        customer_portal_pb2.DESCRIPTOR.services_by_name["CustomerPortalService"],
    )
    app.add_service(
        portal_sign_in_pb2_grpc.add_PublicPortalSignInServiceServicer_to_server,
        PublicPortalSignInServicer(
            SignInLinks(settings.public_base_url, settings.portal_sign_in_log_links),
            PortalSignInLimits(
                app.clock,
                requests_per_address_per_minute=(
                    settings.portal_sign_in_requests_per_minute_per_address
                ),
                requests_per_email_per_minute=settings.portal_sign_in_requests_per_minute_per_email,
                exchanges_per_address_per_minute=(
                    settings.portal_sign_in_exchanges_per_minute_per_address
                ),
            ),
        ),
        portal_sign_in_pb2.DESCRIPTOR.services_by_name["PublicPortalSignInService"],
    )
    app.add_service(
        webhook_endpoints_pb2_grpc.add_WebhookEndpointServiceServicer_to_server,
        WebhookEndpointServicer(
            development_mode_allowed=settings.webhook_development_mode_allowed,
            max_endpoints=settings.webhook_max_endpoints_per_organization,
        ),
        webhook_endpoints_pb2.DESCRIPTOR.services_by_name["WebhookEndpointService"],
    )
    # The keys and sessions are ours: this process reads them itself; the
    # others ask us.
    app.use_key_lookup(StoredKeys(app.database))
    app.use_session_lookup(StoredSessions(app.database, app.clock))
    # The Stripe customer payments made for each customer.
    app.add_consumer(stripe_customer_links(app.database, app.clock))
    # Outbound webhooks: events become deliveries, deliveries are posted.
    if settings.webhook_dispatch_enabled:
        for dispatcher in webhook_dispatchers(app.database, app.clock):
            app.add_consumer(dispatcher)
    if settings.webhook_sender_enabled:
        webhooks = on_own_loop("customers-webhooks", _webhooks(settings, app))
        app.add_worker("webhook-sender", webhooks)
    retention = PortalSignInRetention(
        app.database,
        app.clock,
        keep_for=dt.timedelta(days=settings.portal_sign_in_retention_days),
    )
    app.add_worker("portal-sign-in-retention", retention.run)
    for source in states.state_sources():
        app.add_state_source(source)
    return app


def _webhooks(settings: CustomersSettings, app: ServiceApp) -> Work:
    """The sender and the retention job, for a loop of their own: a receiver
    that answers slowly, or a batch of signatures, never delays the API's
    key checks on the main loop. Their own pool too (a pool is bound to the
    loop that made it)."""

    async def run(stop: asyncio.Event) -> None:
        database = Database(
            settings.database_url,
            pool_size=settings.webhook_pool_size,
            application_name=WEBHOOKS_APPLICATION,
        )
        sender = WebhookSender(
            database,
            kit_tables,
            app.clock,
            timeout_seconds=settings.webhook_timeout_seconds,
            batch_size=settings.webhook_batch_size,
            poll_seconds=settings.webhook_poll_seconds,
            development_mode_allowed=settings.webhook_development_mode_allowed,
        )
        retention = WebhookRetention(
            database,
            app.clock,
            keep_for=dt.timedelta(days=settings.webhook_delivery_retention_days),
        )
        try:
            await asyncio.gather(sender.run(stop), retention.run(stop))
        finally:
            await database.dispose()

    return run
