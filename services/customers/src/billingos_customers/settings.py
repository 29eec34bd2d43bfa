"""Settings of the customers service (environment: BILLINGOS_CUSTOMERS_*)."""

from __future__ import annotations

from typing import ClassVar

from billingos_kit.settings import ServiceSettings


class CustomersSettings(ServiceSettings):
    service_name: ClassVar[str] = "customers"

    grpc_listen: str = "127.0.0.1:50061"
