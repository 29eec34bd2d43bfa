"""Assembles the entitlements service from the kit's parts: its servicers;
the read copies of customers and the catalog's products and the consumer of
the engine's subscriptions and orders, which grant and revoke."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from billingos.entitlements.v1 import (
    benefit_grants_pb2,
    benefit_grants_pb2_grpc,
    benefits_pb2,
    benefits_pb2_grpc,
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    customer_state_pb2,
    customer_state_pb2_grpc,
    entitlements_pb2,
    entitlements_pb2_grpc,
    license_keys_pb2,
    license_keys_pb2_grpc,
)
from billingos_entitlements import states
from billingos_entitlements.clients import MeteringClient
from billingos_entitlements.consumers import customers_copy, grant_sources, products_copy
from billingos_entitlements.credits import Crediter
from billingos_entitlements.entitlement_view import EntitlementView
from billingos_entitlements.models import kit_tables
from billingos_entitlements.servicer import (
    BenefitGrantServicer,
    BenefitServicer,
    CustomerPortalServicer,
    CustomerStateServicer,
    EntitlementServicer,
    LicenseKeyServicer,
)
from billingos_entitlements.settings import EntitlementsSettings
from billingos_kit.clock import Clock
from billingos_kit.server import AddServicer, ServiceApp
from billingos_kit.settings import ServiceSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> ServiceApp:
    assert isinstance(settings, EntitlementsSettings)
    app = ServiceApp(settings, kit_tables, clock=clock)
    view = EntitlementView(settings.max_view_staleness_seconds)
    metering = MeteringClient(settings.metering_address, settings.service_token.get_secret_value())
    app.add_closer(metering.close)
    services: list[tuple[AddServicer, Any, ServiceDescriptor]] = [
        (
            benefits_pb2_grpc.add_BenefitServiceServicer_to_server,
            BenefitServicer(metering),
            benefits_pb2.DESCRIPTOR.services_by_name["BenefitService"],
        ),
        (
            benefit_grants_pb2_grpc.add_BenefitGrantServiceServicer_to_server,
            BenefitGrantServicer(),
            benefit_grants_pb2.DESCRIPTOR.services_by_name["BenefitGrantService"],
        ),
        (
            entitlements_pb2_grpc.add_EntitlementServiceServicer_to_server,
            EntitlementServicer(view),
            entitlements_pb2.DESCRIPTOR.services_by_name["EntitlementService"],
        ),
        (
            customer_state_pb2_grpc.add_CustomerStateServiceServicer_to_server,
            CustomerStateServicer(view),
            customer_state_pb2.DESCRIPTOR.services_by_name["CustomerStateService"],
        ),
        (
            customer_portal_pb2_grpc.add_CustomerPortalServiceServicer_to_server,
            CustomerPortalServicer(),
            customer_portal_pb2.DESCRIPTOR.services_by_name["CustomerPortalService"],
        ),
        (
            license_keys_pb2_grpc.add_LicenseKeyServiceServicer_to_server,
            LicenseKeyServicer(),
            license_keys_pb2.DESCRIPTOR.services_by_name["LicenseKeyService"],
        ),
    ]
    for add_to_server, servicer, descriptor in services:
        app.add_service(add_to_server, servicer, descriptor)
    app.add_consumer(customers_copy(app.database, app.clock))
    app.add_consumer(products_copy(app.database, app.clock))
    app.add_consumer(grant_sources(app.database, app.clock))
    app.add_worker("entitlement-view", lambda stop: view.run(app.jetstream, stop))
    app.add_readiness(view.until_ready)
    if metering.configured:
        app.add_worker("crediter", Crediter(app.database, app.clock, metering).run)
    else:
        # Credits are still recorded, and sent once a process knows metering.
        log.warning("metering_address is not set: meter credits are recorded, not sent")
    for source in states.state_sources():
        app.add_state_source(source)
    return app
