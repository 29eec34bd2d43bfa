"""Assembles the customers service from the kit's parts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc

from billingos.customers.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    organizations_pb2,
    organizations_pb2_grpc,
)
from billingos_customers import states
from billingos_customers.authz import ApiKeyAuthorizer, RejectedKeyCache, VerifiedKeyCache
from billingos_customers.models import kit_tables
from billingos_customers.servicer import (
    ApiKeyServicer,
    CustomerServicer,
    OrganizationAdminServicer,
    OrganizationServicer,
)
from billingos_customers.settings import CustomersSettings
from billingos_customers.throttle import FailedCheckThrottle
from billingos_kit.clock import Clock
from billingos_kit.server import ServiceApp
from billingos_kit.settings import ServiceSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> ServiceApp:
    assert isinstance(settings, CustomersSettings)
    app = ServiceApp(settings, kit_tables, clock=clock)
    app.add_service(
        customers_pb2_grpc.add_CustomerServiceServicer_to_server,
        CustomerServicer(),
        customers_pb2.DESCRIPTOR.services_by_name["CustomerService"],
    )
    app.add_service(
        organizations_pb2_grpc.add_OrganizationServiceServicer_to_server,
        OrganizationServicer(),
        organizations_pb2.DESCRIPTOR.services_by_name["OrganizationService"],
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
    cache_time = dt.timedelta(seconds=settings.api_key_cache_seconds)
    app.add_gateway_hook(
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server,
        ApiKeyAuthorizer(
            app.database,
            VerifiedKeyCache(app.clock, cache_time),
            RejectedKeyCache(app.clock, cache_time),
            FailedCheckThrottle(app.clock, settings.failed_key_checks_per_minute),
        ),
        external_auth_pb2.DESCRIPTOR.services_by_name["Authorization"],
    )
    for source in states.state_sources():
        app.add_state_source(source)
    return app
