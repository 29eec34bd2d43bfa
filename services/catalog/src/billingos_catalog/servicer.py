"""gRPC adapters: request message in, service call, response message out. No
SQL and no rules; the kit's pipeline has opened the transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import grpc
from google.protobuf.message import Message

from billingos.catalog.v1 import (
    discounts_pb2,
    discounts_pb2_grpc,
    products_pb2,
    products_pb2_grpc,
    public_pb2,
    public_pb2_grpc,
)
from billingos_catalog.discounts import CODE_PATTERN, DiscountDraft, DiscountService
from billingos_catalog.discounts import FIXED_FIELDS as DISCOUNT_FIXED_FIELDS
from billingos_catalog.discounts import UPDATABLE_FIELDS as DISCOUNT_FIELDS
from billingos_catalog.messages import (
    DURATION_FROM_PROTO,
    INTERVAL_FROM_PROTO,
    TIER_MODE_FROM_PROTO,
    discount_message,
    price_message,
    product_message,
    public_product_message,
    redemption_message,
)
from billingos_catalog.periods import PeriodSpec
from billingos_catalog.prices import PriceDraft, PriceService
from billingos_catalog.products import FIXED_FIELDS as PRODUCT_FIXED_FIELDS
from billingos_catalog.products import UPDATABLE_FIELDS as PRODUCT_FIELDS
from billingos_catalog.products import ProductDraft, ProductService
from billingos_catalog.public import PublicCatalog
from billingos_kit.errors import InvalidArgument
from billingos_kit.fieldmask import fields_to_update
from billingos_kit.grpc.scope import current_scope
from billingos_kit.ids import parse_id
from billingos_kit.pagination import page_request
from billingos_kit.protoconv import MetadataReader
from billingos_kit.validation import ascii_lower
from billingos_pricing.amounts import SeatTier
from billingos_pricing.currencies import UnknownCurrency, normalize_currency

Context = grpc.aio.ServicerContext[Any, Any]
# What a request may carry about a price (output-only fields aside).
PRICE_FIELDS = (
    "currency",
    "recurring",
    "fixed",
    "free",
    "custom",
    "metered_unit",
    "seat_based",
    "archived",
)


def period_spec(message: products_pb2.Period) -> PeriodSpec:
    return PeriodSpec(INTERVAL_FROM_PROTO.get(message.interval), message.count)


def price_draft(message: products_pb2.Price) -> PriceDraft:
    kind = message.WhichOneof("amount")
    recurring = period_spec(message.recurring) if message.HasField("recurring") else None
    if kind == "fixed":
        return PriceDraft(
            message.currency, recurring, kind, amount_minor=message.fixed.amount_minor
        )
    if kind == "custom":
        custom = message.custom
        return PriceDraft(
            message.currency,
            recurring,
            kind,
            minimum_amount_minor=custom.minimum_amount_minor,
            maximum_amount_minor=(
                custom.maximum_amount_minor if custom.HasField("maximum_amount_minor") else None
            ),
            preset_amount_minor=(
                custom.preset_amount_minor if custom.HasField("preset_amount_minor") else None
            ),
        )
    if kind == "metered_unit":
        metered = message.metered_unit
        return PriceDraft(
            message.currency,
            recurring,
            kind,
            unit_amount=metered.unit_amount,
            meter_id=metered.meter_id,
            cap_amount_minor=(
                metered.cap_amount_minor if metered.HasField("cap_amount_minor") else None
            ),
        )
    if kind == "seat_based":
        seats = message.seat_based
        return PriceDraft(
            message.currency,
            recurring,
            kind,
            tier_mode=TIER_MODE_FROM_PROTO.get(seats.tier_mode),
            tiers=tuple(
                SeatTier(
                    tier.from_seats,
                    tier.to_seats if tier.HasField("to_seats") else None,
                    tier.amount_per_seat_minor,
                )
                for tier in seats.tiers
            ),
        )
    return PriceDraft(message.currency, recurring, kind)


def product_draft(message: products_pb2.Product) -> ProductDraft:
    metadata = MetadataReader()
    draft = ProductDraft(
        name=message.name,
        description=message.description,
        recurring=period_spec(message.recurring) if message.HasField("recurring") else None,
        trial=period_spec(message.trial) if message.HasField("trial") else None,
        metadata=metadata.read(message.metadata, "product.metadata"),
        public_metadata=metadata.read(message.public_metadata, "product.public_metadata"),
        archived=message.archived,
        prices=tuple(price_draft(price) for price in message.prices),
    )
    metadata.raise_if_any()
    return draft


def discount_draft(message: discounts_pb2.Discount) -> DiscountDraft:
    metadata = MetadataReader()
    effect = message.WhichOneof("effect")
    draft = DiscountDraft(
        name=message.name,
        code=message.code,
        basis_points=message.percent_off.basis_points if effect == "percent_off" else None,
        amounts_off=(
            tuple((m.currency, m.amount_minor) for m in message.amount_off.amounts)
            if effect == "amount_off"
            else None
        ),
        duration=DURATION_FROM_PROTO.get(message.duration),
        duration_in_intervals=message.duration_in_intervals,
        max_redemptions=(message.max_redemptions if message.HasField("max_redemptions") else None),
        starts_at=(
            message.start_time.ToDatetime(tzinfo=dt.UTC) if message.HasField("start_time") else None
        ),
        ends_at=message.end_time.ToDatetime(tzinfo=dt.UTC)
        if message.HasField("end_time")
        else None,
        product_ids=tuple(message.product_ids),
        metadata=metadata.read(message.metadata, "discount.metadata"),
    )
    metadata.raise_if_any()
    return draft


def _paths_to_update(
    request: Any,
    resource: str,
    updatable: tuple[str, ...],
    fixed: Any,
    current: Message | None = None,
) -> list[str]:
    """The masked paths. An explicit mask may name a fixed field (and gets an
    error saying why it cannot change). Without a mask (AIP-134's implied
    mask) the updatable fields given count, and so does any fixed field given
    with a value other than the current one (`current`): sending back a whole
    resource unchanged works, a changed amount is refused, never ignored."""
    message = getattr(request, resource)
    if request.update_mask.paths:
        return fields_to_update(request.update_mask, message, (*updatable, *fixed))
    paths = fields_to_update(request.update_mask, message, updatable)
    if current is not None:
        paths += changed_fields(message, current, fixed)
    return paths


def changed_fields(requested: Message, current: Message, names: Any) -> list[str]:
    """Fields among `names` the request sets to something else than `current`."""
    given = {field.name for field, _ in requested.ListFields()}
    return [
        name
        for name in names
        if name in given and getattr(requested, name) != getattr(current, name)
    ]


def _bool_filter(request: Any, name: str) -> bool | None:
    return bool(getattr(request, name).value) if request.HasField(name) else None


def _currency(value: str, field: str) -> str:
    try:
        return normalize_currency(value)
    except UnknownCurrency:
        raise InvalidArgument(field, "must be an ISO 4217 code BillingOS supports") from None


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
        archived = _bool_filter(request, "archived")
        recurring = _bool_filter(request, "recurring")
        filters = {"archived": str(archived), "recurring": str(recurring), "query": request.query}
        page = page_request(request.page_size, request.page_token, filters)
        result = await ProductService(current_scope()).list_page(
            page, archived=archived, recurring=recurring, query_text=request.query or None
        )
        return products_pb2.ListProductsResponse(
            products=[product_message(v) for v in result.products],
            next_page_token=result.next_page_token,
        )

    async def UpdateProduct(
        self, request: products_pb2.UpdateProductRequest, context: Context
    ) -> products_pb2.Product:
        product_id = parse_id(request.product.id, "product.id")
        service = ProductService(current_scope())
        current = None
        if not request.update_mask.paths:
            current = product_message(await service.get(product_id))
        paths = _paths_to_update(request, "product", PRODUCT_FIELDS, PRODUCT_FIXED_FIELDS, current)
        draft = product_draft(request.product)
        view = await service.update(product_id, draft, paths)
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
        product_id = parse_id(request.product_id, "product_id")
        archived = _bool_filter(request, "archived")
        page = page_request(
            request.page_size,
            request.page_token,
            {"product_id": str(product_id), "archived": str(archived)},
        )
        result = await PriceService(current_scope()).list_page(product_id, page, archived=archived)
        return products_pb2.ListPricesResponse(
            prices=[price_message(p) for p in result.prices],
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
        paths = list(request.update_mask.paths)
        if not paths:
            # Implied mask: whatever differs from the price as it is; anything
            # but `archived` is then refused as an edit.
            current = price_message(await service.get(price_id))
            paths = changed_fields(request.price, current, PRICE_FIELDS)
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
        if request.code and not CODE_PATTERN.matches(request.code):
            raise InvalidArgument("code", f"must be {CODE_PATTERN.description}")
        page = page_request(
            request.page_size, request.page_token, {"code": ascii_lower(request.code)}
        )
        result = await DiscountService(current_scope()).list_page(page, code=request.code or None)
        return discounts_pb2.ListDiscountsResponse(
            discounts=[discount_message(d) for d in result.discounts],
            next_page_token=result.next_page_token,
        )

    async def UpdateDiscount(
        self, request: discounts_pb2.UpdateDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount_id = parse_id(request.discount.id, "discount.id")
        service = DiscountService(current_scope())
        current = None
        if not request.update_mask.paths:
            current = discount_message(await service.get(discount_id))
        paths = _paths_to_update(
            request, "discount", DISCOUNT_FIELDS, DISCOUNT_FIXED_FIELDS, current
        )
        draft = discount_draft(request.discount)
        discount = await service.update(discount_id, draft, paths)
        return discount_message(discount)

    async def DeleteDiscount(
        self, request: discounts_pb2.DeleteDiscountRequest, context: Context
    ) -> discounts_pb2.Discount:
        discount_id = parse_id(request.id, "id")
        return discount_message(await DiscountService(current_scope()).delete(discount_id))

    async def ValidateDiscount(
        self, request: discounts_pb2.ValidateDiscountRequest, context: Context
    ) -> discounts_pb2.ValidateDiscountResponse:
        if not request.code and not request.discount_id:
            raise InvalidArgument("code", "give a code or a discount_id")
        discount_id = parse_id(request.discount_id, "discount_id") if request.discount_id else None
        validation = await DiscountService(current_scope()).validate(
            code=request.code,
            discount_id=discount_id,
            product_id=parse_id(request.product_id, "product_id"),
            currency=_currency(request.currency, "currency"),
            moment=request.time.ToDatetime(tzinfo=dt.UTC) if request.HasField("time") else None,
        )
        reason = validation.ineligibility
        return discounts_pb2.ValidateDiscountResponse(
            discount=discount_message(validation.discount),
            applicable=reason is None,
            ineligibility=(
                discounts_pb2.DiscountIneligibility.Value(f"DISCOUNT_INELIGIBILITY_{reason}")
                if reason
                else discounts_pb2.DISCOUNT_INELIGIBILITY_UNSPECIFIED
            ),
        )

    async def RedeemDiscount(
        self, request: discounts_pb2.RedeemDiscountRequest, context: Context
    ) -> discounts_pb2.DiscountRedemption:
        discount_id = parse_id(request.id, "id")
        reference = request.reference.strip()
        if not reference or len(reference) > 256:
            raise InvalidArgument("reference", "must be 1 to 256 characters")
        redemption = await DiscountService(current_scope()).redeem(
            discount_id,
            product_id=parse_id(request.product_id, "product_id"),
            currency=_currency(request.currency, "currency"),
            reference=reference,
            customer_id=(
                parse_id(request.customer_id, "customer_id") if request.customer_id else None
            ),
        )
        return redemption_message(redemption)


class PublicCatalogServicer(public_pb2_grpc.PublicCatalogServiceServicer):
    def __init__(self, cache_seconds: int) -> None:
        self._cache_control = f"public, max-age={cache_seconds}"

    async def ListPublicProducts(
        self, request: public_pb2.ListPublicProductsRequest, context: Context
    ) -> public_pb2.ListPublicProductsResponse:
        if not request.organization.strip():
            raise InvalidArgument("organization", "give the organization's slug or id")
        page = page_request(
            request.page_size, request.page_token, {"organization": request.organization}
        )
        result = await PublicCatalog(current_scope()).products(request.organization, page)
        response = public_pb2.ListPublicProductsResponse(
            products=[public_product_message(v) for v in result.products],
            next_page_token=result.next_page_token,
        )
        digest = hashlib.sha256(response.SerializeToString(deterministic=True)).hexdigest()
        await context.send_initial_metadata(
            (("cache-control", self._cache_control), ("etag", f'"{digest[:32]}"'))
        )
        return response
