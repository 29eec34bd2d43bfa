"""The one module that imports `stripe`: every Stripe request BillingOS makes,
through the official SDK's async client, whether it talks to Stripe or to a
stand-in speaking its wire format (localstripe in development and tests).

It returns Stripe's objects as plain dicts and turns the SDK's errors into
three of ours, by what the caller can do about them:
- `StripeUnavailable`: no answer, a 5xx, a rate limit, a key Stripe refuses.
  Nothing is known to have happened; the same request may be made again
  (with the same idempotency key, which real Stripe honours).
- `CardDeclined`: the card was refused; Stripe's code and decline code.
- `StripeRefused`: Stripe understood and said no (a 4xx other than a decline).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import stripe

log = logging.getLogger(__name__)

# Stripe's own API version is the SDK's: requests and webhooks agree on it.
API_VERSION = stripe.api_version


class StripeUnavailable(Exception):
    """Stripe did not answer, or not usefully; try again later."""


@dataclass
class CardDeclined(Exception):
    code: str
    decline_code: str
    message: str
    payment_intent: dict[str, Any] | None


@dataclass
class StripeRefused(Exception):
    code: str
    message: str
    param: str
    status: int


@asynccontextmanager
async def _answers() -> AsyncIterator[None]:
    try:
        yield
    except stripe.CardError as error:
        details = error.error
        intent = getattr(details, "payment_intent", None) if details is not None else None
        raise CardDeclined(
            code=error.code or "card_declined",
            decline_code=_text(details, "decline_code"),
            message=error.user_message or str(error) or "the card was declined",
            payment_intent=intent.to_dict() if intent is not None else None,
        ) from None
    except (
        stripe.APIConnectionError,
        stripe.RateLimitError,
        stripe.AuthenticationError,
        stripe.PermissionError,
    ) as error:
        raise StripeUnavailable(f"{type(error).__name__}: {error.user_message or error}") from None
    except stripe.IdempotencyError as error:
        if error.code == "idempotency_key_in_use":
            # A twin request with the key is still running at Stripe: its
            # outcome is not known yet, so this one is to be asked again.
            raise StripeUnavailable("a request with the same key is in progress") from None
        raise StripeRefused(
            code=error.code or "idempotency_error",
            message=error.user_message or str(error),
            param="",
            status=error.http_status or 400,
        ) from None
    except stripe.InvalidRequestError as error:
        raise StripeRefused(
            code=error.code or "invalid_request",
            message=error.user_message or str(error),
            param=error.param or "",
            status=error.http_status or 400,
        ) from None
    except stripe.StripeError as error:
        status = error.http_status or 0
        if status >= 500 or status == 0:
            raise StripeUnavailable(f"Stripe answered {status or 'nothing usable'}") from None
        raise StripeRefused(
            code=error.code or "stripe_error",
            message=error.user_message or str(error),
            param="",
            status=status,
        ) from None


def _text(details: Any, name: str) -> str:
    value = getattr(details, name, None) if details is not None else None
    return value if isinstance(value, str) else ""


def _plain(found: Any) -> dict[str, Any]:
    plain: dict[str, Any] = found.to_dict()
    return plain


class StripeGateway:
    """The platform's Stripe account, with one secret key."""

    def __init__(self, secret_key: str, api_base: str, *, timeout_seconds: float) -> None:
        self.configured = bool(secret_key)
        self._client = stripe.StripeClient(
            secret_key or "sk_unset",
            base_addresses={"api": api_base.rstrip("/")},
            http_client=stripe.HTTPXClient(timeout=timeout_seconds),
            # Connection errors are ours to retry, with the same keys.
            max_network_retries=0,
        )

    def _ready(self) -> None:
        if not self.configured:
            raise StripeUnavailable("no Stripe secret key is configured (STRIPE_SECRET_KEY)")

    @staticmethod
    def _options(idempotency_key: str | None) -> Any:
        return {"idempotency_key": idempotency_key} if idempotency_key else {}

    # ---- customers -------------------------------------------------------

    async def create_customer(
        self, email: str, name: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> dict[str, Any]:
        self._ready()
        params: Any = {"email": email, "name": name, "metadata": dict(metadata)}
        async with _answers():
            found = await self._client.v1.customers.create_async(
                params=params, options=self._options(idempotency_key)
            )
        return _plain(found)

    async def customers_with_email(self, email: str) -> list[dict[str, Any]]:
        """Stripe's customers with this email (at most 100): how a customer
        created by a request whose answer was lost is found again."""
        self._ready()
        params: Any = {"email": email, "limit": 100}
        async with _answers():
            found = await self._client.v1.customers.list_async(params=params)
        return [_plain(item) for item in found.data]

    async def update_customer(self, stripe_id: str, email: str, name: str) -> None:
        self._ready()
        params: Any = {"email": email, "name": name}
        async with _answers():
            await self._client.v1.customers.update_async(stripe_id, params=params)

    # ---- setup intents and payment methods -------------------------------

    async def create_setup_intent(
        self, customer: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> dict[str, Any]:
        self._ready()
        params: Any = {
            "customer": customer,
            "usage": "off_session",
            "payment_method_types": ["card"],
            "metadata": dict(metadata),
        }
        async with _answers():
            found = await self._client.v1.setup_intents.create_async(
                params=params, options=self._options(idempotency_key)
            )
        return _plain(found)

    async def setup_intent(self, stripe_id: str) -> dict[str, Any]:
        self._ready()
        async with _answers():
            return _plain(await self._client.v1.setup_intents.retrieve_async(stripe_id))

    async def payment_method(self, stripe_id: str) -> dict[str, Any]:
        self._ready()
        async with _answers():
            return _plain(await self._client.v1.payment_methods.retrieve_async(stripe_id))

    async def attach_payment_method(self, stripe_id: str, customer: str) -> dict[str, Any]:
        self._ready()
        params: Any = {"customer": customer}
        async with _answers():
            found = await self._client.v1.payment_methods.attach_async(stripe_id, params=params)
        return _plain(found)

    async def detach_payment_method(self, stripe_id: str) -> None:
        self._ready()
        async with _answers():
            await self._client.v1.payment_methods.detach_async(stripe_id)

    # ---- payment intents and refunds -------------------------------------

    async def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        customer: str,
        payment_method: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
        destination: str | None = None,
        application_fee: int | None = None,
    ) -> dict[str, Any]:
        """An unconfirmed PaymentIntent: it moves no money until confirmed,
        so its id can be made durable first (payments.py)."""
        self._ready()
        params: Any = {
            "amount": amount,
            "currency": currency,
            "customer": customer,
            "payment_method": payment_method,
            "metadata": dict(metadata),
        }
        if destination is not None:
            params["transfer_data"] = {"destination": destination}
            if application_fee:
                params["application_fee_amount"] = application_fee
        async with _answers():
            found = await self._client.v1.payment_intents.create_async(
                params=params, options=self._options(idempotency_key)
            )
        return _plain(found)

    async def confirm_payment_intent(self, stripe_id: str, idempotency_key: str) -> dict[str, Any]:
        """Confirms off-session (the customer is not there to authenticate)."""
        self._ready()
        params: Any = {"off_session": True}
        async with _answers():
            found = await self._client.v1.payment_intents.confirm_async(
                stripe_id, params=params, options=self._options(idempotency_key)
            )
        return _plain(found)

    async def payment_intent(self, stripe_id: str) -> dict[str, Any]:
        self._ready()
        async with _answers():
            return _plain(await self._client.v1.payment_intents.retrieve_async(stripe_id))

    async def create_refund(
        self, payment_intent: str, amount: int, metadata: Mapping[str, str], idempotency_key: str
    ) -> dict[str, Any]:
        self._ready()
        params: Any = {"payment_intent": payment_intent, "amount": amount}
        if metadata:
            params["metadata"] = dict(metadata)
        async with _answers():
            found = await self._client.v1.refunds.create_async(
                params=params, options=self._options(idempotency_key)
            )
        return _plain(found)

    async def refund(self, stripe_id: str) -> dict[str, Any]:
        self._ready()
        async with _answers():
            return _plain(await self._client.v1.refunds.retrieve_async(stripe_id))

    async def refunds_of(self, payment_intent: str) -> list[dict[str, Any]]:
        """Every refund of a PaymentIntent, ours and those made elsewhere
        (Stripe's dashboard), newest first."""
        self._ready()
        found: list[dict[str, Any]] = []
        params: Any = {"payment_intent": payment_intent, "limit": 100}
        async with _answers():
            while True:
                page = await self._client.v1.refunds.list_async(params=params)
                found.extend(_plain(refund) for refund in page.data)
                if not page.has_more or not page.data:
                    return found
                params = {**params, "starting_after": page.data[-1].id}

    async def cancel_payment_intent(self, stripe_id: str) -> dict[str, Any]:
        self._ready()
        async with _answers():
            return _plain(await self._client.v1.payment_intents.cancel_async(stripe_id))

    # ---- Connect ---------------------------------------------------------

    async def create_account(
        self, country: str, email: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> dict[str, Any]:
        self._ready()
        params: Any = {
            "type": "express",
            "country": country,
            "capabilities": {
                "card_payments": {"requested": True},
                "transfers": {"requested": True},
            },
            "metadata": dict(metadata),
        }
        if email:
            params["email"] = email
        async with _answers():
            found = await self._client.v1.accounts.create_async(
                params=params, options=self._options(idempotency_key)
            )
        return _plain(found)

    async def account(self, stripe_id: str) -> dict[str, Any]:
        self._ready()
        async with _answers():
            return _plain(await self._client.v1.accounts.retrieve_async(stripe_id))

    async def onboarding_link(
        self, account: str, return_url: str, refresh_url: str
    ) -> dict[str, Any]:
        self._ready()
        params: Any = {
            "account": account,
            "return_url": return_url,
            "refresh_url": refresh_url,
            "type": "account_onboarding",
        }
        async with _answers():
            return _plain(await self._client.v1.account_links.create_async(params=params))

    async def dashboard_link(self, account: str) -> dict[str, Any]:
        self._ready()
        async with _answers():
            return _plain(await self._client.v1.accounts.login_links.create_async(account))
