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
    promotion_codes_pb2,
    promotion_codes_pb2_grpc,
    public_pb2,
    public_pb2_grpc,
    purchases_pb2,
    purchases_pb2_grpc,
    taxes_pb2,
    taxes_pb2_grpc,
)
from billingos_catalog.discounts import DISCOUNT_MASK, DiscountService
from billingos_catalog.messages import (
    TAX_BEHAVIOR_CODEC,
    billing_address,
    discount_draft,
    discount_lookup,
    discount_message,
    ineligibility_value,
    order,
    price_draft,
    price_message,
    product_draft,
    product_message,
    promotion_code_draft,
    promotion_code_message,
    public_product_message,
    purchase_draft,
    purchase_message,
    redemption_draft,
    redemption_message,
    tax_rate_draft,
    tax_rate_message,
    tax_settings_message,
)
from billingos_catalog.product_benefits import ProductBenefits
from billingos_catalog.products import PRICE_MASK, PRODUCT_MASK, PriceService, ProductService
from billingos_catalog.promotion_codes import PROMOTION_CODE_MASK, PromotionCodeService
from billingos_catalog.public import PublicCatalog
from billingos_catalog.purchases import PurchaseService
from billingos_catalog.repository import (
    DiscountFilter,
    PriceFilter,
    ProductFilter,
    PromotionCodeFilter,
    TaxRateFilter,
)
from billingos_catalog.tax_rules import country_code
from billingos_catalog.taxes import TAX_RATE_MASK, TAX_SETTINGS_MASK, TaxService
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.errors import InvalidArgument
from billingos_kit.grpc.scope import current_scope
from billingos_kit.ids import parse_id
from billingos_kit.own_organization import check_own_organization
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
        check_own_organization(request.organization_id, current_scope().organization_id)
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

    async def AttachProductBenefit(
        self, request: products_pb2.AttachProductBenefitRequest, context: Context
    ) -> products_pb2.Product:
        product_id = parse_id(request.product_id, "product_id")
        benefit_id = parse_id(request.benefit_id, "benefit_id")
        view = await ProductBenefits(current_scope()).attach(product_id, benefit_id)
        return product_message(view)

    async def DetachProductBenefit(
        self, request: products_pb2.DetachProductBenefitRequest, context: Context
    ) -> products_pb2.Product:
        product_id = parse_id(request.product_id, "product_id")
        benefit_id = parse_id(request.benefit_id, "benefit_id")
        view = await ProductBenefits(current_scope()).detach(product_id, benefit_id)
        return product_message(view)


class PriceServicer(products_pb2_grpc.PriceServiceServicer):
    async def CreatePrice(
        self, request: products_pb2.CreatePriceRequest, context: Context
    ) -> products_pb2.Price:
        product_id = parse_id(request.product_id, "product_id")
        price = await PriceService(current_scope()).create(
            product_id, price_draft(request.price), transfer_lookup_key=request.transfer_lookup_key
        )
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

    async def GetPriceByLookupKey(
        self, request: products_pb2.GetPriceByLookupKeyRequest, context: Context
    ) -> products_pb2.Price:
        service = PriceService(current_scope())
        return price_message(await service.get_by_lookup_key(request.lookup_key))

    async def UpdatePrice(
        self, request: products_pb2.UpdatePriceRequest, context: Context
    ) -> products_pb2.Price:
        price_id = parse_id(request.price.id, "price.id")
        service = PriceService(current_scope())

        async def current() -> products_pb2.Price:
            return price_message(await service.get(price_id, for_update=True))

        paths = await PRICE_MASK.resolve(request.update_mask, request.price, current)
        price = await service.update(
            price_id,
            price_draft(request.price),
            paths,
            transfer_lookup_key=request.transfer_lookup_key,
        )
        return price_message(price)


class DiscountServicer(discounts_pb2_grpc.DiscountServiceServicer):
    def __init__(self, directory: CustomerDirectory | None = None) -> None:
        self._directory = directory

    def _service(self) -> DiscountService:
        return DiscountService(current_scope(), self._directory)

    async def CreateDiscount(
        self, request: discounts_pb2.CreateDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount = await self._service().create(discount_draft(request.discount))
        return discount_message(discount)

    async def GetDiscount(
        self, request: discounts_pb2.GetDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount_id = parse_id(request.id, "id")
        return discount_message(await self._service().get(discount_id))

    async def ListDiscounts(
        self, request: discounts_pb2.ListDiscountsRequest, context: Context
    ) -> discounts_pb2.ListDiscountsResponse:
        where = DiscountFilter(code=request.code or None)
        page = page_request(request.page_size, request.page_token, where)
        result = await self._service().list_page(where, page)
        return discounts_pb2.ListDiscountsResponse(
            discounts=[discount_message(discount) for discount in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateDiscount(
        self, request: discounts_pb2.UpdateDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount_id = parse_id(request.discount.id, "discount.id")
        service = self._service()

        async def current() -> discounts_pb2.Discount:
            return discount_message(await service.get(discount_id, for_update=True))

        paths = await DISCOUNT_MASK.resolve(request.update_mask, request.discount, current)
        discount = await service.update(discount_id, discount_draft(request.discount), paths)
        return discount_message(discount)

    async def DeleteDiscount(
        self, request: discounts_pb2.DeleteDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount_id = parse_id(request.id, "id")
        return discount_message(await self._service().delete(discount_id))

    async def ValidateDiscount(
        self, request: discounts_pb2.ValidateDiscountRequest, context: Context
    ) -> discounts_pb2.ValidateDiscountResponse:
        lookup, bought = discount_lookup(request), order(request)
        validation = await self._service().validate(lookup, bought)
        code = validation.promotion_code
        return discounts_pb2.ValidateDiscountResponse(
            discount=discount_message(validation.discount),
            applicable=validation.ineligibility is None,
            ineligibility=ineligibility_value(validation.ineligibility),
            promotion_code=promotion_code_message(code) if code is not None else None,
        )

    async def RedeemDiscount(
        self, request: discounts_pb2.RedeemDiscountRequest, context: Context
    ) -> discounts_pb2.DiscountRedemption:
        discount_id = parse_id(request.id, "id")
        service = self._service()
        redemption = await service.redeem(discount_id, redemption_draft(request))
        return redemption_message(redemption)


class PromotionCodeServicer(promotion_codes_pb2_grpc.PromotionCodeServiceServicer):
    async def CreatePromotionCode(
        self, request: promotion_codes_pb2.CreatePromotionCodeRequest, context: Context
    ) -> promotion_codes_pb2.PromotionCode:
        discount_id = parse_id(request.discount_id, "discount_id")
        draft = promotion_code_draft(request.promotion_code)
        code = await PromotionCodeService(current_scope()).create(discount_id, draft)
        return promotion_code_message(code)

    async def GetPromotionCode(
        self, request: promotion_codes_pb2.GetPromotionCodeRequest, context: Context
    ) -> promotion_codes_pb2.PromotionCode:
        code_id = parse_id(request.id, "id")
        return promotion_code_message(await PromotionCodeService(current_scope()).get(code_id))

    async def ListPromotionCodes(
        self, request: promotion_codes_pb2.ListPromotionCodesRequest, context: Context
    ) -> promotion_codes_pb2.ListPromotionCodesResponse:
        where = PromotionCodeFilter(discount_id=parse_id(request.discount_id, "discount_id"))
        page = page_request(request.page_size, request.page_token, where)
        result = await PromotionCodeService(current_scope()).list_page(where, page)
        return promotion_codes_pb2.ListPromotionCodesResponse(
            promotion_codes=[promotion_code_message(code) for code in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdatePromotionCode(
        self, request: promotion_codes_pb2.UpdatePromotionCodeRequest, context: Context
    ) -> promotion_codes_pb2.PromotionCode:
        code_id = parse_id(request.promotion_code.id, "promotion_code.id")
        service = PromotionCodeService(current_scope())

        async def current() -> promotion_codes_pb2.PromotionCode:
            return promotion_code_message(await service.get(code_id, for_update=True))

        paths = await PROMOTION_CODE_MASK.resolve(
            request.update_mask, request.promotion_code, current
        )
        draft = promotion_code_draft(request.promotion_code)
        return promotion_code_message(await service.update(code_id, draft, paths))


class PurchaseAdminServicer(purchases_pb2_grpc.PurchaseAdminServiceServicer):
    async def RecordPurchase(
        self, request: purchases_pb2.RecordPurchaseRequest, context: Context
    ) -> purchases_pb2.Purchase:
        service = PurchaseService(current_scope())
        return purchase_message(await service.record(purchase_draft(request.purchase)))


class TaxServicer(taxes_pb2_grpc.TaxServiceServicer):
    async def CreateTaxRate(
        self, request: taxes_pb2.CreateTaxRateRequest, context: Context
    ) -> taxes_pb2.TaxRate:
        rate = await TaxService(current_scope()).create(tax_rate_draft(request.tax_rate))
        return tax_rate_message(rate)

    async def GetTaxRate(
        self, request: taxes_pb2.GetTaxRateRequest, context: Context
    ) -> taxes_pb2.TaxRate:
        rate_id = parse_id(request.id, "id")
        return tax_rate_message(await TaxService(current_scope()).get(rate_id))

    async def ListTaxRates(
        self, request: taxes_pb2.ListTaxRatesRequest, context: Context
    ) -> taxes_pb2.ListTaxRatesResponse:
        country = None
        if request.country:
            country = country_code(request.country)
            if country is None:
                raise InvalidArgument("country", "must be an ISO 3166-1 alpha-2 country code")
        where = TaxRateFilter(country=country)
        page = page_request(request.page_size, request.page_token, where)
        result = await TaxService(current_scope()).list_page(where, page)
        return taxes_pb2.ListTaxRatesResponse(
            tax_rates=[tax_rate_message(rate) for rate in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateTaxRate(
        self, request: taxes_pb2.UpdateTaxRateRequest, context: Context
    ) -> taxes_pb2.TaxRate:
        rate_id = parse_id(request.tax_rate.id, "tax_rate.id")
        service = TaxService(current_scope())

        async def current() -> taxes_pb2.TaxRate:
            return tax_rate_message(await service.get(rate_id, for_update=True))

        paths = await TAX_RATE_MASK.resolve(request.update_mask, request.tax_rate, current)
        rate = await service.update(rate_id, tax_rate_draft(request.tax_rate), paths)
        return tax_rate_message(rate)

    async def DeleteTaxRate(
        self, request: taxes_pb2.DeleteTaxRateRequest, context: Context
    ) -> taxes_pb2.TaxRate:
        rate_id = parse_id(request.id, "id")
        return tax_rate_message(await TaxService(current_scope()).delete(rate_id))

    async def ResolveTaxRate(
        self, request: taxes_pb2.ResolveTaxRateRequest, context: Context
    ) -> taxes_pb2.ResolveTaxRateResponse:
        resolved = await TaxService(current_scope()).resolve(billing_address(request.address))
        return taxes_pb2.ResolveTaxRateResponse(
            tax_rate=tax_rate_message(resolved.rate) if resolved.rate is not None else None,
            default_tax_behavior=TAX_BEHAVIOR_CODEC.to_proto(resolved.default_tax_behavior),
        )

    async def GetTaxSettings(
        self, request: taxes_pb2.GetTaxSettingsRequest, context: Context
    ) -> taxes_pb2.TaxSettings:
        return tax_settings_message(await TaxService(current_scope()).settings())

    async def UpdateTaxSettings(
        self, request: taxes_pb2.UpdateTaxSettingsRequest, context: Context
    ) -> taxes_pb2.TaxSettings:
        service = TaxService(current_scope())

        async def current() -> taxes_pb2.TaxSettings:
            return tax_settings_message(await service.settings())

        paths = await TAX_SETTINGS_MASK.resolve(request.update_mask, request.tax_settings, current)
        behavior = TAX_BEHAVIOR_CODEC.from_proto(request.tax_settings.default_tax_behavior)
        return tax_settings_message(await service.update_settings(behavior, paths))


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
