"""Assembles the catalog service from the kit's parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from billingos.catalog.v1 import (
    discounts_pb2,
    discounts_pb2_grpc,
    products_pb2,
    products_pb2_grpc,
    promotion_codes_pb2,
    promotion_codes_pb2_grpc,
    public_pb2,
    public_pb2_grpc,
    purchases_pb2,
    purchases_pb2_grpc,
    taxes_pb2,
    taxes_pb2_grpc,
)
from billingos_catalog import states
from billingos_catalog.consumers import (
    abandoned_purchases,
    benefit_copy,
    customer_copy,
    organization_copy,
)
from billingos_catalog.models import kit_tables
from billingos_catalog.servicer import (
    DiscountServicer,
    PriceServicer,
    ProductServicer,
    PromotionCodeServicer,
    PublicCatalogServicer,
    PurchaseAdminServicer,
    TaxServicer,
)
from billingos_catalog.settings import CatalogSettings
from billingos_kit.clock import Clock
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.server import AddServicer, ServiceApp
from billingos_kit.settings import ServiceSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> ServiceApp:
    assert isinstance(settings, CatalogSettings)
    app = ServiceApp(settings, kit_tables, clock=clock)
    directory = CustomerDirectory(
        settings.customers_address or settings.key_check_address,
        settings.service_token.get_secret_value(),
    )
    services: list[tuple[AddServicer, Any, ServiceDescriptor]] = [
        (
            products_pb2_grpc.add_ProductServiceServicer_to_server,
            ProductServicer(),
            products_pb2.DESCRIPTOR.services_by_name["ProductService"],
        ),
        (
            products_pb2_grpc.add_PriceServiceServicer_to_server,
            PriceServicer(),
            products_pb2.DESCRIPTOR.services_by_name["PriceService"],
        ),
        (
            discounts_pb2_grpc.add_DiscountServiceServicer_to_server,
            DiscountServicer(directory),
            discounts_pb2.DESCRIPTOR.services_by_name["DiscountService"],
        ),
        (
            promotion_codes_pb2_grpc.add_PromotionCodeServiceServicer_to_server,
            PromotionCodeServicer(),
            promotion_codes_pb2.DESCRIPTOR.services_by_name["PromotionCodeService"],
        ),
        (
            purchases_pb2_grpc.add_PurchaseAdminServiceServicer_to_server,
            PurchaseAdminServicer(),
            purchases_pb2.DESCRIPTOR.services_by_name["PurchaseAdminService"],
        ),
        (
            taxes_pb2_grpc.add_TaxServiceServicer_to_server,
            TaxServicer(),
            taxes_pb2.DESCRIPTOR.services_by_name["TaxService"],
        ),
        (
            public_pb2_grpc.add_PublicCatalogServiceServicer_to_server,
            PublicCatalogServicer(settings.public_cache_seconds),
            public_pb2.DESCRIPTOR.services_by_name["PublicCatalogService"],
        ),
    ]
    for add_to_server, servicer, descriptor in services:
        app.add_service(add_to_server, servicer, descriptor)
    # Read copies of the customers context, from its latest-state stream.
    app.add_consumer(organization_copy(app.database, app.clock))
    app.add_consumer(customer_copy(app.database, app.clock))
    # Read copy of the entitlements context's benefits, from its state stream.
    app.add_consumer(benefit_copy(app.database, app.clock))
    # The subscriptions context's abandoned purchases give their discount uses back.
    app.add_consumer(abandoned_purchases(app.database, app.clock))
    for source in states.state_sources():
        app.add_state_source(source)
    app.add_closer(directory.close)
    return app
