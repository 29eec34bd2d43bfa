"""Settings of the catalog service (environment: BILLINGOS_CATALOG_*)."""

from __future__ import annotations

from typing import ClassVar

from billingos_kit.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    service_name: ClassVar[str] = "catalog"

    grpc_listen: str = "127.0.0.1:50062"
    # The customers service, asked about a customer a redemption names that
    # the read copy has not heard of yet; unset: the key check's address.
    customers_address: str = ""
    # How long browsers and CDNs may reuse a public catalog response.
    public_cache_seconds: int = 60
