"""Settings of the payments service (environment: BILLINGOS_PAYMENTS_*, and
for Stripe also the bare names Stripe's own tools use: STRIPE_SECRET_KEY,
STRIPE_API_BASE, STRIPE_WEBHOOK_SECRET, STRIPE_PUBLISHABLE_KEY)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from billingos_kit.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    service_name: ClassVar[str] = "payments"
    bare_names: ClassVar[dict[str, str]] = {
        "stripe_secret_key": "STRIPE_SECRET_KEY",
        "stripe_api_base": "STRIPE_API_BASE",
        "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET",
        "stripe_publishable_key": "STRIPE_PUBLISHABLE_KEY",
    }

    grpc_listen: str = "127.0.0.1:50063"
    # The platform's Stripe secret key (sk_test_… or sk_live_…). Unset, every
    # call that needs Stripe is UNAVAILABLE, naming the setting.
    stripe_secret_key: SecretStr = SecretStr("")
    # Stripe's API, or a stand-in speaking its wire format (localstripe).
    stripe_api_base: str = "https://api.stripe.com"
    # Signs the webhooks Stripe sends to /v1/stripe/webhook (whsec_…). Unset,
    # every webhook is refused.
    stripe_webhook_secret: SecretStr = SecretStr("")
    # What the customer portal's card page gives Stripe.js: the platform's
    # publishable key (pk_live_… or pk_test_…; not a secret, it is sent to
    # browsers) and where Stripe.js is loaded from (Stripe's own, or a
    # stand-in's in development). Unset key: the portal cannot save cards
    # (UNAVAILABLE, naming the setting); the merchant's API still can.
    stripe_publishable_key: str = ""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    # A webhook signed longer ago than this is refused (Stripe's default).
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # How long one Stripe request may take before it counts as unreachable.
    stripe_timeout_seconds: float = Field(default=20.0, gt=0)
    # Stored webhook events are processed up to this many per round.
    webhook_batch_size: int = Field(default=50, ge=1)
    # A refund Stripe never answered for is settled after this long: taken
    # from Stripe if it got there, canceled (refundable again) if not.
    refund_unsent_after_seconds: int = Field(default=900, ge=1)
    # How often the sweep of such refunds runs.
    refund_sweep_seconds: float = Field(default=60.0, gt=0)
    # The customers service, asked for a customer payments has not heard of
    # yet; unset: the key check's address (the customers service too).
    customers_address: str = ""
