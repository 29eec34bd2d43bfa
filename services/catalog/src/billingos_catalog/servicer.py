"""gRPC adapters: request message in, domain call, response message out. No
SQL and no rules here; the kit's pipeline has already checked the caller,
resolved the organization and opened the unit of work."""

from __future__ import annotations

import hashlib
from typing import Any

import grpc

from billingos.catalog.v1 import (
    discounts_pb2,
    discounts_pb2_grpc,
    products_pb2,
    products_pb2_grpc,
    public_pb2,
    public_pb2_grpc,
)
from billingos_catalog.discounts import DISCOUNT_MASK, DiscountService
from billingos_catalog.messages import (
    discount_draft,
    discount_lookup,
    discount_message,
    ineligibility_value,
    price_draft,
    price_message,
    product_draft,
    product_message,
    public_product_message,
    purchase,
    redemption_draft,
    redemption_message,
)
from billingos_catalog.products import PRICE_MASK, PRODUCT_MASK, PriceService, ProductService
from billingos_catalog.public import PublicCatalog
from billingos_catalog.repository import DiscountFilter, PriceFilter, ProductFilter
from billingos_kit.grpc.scope import current_scope
from billingos_kit.ids import parse_id
from billingos_kit.pagination import page_request
from billingos_kit.protoconv import optional_bool

Context = grpc.aio.ServicerContext[Any, Any]


class ProductServicer(products_pb2_grpc.ProductServiceServicer):
    async def CreateProduct(
        self, request: products_pb2.CreateProductRequest, context: Context
    ) -> products_pb2.Product:
        view = await ProductService(current_scope()).create(product_draft(request.product))
        return product_message(view)

    async def GetProduct(
        self, request: products_pb2.GetProductRequest, context: Context
    ) -> products_pb2.Product:
        product_id = parse_id(request.id, "id")
        return product_message(await ProductService(current_scope()).get(product_id))

    async def ListProducts(
        self, request: products_pb2.ListProductsRequest, context: Context
    ) -> products_pb2.ListProductsResponse:
        where = ProductFilter(
            archived=optional_bool(request, "archived"),
            recurring=optional_bool(request, "recurring"),
            name_contains=request.query or None,
        )
        page = page_request(request.page_size, request.page_token, where)
        result = await ProductService(current_scope()).list_page(where, page)
        return products_pb2.ListProductsResponse(
            products=[product_message(view) for view in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateProduct(
        self, request: products_pb2.UpdateProductRequest, context: Context
    ) -> products_pb2.Product:
        product_id = parse_id(request.product.id, "product.id")
        service = ProductService(current_scope())

        async def current() -> products_pb2.Product:
            return product_message(await service.get(product_id, for_update=True))

        paths = await PRODUCT_MASK.resolve(request.update_mask, request.product, current)
        view = await service.update(product_id, product_draft(request.product), paths)
        return product_message(view)


class PriceServicer(products_pb2_grpc.PriceServiceServicer):
    async def CreatePrice(
        self, request: products_pb2.CreatePriceRequest, context: Context
    ) -> products_pb2.Price:
        product_id = parse_id(request.product_id, "product_id")
        price = await PriceService(current_scope()).create(product_id, price_draft(request.price))
        return price_message(price)

    async def ListPrices(
        self, request: products_pb2.ListPricesRequest, context: Context
    ) -> products_pb2.ListPricesResponse:
        where = PriceFilter(
            product_id=parse_id(request.product_id, "product_id"),
            archived=optional_bool(request, "archived"),
        )
        page = page_request(request.page_size, request.page_token, where)
        result = await PriceService(current_scope()).list_page(where, page)
        return products_pb2.ListPricesResponse(
            prices=[price_message(price) for price in result.items],
            next_page_token=result.next_page_token,
        )

    async def GetPrice(
        self, request: products_pb2.GetPriceRequest, context: Context
    ) -> products_pb2.Price:
        price_id = parse_id(request.id, "id")
        return price_message(await PriceService(current_scope()).get(price_id))

    async def UpdatePrice(
        self, request: products_pb2.UpdatePriceRequest, context: Context
    ) -> products_pb2.Price:
        price_id = parse_id(request.price.id, "price.id")
        service = PriceService(current_scope())

        async def current() -> products_pb2.Price:
            return price_message(await service.get(price_id, for_update=True))

        paths = await PRICE_MASK.resolve(request.update_mask, request.price, current)
        price = await service.archive(price_id, paths, request.price.archived)
        return price_message(price)


class DiscountServicer(discounts_pb2_grpc.DiscountServiceServicer):
    async def CreateDiscount(
        self, request: discounts_pb2.CreateDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount = await DiscountService(current_scope()).create(discount_draft(request.discount))
        return discount_message(discount)

    async def GetDiscount(
        self, request: discounts_pb2.GetDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount_id = parse_id(request.id, "id")
        return discount_message(await DiscountService(current_scope()).get(discount_id))

    async def ListDiscounts(
        self, request: discounts_pb2.ListDiscountsRequest, context: Context
    ) -> discounts_pb2.ListDiscountsResponse:
        where = DiscountFilter(code=request.code or None)
        page = page_request(request.page_size, request.page_token, where)
        result = await DiscountService(current_scope()).list_page(where, page)
        return discounts_pb2.ListDiscountsResponse(
            discounts=[discount_message(discount) for discount in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateDiscount(
        self, request: discounts_pb2.UpdateDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount_id = parse_id(request.discount.id, "discount.id")
        service = DiscountService(current_scope())

        async def current() -> discounts_pb2.Discount:
            return discount_message(await service.get(discount_id, for_update=True))

        paths = await DISCOUNT_MASK.resolve(request.update_mask, request.discount, current)
        discount = await service.update(discount_id, discount_draft(request.discount), paths)
        return discount_message(discount)

    async def DeleteDiscount(
        self, request: discounts_pb2.DeleteDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount_id = parse_id(request.id, "id")
        return discount_message(await DiscountService(current_scope()).delete(discount_id))

    async def ValidateDiscount(
        self, request: discounts_pb2.ValidateDiscountRequest, context: Context
    ) -> discounts_pb2.ValidateDiscountResponse:
        lookup, bought = discount_lookup(request), purchase(request)
        validation = await DiscountService(current_scope()).validate(lookup, bought)
        return discounts_pb2.ValidateDiscountResponse(
            discount=discount_message(validation.discount),
            applicable=validation.ineligibility is None,
            ineligibility=ineligibility_value(validation.ineligibility),
        )

    async def RedeemDiscount(
        self, request: discounts_pb2.RedeemDiscountRequest, context: Context
    ) -> discounts_pb2.DiscountRedemption:
        discount_id = parse_id(request.id, "id")
        service = DiscountService(current_scope())
        redemption = await service.redeem(discount_id, redemption_draft(request))
        return redemption_message(redemption)


class PublicCatalogServicer(public_pb2_grpc.PublicCatalogServiceServicer):
    def __init__(self, cache_seconds: int) -> None:
        self._cache_control = f"public, max-age={cache_seconds}"

    async def ListPublicProducts(
        self, request: public_pb2.ListPublicProductsRequest, context: Context
    ) -> public_pb2.ListPublicProductsResponse:
        """Also sets the HTTP caching headers: browsers and CDNs may reuse the
        page for `public_cache_seconds`, and revalidate it by its ETag."""
        page = page_request(
            request.page_size, request.page_token, {"organization": request.organization}
        )
        result = await PublicCatalog(current_scope()).products(request.organization, page)
        response = public_pb2.ListPublicProductsResponse(
            products=[public_product_message(view) for view in result.items],
            next_page_token=result.next_page_token,
        )
        digest = hashlib.sha256(response.SerializeToString(deterministic=True)).hexdigest()
        await context.send_initial_metadata(
            (("cache-control", self._cache_control), ("etag", f'"{digest[:32]}"'))
        )
        return response
