"""The catalog and customers as the engine knows them: the read copies built
from their state streams, and, for an entity not in a copy yet (made a
moment ago, its event still on its way), one question to its owner whose
answer goes into the copy as the event would."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from billingos.catalog.v1 import products_pb2, taxes_pb2
from billingos.common.v1 import address_pb2
from billingos.customers.v1 import customers_pb2
from billingos_kit.customer_directory import CustomerDirectory, updated_at_of
from billingos_kit.errors import Unavailable
from billingos_kit.ids import canonical_id
from billingos_kit.repository import DataScope
from billingos_subscriptions.clients import CatalogClient
from billingos_subscriptions.models import CustomerCopy, PriceCopy, ProductCopy, TaxRateCopy
from billingos_subscriptions.repository import CustomerCopies, PriceCopies, ProductCopies

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _time(message: products_pb2.Product | products_pb2.Price) -> dt.datetime:
    if message.HasField("update_time"):
        return message.update_time.ToDatetime(tzinfo=dt.UTC)
    if message.HasField("create_time"):
        return message.create_time.ToDatetime(tzinfo=dt.UTC)
    return EPOCH


def product_copy(product: products_pb2.Product, organization_id: uuid.UUID) -> ProductCopy | None:
    product_id = canonical_id(product.id)
    if product_id is None:
        return None
    return ProductCopy(
        product_id, organization_id, product.archived, product.SerializeToString(), _time(product)
    )


def price_copy(price: products_pb2.Price, organization_id: uuid.UUID) -> PriceCopy | None:
    price_id = canonical_id(price.id)
    product_id = canonical_id(price.product_id)
    if price_id is None or product_id is None:
        return None
    return PriceCopy(
        price_id,
        organization_id,
        product_id,
        price.archived,
        price.SerializeToString(),
        _time(price),
    )


def customer_copy(
    customer: customers_pb2.Customer, organization_id: uuid.UUID, *, deleted: bool = False
) -> CustomerCopy | None:
    customer_id = canonical_id(customer.id)
    if customer_id is None:
        return None
    updated = updated_at_of(customer, EPOCH)
    deleted_at = None
    if deleted or customer.HasField("delete_time"):
        deleted_at = (
            customer.delete_time.ToDatetime(tzinfo=dt.UTC)
            if customer.HasField("delete_time")
            else updated
        )
    clock = canonical_id(customer.test_clock_id) if customer.test_clock_id else None
    country, region = _place(customer)
    return CustomerCopy(customer_id, organization_id, clock, deleted_at, updated, country, region)


def _place(customer: customers_pb2.Customer) -> tuple[str | None, str | None]:
    if not customer.HasField("billing_address"):
        return None, None
    return place_of(customer.billing_address)


def place_of(address: address_pb2.Address) -> tuple[str | None, str | None]:
    """The billing address's country and region codes, as the catalog reads
    an address for its rate (a state given as "US-CA" or "ca" is "CA"). A
    state that is no subdivision code gets the country's rate."""
    if not address.country:
        return None, None
    country = address.country.strip().upper()
    state = address.state.strip()
    prefix = f"{country}-"
    code = state[len(prefix) :] if state[: len(prefix)].upper() == prefix else state
    region = code.upper() if _REGION.fullmatch(code) else ""
    return country, region


_REGION = re.compile(r"[A-Za-z0-9]{1,3}")


def tax_rate_copy(
    rate: taxes_pb2.TaxRate, organization_id: uuid.UUID, *, deleted: bool = False
) -> TaxRateCopy | None:
    rate_id = canonical_id(rate.id)
    if rate_id is None or not rate.country:
        return None
    updated = rate.update_time.ToDatetime(tzinfo=dt.UTC) if rate.HasField("update_time") else EPOCH
    return TaxRateCopy(
        rate_id,
        organization_id,
        rate.country.upper(),
        rate.region.upper(),
        rate.percentage,
        rate.inclusive,
        updated if deleted else None,
        updated,
    )


class Catalog:
    """Products, prices and customers for one organization's call."""

    def __init__(
        self, scope: DataScope, catalog: CatalogClient, directory: CustomerDirectory
    ) -> None:
        self._scope = scope
        self._catalog = catalog
        self._directory = directory
        self.products = ProductCopies(scope)
        self.prices = PriceCopies(scope)
        self.customers = CustomerCopies(scope)
        # Products this call has just read from the catalog itself.
        self._fresh: set[str] = set()

    async def product(
        self, product_id: uuid.UUID, *, fresh: bool = False
    ) -> products_pb2.Product | None:
        """The product from the copy, asked of the catalog when the copy has
        not heard of it, or when `fresh` (a purchase: a product or price
        archived a moment ago must not be bought; the copy when the catalog
        is down)."""
        found = await self.products.get(product_id)
        if found is None or fresh:
            try:
                asked = await self._catalog.product(self._scope.organization_id, product_id)
            except Unavailable:
                if found is None:
                    raise
                asked = None
            else:
                if asked is None:
                    return None
            if asked is not None:
                await self._learn_product(asked)
                self._fresh.add(asked.id)
                return asked
        assert found is not None
        message = products_pb2.Product()
        message.ParseFromString(found.payload)
        return message

    async def _learn_product(self, product: products_pb2.Product) -> None:
        copy = product_copy(product, self._scope.organization_id)
        if copy is None:
            return
        await self.products.remember(copy)
        for price in product.prices:
            price_row = price_copy(price, self._scope.organization_id)
            if price_row is not None:
                await self.prices.remember(price_row)

    async def price(self, price_id: uuid.UUID, *, fresh: bool = False) -> products_pb2.Price | None:
        found = await self.prices.get(price_id)
        if found is None or fresh:
            try:
                asked = await self._catalog.price(self._scope.organization_id, price_id)
            except Unavailable:
                if found is None:
                    raise
                asked = None
            else:
                if asked is None:
                    return None
            if asked is not None:
                copy = price_copy(asked, self._scope.organization_id)
                if copy is not None:
                    await self.prices.remember(copy)
                return asked
        assert found is not None
        message = products_pb2.Price()
        message.ParseFromString(found.payload)
        return message

    async def prices_of(self, product: products_pb2.Product) -> list[products_pb2.Price]:
        """The product's prices: for a product just asked of the catalog,
        the active prices its answer lists; otherwise its price copies and
        the prices its message lists (a product's event can come before its
        prices'), the newer state of each."""
        if product.id in self._fresh:
            return sorted(product.prices, key=lambda price: price.id)
        found: dict[str, products_pb2.Price] = {}
        for row in await self.prices.of_product(uuid.UUID(product.id)):
            message = products_pb2.Price()
            message.ParseFromString(row.payload)
            found[message.id] = message
        for listed in product.prices:
            known = found.get(listed.id)
            if known is None or _time(listed) > _time(known):
                found[listed.id] = listed
        return sorted(found.values(), key=lambda price: price.id)

    async def customer(self, customer_id: uuid.UUID, *, fresh: bool = False) -> CustomerCopy | None:
        """The customer from the copy; asked of the customers service when
        the copy has not heard of it, or when `fresh` (a purchase: its
        billing address, just changed, decides the first order's tax)."""
        found = await self.customers.get(customer_id)
        if found is not None and not fresh:
            return found
        try:
            asked = await self._directory.find(self._scope.organization_id, customer_id)
        except Unavailable:
            if found is None:
                raise
            return found  # the copy's view, when the customers service is down
        if asked is None:
            return found
        copy = customer_copy(asked, self._scope.organization_id)
        if copy is None:
            return found
        await self.customers.remember(copy)
        return await self.customers.get(customer_id) or copy
