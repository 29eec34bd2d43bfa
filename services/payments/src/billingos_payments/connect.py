"""Connect (connect.proto): the organization's connected account, its
onboarding and dashboard links, and its status as Stripe's `account.updated`
reports it. Works in the caller's scope; raises domain errors.

The account is made under a lock on the organization's payment settings row
(so two concurrent creates cannot make two Stripe accounts), and a later
create is ALREADY_EXISTS. Its status is taken only from Stripe events newer
than the one last applied (`account.updated` may arrive out of order).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from billingos_kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from billingos_kit.ids import new_id
from billingos_kit.validation import Violations
from billingos_payments import events
from billingos_payments.drafts import AccountDraft
from billingos_payments.errors import from_stripe
from billingos_payments.models import ConnectAccount, PaymentSettings
from billingos_payments.repository import ConnectAccountRepository, PaymentSettingsRepository
from billingos_payments.scope import WorkScope
from billingos_payments.stripe_gateway import StripeGateway

ORGANIZATION_METADATA_KEY = "billingos_organization_id"
MAX_URL_LENGTH = 2048
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _url(violations: Violations, field: str, value: str) -> None:
    """Where Stripe sends the account holder back: https, or plain http only
    to this machine's own loopback host (a development setup). The host is
    parsed, not matched as text (`http://localhost@evil.example` is evil's)."""
    if not value or len(value) > MAX_URL_LENGTH or not value.isascii() or not value.isprintable():
        violations.add(field, "must be a URL of at most 2048 printable ASCII characters")
        return
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        violations.add(field, "must be a URL")
        return
    scheme = parts.scheme.lower()
    loopback = host in LOOPBACK_HOSTS and not parts.username and not parts.password
    if " " in value or not host or not (scheme == "https" or (scheme == "http" and loopback)):
        violations.add(
            field, "must be an https URL with a host (plain http only for a loopback host)"
        )


class ConnectAccounts:
    def __init__(self, scope: WorkScope, stripe: StripeGateway) -> None:
        self._scope = scope
        self._stripe = stripe
        self._accounts = ConnectAccountRepository(scope)
        self._settings = PaymentSettingsRepository(scope)

    async def fee_basis_points(self) -> int:
        settings = await self._settings.current()
        return settings.application_fee_basis_points if settings else 0

    async def create(self, draft: AccountDraft) -> ConnectAccount:
        violations = Violations()
        country = draft.country.strip().upper()
        if len(country) != 2 or not country.isascii() or not country.isalpha():
            violations.add("connect_account.country", "must be a two-letter country code, e.g. US")
        if len(draft.email) > 254 or (draft.email and "@" not in draft.email):
            violations.add("connect_account.email", "must be an email address")
        violations.raise_if_any()
        await self._lock_settings()
        if await self._accounts.of_organization() is not None:
            raise AlreadyExists(
                "connect_account",
                "the organization has a connected account already",
                reason="CONNECT_ACCOUNT_ALREADY_EXISTS",
            )
        account_id = new_id(self._scope.clock)
        made = await from_stripe(
            self._stripe.create_account(
                country,
                draft.email,
                {ORGANIZATION_METADATA_KEY: str(self._scope.organization_id)},
                idempotency_key=f"billingos-account-{self._scope.organization_id}",
            )
        )
        now = self._scope.clock.now()
        row = ConnectAccount(
            id=account_id,
            organization_id=self._scope.organization_id,
            stripe_account_id=str(made["id"]),
            country=country,
            email=draft.email,
            charges_enabled=bool(made.get("charges_enabled")),
            payouts_enabled=bool(made.get("payouts_enabled")),
            details_submitted=bool(made.get("details_submitted")),
            stripe_account=made,
            created_at=now,
            updated_at=now,
        )
        await self._accounts.insert(row)
        await self._scope.outbox.add(events.account_updated(row, await self.fee_basis_points()))
        return row

    async def get(self) -> ConnectAccount:
        account = await self._accounts.of_organization()
        if account is None:
            raise NotFound("connect_account", str(self._scope.organization_id))
        return account

    async def onboarding_link(self, return_url: str, refresh_url: str) -> dict[str, Any]:
        violations = Violations()
        _url(violations, "return_url", return_url)
        _url(violations, "refresh_url", refresh_url)
        violations.raise_if_any()
        account = await self.get()
        return await from_stripe(
            self._stripe.onboarding_link(account.stripe_account_id, return_url, refresh_url)
        )

    async def dashboard_link(self) -> dict[str, Any]:
        account = await self.get()
        if not account.details_submitted:
            raise FailedPrecondition(
                "the account has not finished onboarding; send its holder to an onboarding link",
                reason="CONNECT_ONBOARDING_INCOMPLETE",
            )
        return await from_stripe(self._stripe.dashboard_link(account.stripe_account_id))

    async def apply_account(self, stripe_id: str) -> None:
        """Stripe's account as it is now, read afresh for each
        `account.updated` under the row's lock (so neither the events' order
        nor two replicas' reads can apply an older state last); announces
        `account.updated` when what we keep of it changed."""
        account = await self._accounts.of_organization(for_update=True)
        if account is None or account.stripe_account_id != stripe_id:
            return
        stripe_account = await self._stripe.account(stripe_id)
        if stripe_account == account.stripe_account:
            return
        account.stripe_account = stripe_account
        account.charges_enabled = bool(stripe_account.get("charges_enabled"))
        account.payouts_enabled = bool(stripe_account.get("payouts_enabled"))
        account.details_submitted = bool(stripe_account.get("details_submitted"))
        account.updated_at = self._scope.clock.now()
        await self._accounts.update(
            account,
            [
                "stripe_account",
                "charges_enabled",
                "payouts_enabled",
                "details_submitted",
                "updated_at",
            ],
        )
        await self._scope.outbox.add(events.account_updated(account, await self.fee_basis_points()))

    async def update_settings(self, fee_basis_points: int) -> PaymentSettings:
        if not 0 <= fee_basis_points <= 10_000:
            raise InvalidArgument(
                "settings.application_fee_basis_points", "must be 0 to 10000 (100.00 %)"
            )
        row = PaymentSettings(
            organization_id=self._scope.organization_id,
            application_fee_basis_points=fee_basis_points,
            updated_at=self._scope.clock.now(),
        )
        await self._settings.save(row)
        return row

    async def _lock_settings(self) -> None:
        """The organization's settings row, made if missing, locked: what
        serializes account creation."""
        if await self._settings.current() is None:
            await self._settings.save(
                PaymentSettings(self._scope.organization_id, 0, self._scope.clock.now())
            )
        await self._settings.lock()


def expires(link: dict[str, Any]) -> dt.datetime | None:
    value = link.get("expires_at")
    return dt.datetime.fromtimestamp(int(value), dt.UTC) if isinstance(value, int) else None
