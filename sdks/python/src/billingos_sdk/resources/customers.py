"""``/v1/customers``: create, read, update and delete customers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict, Unpack

from .._http import Operation, path
from ..models import Customer
from ..pagination import AsyncPager, Page, SyncPager
from ._base import AsyncResource, Metadata, SyncResource, page_of, present


class AddressInput(TypedDict, total=False):
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str
    """ISO 3166-1 alpha-2 (e.g. ``"FR"``); required when an address is given."""


class CustomerFields(TypedDict, total=False):
    """The fields a merchant sets on a customer (create and update)."""

    email: str
    external_id: str
    name: str
    metadata: Metadata
    billing_address: AddressInput


class CustomerCreateParams(CustomerFields, total=False):
    organization_id: str
    """Optional; when given it must be the API key's own organization
    (otherwise `InvalidRequestError`, reason ``ORGANIZATION_NOT_OWN``)."""
    test_clock_id: str
    """Puts the customer on a test clock; cannot change later."""


class CustomerListParams(TypedDict, total=False):
    email: str
    external_id: str
    organization_id: str
    page_size: int


_list_page = page_of("customers", Customer.from_json)


def _create(params: Mapping[str, object], key: str | None) -> Operation[Customer]:
    return Operation(
        "POST", "/v1/customers", Customer.from_json, body=present(params), idempotency_key=key
    )


def _get(customer_id: str) -> Operation[Customer]:
    return Operation("GET", path("/v1/customers/{}", customer_id), Customer.from_json)


def _get_by_external_id(external_id: str) -> Operation[Customer]:
    return Operation("GET", path("/v1/customers/external/{}", external_id), Customer.from_json)


def _update(
    customer_id: str,
    fields: Mapping[str, object],
    update_mask: Sequence[str] | None,
    key: str | None,
) -> Operation[Customer]:
    # The mask defaults to the fields given, so `name=""` clears the name
    # (without a mask the server skips empty values).
    mask = ",".join(update_mask if update_mask is not None else fields.keys())
    return Operation(
        "PATCH",
        path("/v1/customers/{}", customer_id),
        Customer.from_json,
        query={"update_mask": mask or None},
        body=dict(fields),
        idempotency_key=key,
    )


def _delete(customer_id: str, key: str | None) -> Operation[Customer]:
    return Operation(
        "DELETE", path("/v1/customers/{}", customer_id), Customer.from_json, idempotency_key=key
    )


def _list(params: Mapping[str, object], page_token: str) -> Operation[Page[Customer]]:
    query = {**present(params), "page_token": page_token or None}
    return Operation("GET", "/v1/customers", _list_page, query=query)


class Customers(SyncResource):
    def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[CustomerCreateParams]
    ) -> Customer:
        return self._send(_create(params, idempotency_key))

    def get(self, customer_id: str) -> Customer:
        return self._send(_get(customer_id))

    def get_by_external_id(self, external_id: str) -> Customer:
        return self._send(_get_by_external_id(external_id))

    def update(
        self,
        customer_id: str,
        *,
        update_mask: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        **fields: Unpack[CustomerFields],
    ) -> Customer:
        """Changes the fields given (or those `update_mask` names)."""
        return self._send(_update(customer_id, fields, update_mask, idempotency_key))

    def delete(self, customer_id: str, *, idempotency_key: str | None = None) -> Customer:
        """Soft-deletes: the answer has ``delete_time`` set, and the external
        id becomes free for another customer."""
        return self._send(_delete(customer_id, idempotency_key))

    def list(self, **params: Unpack[CustomerListParams]) -> SyncPager[Customer]:
        """Every customer matching the filters, newest first."""
        return SyncPager(lambda token: self._send(_list(params, token)))


class AsyncCustomers(AsyncResource):
    async def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[CustomerCreateParams]
    ) -> Customer:
        return await self._send(_create(params, idempotency_key))

    async def get(self, customer_id: str) -> Customer:
        return await self._send(_get(customer_id))

    async def get_by_external_id(self, external_id: str) -> Customer:
        return await self._send(_get_by_external_id(external_id))

    async def update(
        self,
        customer_id: str,
        *,
        update_mask: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        **fields: Unpack[CustomerFields],
    ) -> Customer:
        """Changes the fields given (or those `update_mask` names)."""
        return await self._send(_update(customer_id, fields, update_mask, idempotency_key))

    async def delete(self, customer_id: str, *, idempotency_key: str | None = None) -> Customer:
        """Soft-deletes: the answer has ``delete_time`` set, and the external
        id becomes free for another customer."""
        return await self._send(_delete(customer_id, idempotency_key))

    def list(self, **params: Unpack[CustomerListParams]) -> AsyncPager[Customer]:
        """Every customer matching the filters, newest first (``async for``)."""
        return AsyncPager(lambda token: self._send(_list(params, token)))
