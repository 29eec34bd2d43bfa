"""The clients: `BillingOS` (blocking, on `httpx.Client`) and
`AsyncBillingOS` (on `httpx.AsyncClient`).

Each only sends an `Attempts`'s request, sleeps the delay it asks for and
loops; everything else (headers, idempotency keys, retry decisions, error
mapping, parsing) lives in `_http` and is the same for both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, TypeVar

import httpx

from ._http import Attempts, Operation, Settings
from ._version import __version__
from .resources import (
    AsyncBenefitGrants,
    AsyncCustomers,
    AsyncCustomerSessions,
    AsyncEntitlements,
    AsyncEvents,
    AsyncProducts,
    AsyncSubscriptions,
    AsyncWebhookEndpoints,
    BenefitGrants,
    Customers,
    CustomerSessions,
    Entitlements,
    Events,
    Products,
    Subscriptions,
    WebhookEndpoints,
)
from .retry import RetryPolicy
from .servers import resolve_access_token, resolve_base_url

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"billingos-sdk-python/{__version__}"


def _settings(
    access_token: str | None,
    server: str | None,
    server_url: str | None,
    max_retries: int | None,
    retry_policy: RetryPolicy | None,
) -> Settings:
    policy = retry_policy or RetryPolicy()
    if max_retries is not None:
        policy = dataclasses.replace(policy, max_retries=max_retries)
    return Settings(
        base_url=resolve_base_url(server, server_url),
        access_token=resolve_access_token(access_token),
        retry=policy,
        user_agent=USER_AGENT,
    )


class BillingOS:
    """The BillingOS API, blocking.

    Use it as a context manager (or call `close`) so its connections are
    released. `http_client` lets a caller bring its own ``httpx.Client``
    (proxies, custom TLS, a test transport); the SDK then leaves closing it
    to the caller. `sleep` is what waits between retries: a test passes a
    recorder instead of waiting.
    """

    def __init__(
        self,
        access_token: str | None = None,
        *,
        server: str | None = None,
        server_url: str | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = _settings(access_token, server, server_url, max_retries, retry_policy)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._sleep = sleep
        self.customers = Customers(self._execute)
        self.events = Events(self._execute)
        self.benefit_grants = BenefitGrants(self._execute)
        self.products = Products(self._execute)
        self.subscriptions = Subscriptions(self._execute)
        self.entitlements = Entitlements(self._execute)
        self.customer_sessions = CustomerSessions(self._execute)
        self.webhook_endpoints = WebhookEndpoints(self._execute)

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    def _execute(self, operation: Operation[T]) -> T:
        attempts = Attempts(operation, self._settings, self._http.build_request)
        while True:
            try:
                response = self._http.send(attempts.request)
            except httpx.TransportError as error:
                delay = attempts.after_network_error(error)
            else:
                found = attempts.after_response(response)
                if found is None:
                    return attempts.result(response)
                delay = found
            self._sleep(delay)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncBillingOS:
    """The BillingOS API, for asyncio. Same arguments as `BillingOS`, with an
    ``httpx.AsyncClient`` and an awaitable `sleep`."""

    def __init__(
        self,
        access_token: str | None = None,
        *,
        server: str | None = None,
        server_url: str | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = _settings(access_token, server, server_url, max_retries, retry_policy)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._sleep = sleep
        self.customers = AsyncCustomers(self._execute)
        self.events = AsyncEvents(self._execute)
        self.benefit_grants = AsyncBenefitGrants(self._execute)
        self.products = AsyncProducts(self._execute)
        self.subscriptions = AsyncSubscriptions(self._execute)
        self.entitlements = AsyncEntitlements(self._execute)
        self.customer_sessions = AsyncCustomerSessions(self._execute)
        self.webhook_endpoints = AsyncWebhookEndpoints(self._execute)

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    async def _execute(self, operation: Operation[T]) -> T:
        attempts = Attempts(operation, self._settings, self._http.build_request)
        while True:
            try:
                response = await self._http.send(attempts.request)
            except httpx.TransportError as error:
                delay = attempts.after_network_error(error)
            else:
                found = attempts.after_response(response)
                if found is None:
                    return attempts.result(response)
                delay = found
            await self._sleep(delay)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
