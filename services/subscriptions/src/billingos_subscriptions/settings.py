"""Settings of the subscriptions service
(environment: BILLINGOS_SUBSCRIPTIONS_*)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from billingos_kit.settings import ServiceSettings


class SubscriptionsSettings(ServiceSettings):
    service_name: ClassVar[str] = "subscriptions"
    bare_names: ClassVar[dict[str, str]] = {"stripe_publishable_key": "STRIPE_PUBLISHABLE_KEY"}

    grpc_listen: str = "127.0.0.1:50065"
    # The services the engine asks (BILLINGOS_CATALOG_ADDRESS and so on, set
    # suite-wide); customers: the key check's address when unset.
    customers_address: str = ""
    catalog_address: str = ""
    payments_address: str = ""
    metering_address: str = ""
    # Due subscriptions (and retries) a scheduler round claims at most.
    scheduler_batch_size: int = Field(default=200, ge=1)
    # Batches of due subscriptions a scheduler works at once, each on its own
    # connection: one is computed while another's statements run.
    scheduler_rounds_at_once: int = Field(default=2, ge=1, le=8)
    # How often the workers look for work when nothing woke them.
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    # Charges asked of payments at once.
    charge_concurrency: int = Field(default=8, ge=1)
    # Where customers reach the suite's REST surface and pages (e.g.
    # "https://billing.example.com"): checkout links' and sessions' URLs
    # start with it. Empty: the URLs are paths ("/checkout/...").
    public_base_url: str = ""
    # A checkout's success URL may be plain http to a loopback host (a
    # developer's machine); off in production, where only https is taken.
    checkout_loopback_http_allowed: bool = False
    # How often the checkout expiry sweep looks for open sessions past their
    # expire time (a refused update does not wait for it).
    checkout_expiry_poll_seconds: float = Field(default=15.0, gt=0)
    # Checkout sessions anonymous pages may open per minute, from one client
    # network (an IPv4 address, an IPv6 /64) and for one organization, in
    # each process; past either: 429 with Retry-After.
    checkout_opens_per_minute_per_address: int = Field(default=60, ge=1)
    checkout_opens_per_minute_per_organization: int = Field(default=1200, ge=1)
    # Payment starts and confirmations (each makes a customer, a SetupIntent
    # or a charge) per minute from one client network, in each process.
    checkout_payment_calls_per_minute_per_address: int = Field(default=30, ge=1)
    # Expired sessions that bought nothing are deleted this many days after
    # they expired (completed ones are kept: they are the merchant's record).
    checkout_retention_days: int = Field(default=30, ge=1)
    # What the hosted checkout page gives Stripe.js: the platform's
    # publishable key (pk_live_... or pk_test_...; also read from
    # STRIPE_PUBLISHABLE_KEY) and where Stripe.js is loaded from (Stripe's
    # own, or a stand-in's in development).
    stripe_publishable_key: str = ""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    # The Unicode TrueType fonts (.ttf) invoice PDFs are drawn with; empty:
    # the first of the usual system fonts found (invoice_fonts.py).
    invoice_font: str = ""
    invoice_bold_font: str = ""
