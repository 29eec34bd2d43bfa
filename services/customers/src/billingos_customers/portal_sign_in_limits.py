"""How often anonymous pages may ask for portal sign-in links and exchange
them.

Anyone may ask for a link for any address, and each request that matches a
customer makes the merchant send an email: one client must not take the
service's time from every merchant, nor fill a stranger's mailbox. Requests
are limited per client network (an IPv4 address, an IPv6 /64) and per email
address of an organization; exchanges per client network (a token cannot be
guessed, 240 bits, but each try costs a statement). Past a limit the call is
refused with RESOURCE_EXHAUSTED (429 with Retry-After through the gateway)
before the work it guards. The per-address limit is spent for an address
whether or not a customer has it, so a refusal tells nothing either. The
buckets are per process: with N replicas a client gets up to N times the
allowance, still bounded."""

from __future__ import annotations

import uuid

from billingos_kit.clock import Clock
from billingos_kit.credentials import digest_of
from billingos_kit.errors import TooManyRequests
from billingos_kit.throttle import TokenBuckets, client_network
from billingos_kit.validation import ascii_lower

REASON = "PORTAL_SIGN_IN_RATE_LIMITED"


class PortalSignInLimits:
    def __init__(
        self,
        clock: Clock,
        *,
        requests_per_address_per_minute: int,
        requests_per_email_per_minute: int,
        exchanges_per_address_per_minute: int,
    ) -> None:
        self._requests_by_address = TokenBuckets(clock, requests_per_address_per_minute)
        self._requests_by_email = TokenBuckets(clock, requests_per_email_per_minute)
        self._exchanges_by_address = TokenBuckets(clock, exchanges_per_address_per_minute)

    def admit_request(self, client_address: str) -> None:
        """Spends a request token of the client's network, or refuses."""
        wait = self._requests_by_address.take(_network(client_address))
        if wait is not None:
            raise TooManyRequests(
                "too many sign-in links asked for from this address; "
                "retry after the Retry-After delay",
                wait,
                reason=REASON,
            )

    def admit_email(self, client_address: str, organization_id: uuid.UUID, email: str) -> None:
        """Spends a token of the address's (in the organization), or refuses,
        giving the client's request token back. Kept by a digest: the
        buckets hold no one's address."""
        key = f"{organization_id}/{digest_of(ascii_lower(email.strip())).hex()}"
        wait = self._requests_by_email.take(key)
        if wait is not None:
            self._requests_by_address.refund(_network(client_address))
            raise TooManyRequests(
                "too many sign-in links asked for this email address; "
                "retry after the Retry-After delay",
                wait,
                reason=REASON,
            )

    def admit_exchange(self, client_address: str) -> None:
        """Spends an exchange token of the client's network, or refuses."""
        wait = self._exchanges_by_address.take(_network(client_address))
        if wait is not None:
            raise TooManyRequests(
                "too many sign-in links exchanged from this address; "
                "retry after the Retry-After delay",
                wait,
                reason=REASON,
            )


def _network(client_address: str) -> str:
    # Internal callers have no address: they share one bucket.
    return client_network(client_address)
