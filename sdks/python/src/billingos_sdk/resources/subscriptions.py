"""``/v1/subscriptions``: create, read, list and cancel subscriptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Required, TypedDict, Unpack

from .._http import Operation, path
from ..models import Subscription
from ..pagination import AsyncPager, Page, SyncPager
from ._base import AsyncResource, Metadata, SyncResource, page_of, present


class PeriodInput(TypedDict, total=False):
    interval: Required[str]
    """``"INTERVAL_DAY"``, ``"INTERVAL_WEEK"``, ``"INTERVAL_MONTH"`` or ``"INTERVAL_YEAR"``."""
    count: int


class SubscriptionCreateParams(TypedDict, total=False):
    customer_id: Required[str]
    product_id: Required[str]
    price_id: str
    """One of the product's prices; or give `currency` to buy the product's
    prices in it."""
    currency: str
    seats: int
    payment_method_id: str
    discount_id: str
    metadata: Metadata
    promotion_code: str
    """A code the customer typed (instead of `discount_id`)."""
    skip_trial: bool
    trial: PeriodInput
    """A trial instead of the product's."""


class SubscriptionListParams(TypedDict, total=False):
    customer_id: str
    status: str
    """One of `billingos_sdk.models.SUBSCRIPTION_STATUSES`."""
    product_id: str
    page_size: int


# The REST body of a create is the whole request: these travel beside the
# subscription, the rest inside it.
_REQUEST_LEVEL = ("promotion_code", "skip_trial", "trial")

_list_page = page_of("subscriptions", Subscription.from_json)


def _create(params: Mapping[str, Any], key: str | None) -> Operation[Subscription]:
    given = present(params)
    body: dict[str, Any] = {k: given.pop(k) for k in _REQUEST_LEVEL if k in given}
    body["subscription"] = given
    return Operation(
        "POST", "/v1/subscriptions", Subscription.from_json, body=body, idempotency_key=key
    )


def _get(subscription_id: str) -> Operation[Subscription]:
    return Operation("GET", path("/v1/subscriptions/{}", subscription_id), Subscription.from_json)


def _list(params: Mapping[str, object], page_token: str) -> Operation[Page[Subscription]]:
    query = {**present(params), "page_token": page_token or None}
    return Operation("GET", "/v1/subscriptions", _list_page, query=query)


def _cancel(
    subscription_id: str, immediately: bool | None, comment: str | None, key: str | None
) -> Operation[Subscription]:
    return Operation(
        "POST",
        path("/v1/subscriptions/{}/cancel", subscription_id),
        Subscription.from_json,
        body=present({"immediately": immediately, "comment": comment}),
        idempotency_key=key,
    )


class Subscriptions(SyncResource):
    def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[SubscriptionCreateParams]
    ) -> Subscription:
        """Starts the trial, or places and charges the first order."""
        return self._send(_create(params, idempotency_key))

    def get(self, subscription_id: str) -> Subscription:
        return self._send(_get(subscription_id))

    def list(self, **params: Unpack[SubscriptionListParams]) -> SyncPager[Subscription]:
        return SyncPager(lambda token: self._send(_list(params, token)))

    def cancel(
        self,
        subscription_id: str,
        *,
        immediately: bool | None = None,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Cancels at the period's end (``cancel_at_period_end``), or at
        once with `immediately`, revoking its benefits."""
        return self._send(_cancel(subscription_id, immediately, comment, idempotency_key))


class AsyncSubscriptions(AsyncResource):
    async def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[SubscriptionCreateParams]
    ) -> Subscription:
        """Starts the trial, or places and charges the first order."""
        return await self._send(_create(params, idempotency_key))

    async def get(self, subscription_id: str) -> Subscription:
        return await self._send(_get(subscription_id))

    def list(self, **params: Unpack[SubscriptionListParams]) -> AsyncPager[Subscription]:
        return AsyncPager(lambda token: self._send(_list(params, token)))

    async def cancel(
        self,
        subscription_id: str,
        *,
        immediately: bool | None = None,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Cancels at the period's end (``cancel_at_period_end``), or at
        once with `immediately`, revoking its benefits."""
        return await self._send(_cancel(subscription_id, immediately, comment, idempotency_key))
