"""Settings of the customers service (environment: BILLINGOS_CUSTOMERS_*)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from billingos_kit.settings import ServiceSettings


class CustomersSettings(ServiceSettings):
    service_name: ClassVar[str] = "customers"

    grpc_listen: str = "127.0.0.1:50061"
    # The subscriptions service (BILLINGOS_SUBSCRIPTIONS_ADDRESS, suite-wide),
    # asked whether a new customer's test clock is the organization's. Unset:
    # only the id's form is checked.
    subscriptions_address: str = ""
    # Anonymous lookups of organizations that do not exist, per minute from
    # one client network (an IPv4 address, an IPv6 /64), in each process;
    # past it every lookup from there is 429 until the allowance refills.
    public_organization_misses_per_minute: int = Field(default=60, ge=1)
    # Outbound webhooks: the consumers that enqueue deliveries and the worker
    # that posts them run in this process unless turned off. Replicas share
    # the work; to keep it off the API's replicas, run one deployment of this
    # service with them on and the API's with them off (tests drive the
    # sender themselves). The sender has an event loop and a pool of its own.
    webhook_dispatch_enabled: bool = True
    # Whether an organization's development mode (webhooks to http and to
    # local and private addresses) is honoured by this deployment: off unless
    # set, so a production suite never posts inside its own network whatever
    # an organization says; `./billingos up` and the tests turn it on.
    webhook_development_mode_allowed: bool = False
    webhook_sender_enabled: bool = True
    # How long one POST may take in all (connect, send, answer).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Attempts in flight at once (at most one per endpoint, three quarters of
    # them per organization).
    webhook_batch_size: int = Field(default=20, ge=1)
    # How often the sender looks for due deliveries when idle.
    webhook_poll_seconds: float = Field(default=0.25, gt=0)
    # Database connections of the sender (it records each attempt).
    webhook_pool_size: int = Field(default=4, ge=1)
    # Live endpoints per organization (each event is posted once per endpoint).
    webhook_max_endpoints_per_organization: int = Field(default=50, ge=1, le=1000)
    # Finished deliveries (and their attempts) are kept this long, then purged.
    webhook_delivery_retention_days: int = Field(default=30, ge=1)
    # Where customers reach the suite's pages (e.g. "https://billing.example.com"),
    # as the subscriptions service's setting of that name: portal sign-in
    # links start with it. Empty: the links are paths ("/portal/..."), which
    # the merchant's email must complete.
    public_base_url: str = ""
    # Writes each portal sign-in link to this service's log as well (one line
    # naming the customer and the link): for a development suite, where no
    # webhook sends email. Off unless set: a log is no place for a credential;
    # `./billingos up` and the tests turn it on.
    portal_sign_in_log_links: bool = False
    # Sign-in links anonymous pages may ask for per minute, from one client
    # network (an IPv4 address, an IPv6 /64) and for one email address of an
    # organization, and exchanges per minute from one client network, in each
    # process; past any: 429 with Retry-After.
    portal_sign_in_requests_per_minute_per_address: int = Field(default=20, ge=1)
    portal_sign_in_requests_per_minute_per_email: int = Field(default=3, ge=1)
    portal_sign_in_exchanges_per_minute_per_address: int = Field(default=30, ge=1)
    # Sign-in links are deleted this many days after they expired.
    portal_sign_in_retention_days: int = Field(default=7, ge=1)
