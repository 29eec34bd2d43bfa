"""Signing in to the customer portal by email (portal_sign_in.proto): anyone
asks for a link for an address; each live customer of the organization with
that address (at most MAX_LINKS, the newest: addresses are not unique) gets
a one-time link, which the merchant emails from its webhook
(`customer.portal_sign_in_requested`); the page the link opens exchanges its
token for a customer session.

No enumeration: the answer is the same whether or not anyone has the
address, and so is the database's work as far as it can be: the same
statements either way (the organization, the matching customers, one insert
of links), a miss writing one link for nobody (`customer_id` NULL, its token
thrown away, never exchangeable) so its commit writes and flushes as a
hit's does. What remains is a hit's outbox rows, one more statement, a
fraction of a millisecond against a network's jitter; the per-email limit
(portal_sign_in_limits.py, 3 a minute) bounds how many samples of one
address anyone can take to average it out.

A token is `bcm_` + 40 random URL-safe characters (240 bits); only its
SHA-256 is kept, as for sessions. It works once (the exchange marks it used
in the statement that finds it: of two exchanges at once one wins), for
LINK_TTL. The link carries it in the fragment
(`{public base URL}/portal/{organization id}/sign-in#token=...`), which
browsers send to no server and put in no Referer. Where the link itself is
kept (the outbox, the events stream, the webhook delivery; the log in
development only) is said on CustomerPortalSignInRequestedEvent: everywhere
for longer than it works, so a copy found later opens nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from dataclasses import dataclass

from billingos_customers import events
from billingos_customers.customer_sessions import CreatedSession, CustomerSessionService
from billingos_customers.customers import check_email
from billingos_customers.errors import PortalSignInNotFound
from billingos_customers.models import Customer, PortalSignIn, kit_tables
from billingos_customers.organizations import OrganizationService
from billingos_customers.portal_sign_in_limits import PortalSignInLimits
from billingos_customers.repository import (
    CustomerRepository,
    PortalSignInRepository,
    PresentedSignIns,
)
from billingos_kit.credentials import digest_of
from billingos_kit.errors import InvalidArgument
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_ids
from billingos_kit.repository import OnConnection
from billingos_kit.validation import Violations
from billingos_kit.workscope import OrganizationWork

log = logging.getLogger(__name__)

SOURCE = "customers"
TOKEN_PREFIX = "bcm_"
LINK_TTL = dt.timedelta(minutes=15)
# Customers one request may give a link to: the newest with the address. An
# address shared by more (a person who bought as several customers) gets
# links for these; the merchant can make a session for any other.
MAX_LINKS = 5


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


@dataclass(frozen=True)
class SignInLinks:
    """Where links point, and whether each is also written to the log (a
    development suite, where no merchant's webhook sends email; never in
    production: logs are shipped and kept where credentials must not be)."""

    public_base_url: str = ""
    log_links: bool = False

    def url(self, organization_id: uuid.UUID, token: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/portal/{organization_id}/sign-in#token={token}"


@dataclass(frozen=True)
class SignInLink:
    """A link made for a customer: what its event and log line say."""

    customer: Customer
    url: str
    expires_at: dt.datetime


class PortalSignIns:
    """Anonymous calls: each acts in the organization the request (or the
    token) names, on the call's own connection and transaction."""

    def __init__(self, scope: CallScope, links: SignInLinks, limits: PortalSignInLimits) -> None:
        self._scope = scope
        self._links = links
        self._limits = limits

    async def request(self, organization: str, email: str) -> None:
        """Makes a link for each of the organization's live customers with
        `email` (at most MAX_LINKS) and announces each; the same answer (none)
        either way. Unknown organization: OrganizationNotFound (organizations
        are public)."""
        client = self._scope.client_address
        self._limits.admit_request(client)
        violations = Violations()
        check_email(violations, "email", email)
        violations.raise_if_any()
        found = await OrganizationService(self._scope).get_public(organization)
        self._limits.admit_email(client, found.id, email)
        work = await self._work(found.id)
        customers = await CustomerRepository(work).live_with_email(email.strip(), MAX_LINKS)
        links = await self._write_links(work, customers)
        await work.outbox.add_many(
            [
                events.customer_portal_sign_in_requested(link.customer, link.url, link.expires_at)
                for link in links
            ]
        )
        if self._links.log_links:
            for link in links:
                log.info(
                    "portal sign-in link (development)",
                    extra={
                        "organization_id": str(found.id),
                        "customer_id": str(link.customer.id),
                        "sign_in_url": link.url,
                        "expire_time": link.expires_at.isoformat(),
                    },
                )

    async def _write_links(
        self, work: OrganizationWork, customers: list[Customer]
    ) -> list[SignInLink]:
        """One row per customer, or one for nobody when there is none: the
        same insert either way. The links of the customers' rows."""
        now = work.clock.now()
        expires_at = now + LINK_TTL
        recipients: list[Customer | None] = [*customers] or [None]
        tokens = [new_token() for _ in recipients]
        ids = new_ids(work.clock, len(recipients))
        await PortalSignInRepository(work).insert(
            *(
                PortalSignIn(
                    id=row_id,
                    organization_id=work.organization_id,
                    customer_id=customer.id if customer else None,
                    token_hash=digest_of(token),
                    created_at=now,
                    expires_at=expires_at,
                    used_at=None,
                    customer_session_id=None,
                )
                for row_id, customer, token in zip(ids, recipients, tokens, strict=True)
            )
        )
        # The row for nobody has no link: its token is dropped here.
        return [
            SignInLink(customer, self._links.url(work.organization_id, token), expires_at)
            for customer, token in zip(customers, tokens, strict=False)
        ]

    async def exchange(self, token: str) -> CreatedSession:
        """A new session (the default lifetime) for the customer of the link
        `token` belongs to, using the link up. Unknown, used, expired, or its
        customer deleted: PortalSignInNotFound, one answer for all."""
        self._limits.admit_exchange(self._scope.client_address)
        if not token:
            raise InvalidArgument("token", "is required: the sign-in link's token")
        if not token.startswith(TOKEN_PREFIX):
            raise PortalSignInNotFound()
        connection = await self._scope.connection()
        used = await PresentedSignIns(OnConnection(connection)).use_up(
            digest_of(token), self._scope.clock.now()
        )
        if used is None or used.customer_id is None:
            raise PortalSignInNotFound()
        work = await self._work(used.organization_id)
        created = await CustomerSessionService(work).open(used.customer_id)
        used.customer_session_id = created.session.id
        await PortalSignInRepository(work).update(used, ["customer_session_id"])
        return created

    async def _work(self, organization_id: uuid.UUID) -> OrganizationWork:
        scope = self._scope
        return OrganizationWork(
            await scope.connection(), organization_id, scope.clock, kit_tables, SOURCE
        )
