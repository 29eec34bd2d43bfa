"""How often anonymous pages may open checkout sessions.

Opening a session costs the catalog's reads and a quote, and anyone may ask
for one: one client would otherwise take the service's time from every
merchant. Each client network (an IPv4 address, an IPv6 /64) and each
organization has a token bucket; past either, the call is refused with
RESOURCE_EXHAUSTED (429 with Retry-After through the gateway) before any
work. The buckets are per process: with N replicas behind the gateway a
client gets up to N times the allowance, still bounded."""

from __future__ import annotations

import uuid

from billingos_kit.clock import Clock
from billingos_kit.errors import TooManyRequests
from billingos_kit.throttle import TokenBuckets, client_network


class CheckoutOpenLimits:
    def __init__(
        self,
        clock: Clock,
        *,
        per_address_per_minute: int,
        per_organization_per_minute: int,
        payment_calls_per_address_per_minute: int = 30,
    ) -> None:
        self._by_address = TokenBuckets(clock, per_address_per_minute)
        self._by_organization = TokenBuckets(clock, per_organization_per_minute)
        self._payments_by_address = TokenBuckets(clock, payment_calls_per_address_per_minute)

    def admit_payment(self, client_address: str) -> None:
        """Starting a payment or confirming one makes a customer, a Stripe
        SetupIntent or a charge: each client network has an allowance of its
        own for them (a card tester's loop is refused before Stripe sees it)."""
        network = client_network(client_address)
        wait = self._payments_by_address.take(network)
        if wait is not None:
            raise TooManyRequests(
                "too many checkout payments from this address; retry after the Retry-After delay",
                wait,
                reason="CHECKOUT_PAYMENTS_RATE_LIMITED",
            )

    def admit(self, client_address: str, organization_id: uuid.UUID) -> None:
        """Spends a token of the client's and one of the organization's, or
        refuses (spending none of either when the client's is empty)."""
        network = client_network(client_address)
        wait = self._by_address.take(network)
        if wait is not None:
            raise TooManyRequests(
                "too many checkout sessions opened from this address; "
                "retry after the Retry-After delay",
                wait,
                reason="CHECKOUT_SESSIONS_RATE_LIMITED",
            )
        wait = self._by_organization.take(str(organization_id))
        if wait is not None:
            self._by_address.refund(network)
            raise TooManyRequests(
                "too many checkout sessions are being opened for this organization; "
                "retry after the Retry-After delay",
                wait,
                reason="CHECKOUT_SESSIONS_RATE_LIMITED",
            )
