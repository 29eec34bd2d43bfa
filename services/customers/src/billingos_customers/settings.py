"""Settings of the customers service (environment: BILLINGOS_CUSTOMERS_*)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from billingos_kit.settings import ServiceSettings


class CustomersSettings(ServiceSettings):
    service_name: ClassVar[str] = "customers"

    grpc_listen: str = "127.0.0.1:50061"
    # Outbound webhooks: the consumers that enqueue deliveries and the worker
    # that posts them run in this process unless turned off (a deployment of
    # their own runs them instead; tests drive the sender themselves).
    webhook_dispatch_enabled: bool = True
    # Whether an organization's development mode (webhooks to http and to
    # local and private addresses) is honoured by this deployment: off unless
    # set, so a production suite never posts inside its own network whatever
    # an organization says; `./billingos up` and the tests turn it on.
    webhook_development_mode_allowed: bool = False
    webhook_sender_enabled: bool = True
    # How long one POST may take in all (connect, send, answer).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Deliveries posted at once per round (at most one per endpoint).
    webhook_batch_size: int = Field(default=20, ge=1)
    # How often the sender looks for due deliveries when idle.
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
