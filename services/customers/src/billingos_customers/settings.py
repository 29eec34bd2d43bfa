"""Settings of the customers service (environment: BILLINGOS_CUSTOMERS_*)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from billingos_kit.settings import ServiceSettings


class CustomersSettings(ServiceSettings):
    service_name: ClassVar[str] = "customers"

    grpc_listen: str = "127.0.0.1:50061"
    # How long the gateway's API-key check trusts a verified key without asking
    # the database again: the longest a revoked key keeps working elsewhere.
    api_key_cache_seconds: float = 5.0
    # Failed API-key checks allowed per client address and minute; past that
    # every request from the address is a 429 until its allowance refills.
    failed_key_checks_per_minute: int = Field(default=30, ge=1)
