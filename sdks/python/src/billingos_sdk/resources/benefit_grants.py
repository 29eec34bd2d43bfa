"""``/v1/benefit-grants``: which benefits customers hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict, Unpack

from .._http import Operation
from ..models import BenefitGrant
from ..pagination import AsyncPager, Page, SyncPager
from ._base import AsyncResource, SyncResource, page_of, present


class BenefitGrantListParams(TypedDict, total=False):
    customer_id: str
    external_customer_id: str
    benefit_id: str
    subscription_id: str
    is_granted: bool
    """True: granted now; False: revoked; unset: both."""
    page_size: int


_list_page = page_of("benefit_grants", BenefitGrant.from_json)


def _list(params: Mapping[str, object], page_token: str) -> Operation[Page[BenefitGrant]]:
    query = {**present(params), "page_token": page_token or None}
    return Operation("GET", "/v1/benefit-grants", _list_page, query=query)


class BenefitGrants(SyncResource):
    def list(self, **params: Unpack[BenefitGrantListParams]) -> SyncPager[BenefitGrant]:
        """Every grant matching the filters, newest first."""
        return SyncPager(lambda token: self._send(_list(params, token)))


class AsyncBenefitGrants(AsyncResource):
    def list(self, **params: Unpack[BenefitGrantListParams]) -> AsyncPager[BenefitGrant]:
        """Every grant matching the filters, newest first (``async for``)."""
        return AsyncPager(lambda token: self._send(_list(params, token)))
