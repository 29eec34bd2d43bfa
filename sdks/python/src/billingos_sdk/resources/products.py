"""``/v1/products``: the catalog, read side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict, Unpack

from .._http import Operation, path
from ..models import Product
from ..pagination import AsyncPager, Page, SyncPager
from ._base import AsyncResource, SyncResource, page_of, present


class ProductListParams(TypedDict, total=False):
    archived: bool
    """Only archived (True) or only active (False); both when unset."""
    recurring: bool
    """Only subscription (True) or one-time (False) products."""
    query: str
    """Only products whose name contains this (case-insensitive)."""
    organization_id: str
    page_size: int


_list_page = page_of("products", Product.from_json)


def _get(product_id: str) -> Operation[Product]:
    return Operation("GET", path("/v1/products/{}", product_id), Product.from_json)


def _list(params: Mapping[str, object], page_token: str) -> Operation[Page[Product]]:
    query = {**present(params), "page_token": page_token or None}
    return Operation("GET", "/v1/products", _list_page, query=query)


class Products(SyncResource):
    def get(self, product_id: str) -> Product:
        """The product with its prices that are not archived."""
        return self._send(_get(product_id))

    def list(self, **params: Unpack[ProductListParams]) -> SyncPager[Product]:
        return SyncPager(lambda token: self._send(_list(params, token)))


class AsyncProducts(AsyncResource):
    async def get(self, product_id: str) -> Product:
        """The product with its prices that are not archived."""
        return await self._send(_get(product_id))

    def list(self, **params: Unpack[ProductListParams]) -> AsyncPager[Product]:
        return AsyncPager(lambda token: self._send(_list(params, token)))
