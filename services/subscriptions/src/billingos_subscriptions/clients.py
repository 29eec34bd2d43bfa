"""The engine's doors to the other contexts, as an internal caller (the
service credential, the organization in metadata): the catalog (a price or
product not in the read copy yet, discounts, purchases), payments (charges),
metering (a period's billable usage) and customers (a seat's member, found
or made; a checkout's buyer; an organization's name for its invoices). Each
answers or raises a domain error: NOT_FOUND and INVALID_ARGUMENT pass
through as the caller's problem; anything else means the other service is
unavailable, and asking again is safe (every call here is idempotent or read-only)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import grpc

from billingos.catalog.v1 import (
    discounts_pb2,
    discounts_pb2_grpc,
    products_pb2,
    products_pb2_grpc,
    purchases_pb2,
    purchases_pb2_grpc,
)
from billingos.customers.v1 import (
    customers_pb2,
    customers_pb2_grpc,
    organizations_pb2,
    organizations_pb2_grpc,
)
from billingos.metering.v1 import usage_pb2, usage_pb2_grpc
from billingos.payments.v1 import (
    payment_methods_pb2,
    payment_methods_pb2_grpc,
    payments_pb2,
    payments_pb2_grpc,
)
from billingos_kit.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from billingos_kit.grpc.status import field_violations_of
from billingos_kit.headers import IDEMPOTENCY_HEADER, ORGANIZATION_HEADER, SERVICE_TOKEN_HEADER

TIMEOUT_SECONDS = 10.0


class ServiceUnavailable(Unavailable):
    def __init__(self, service: str) -> None:
        super().__init__(
            f"the {service} service is unavailable; retry later",
            reason=f"{service.upper()}_UNAVAILABLE",
        )


class _Client:
    """One lazily made channel (a grpc.aio channel belongs to a running
    loop) and the stubs on it."""

    service = ""

    def __init__(self, address: str, service_token: str) -> None:
        self._address = address
        self._service_token = service_token
        self._channel: grpc.aio.Channel | None = None
        self._stubs: dict[str, Any] = {}

    def _stub(self, name: str, make: Callable[[grpc.aio.Channel], Any]) -> Any:
        if not self._address:
            raise ServiceUnavailable(self.service)
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._address)
        stub = self._stubs.get(name)
        if stub is None:
            stub = self._stubs[name] = make(self._channel)
        return stub

    def _metadata(self, organization_id: uuid.UUID) -> tuple[tuple[str, str], ...]:
        return (
            (SERVICE_TOKEN_HEADER, self._service_token),
            (ORGANIZATION_HEADER, str(organization_id)),
        )

    async def _call(
        self,
        method: Any,
        request: Any,
        organization_id: uuid.UUID,
        *,
        idempotency_key: str = "",
    ) -> Any:
        metadata = self._metadata(organization_id)
        if idempotency_key:
            metadata = (*metadata, (IDEMPOTENCY_HEADER, idempotency_key))
        try:
            return await method(request, metadata=metadata, timeout=TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as error:
            raise self._translated(error) from None

    async def _found(self, method: Any, request: Any, organization_id: uuid.UUID) -> Any:
        """The answer of a Get, or None when the organization has no such
        thing (NOT_FOUND, or an id the other service refuses)."""
        try:
            return await method(
                request, metadata=self._metadata(organization_id), timeout=TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise ServiceUnavailable(self.service) from None

    def _translated(self, error: grpc.aio.AioRpcError) -> Exception:
        code = error.code()
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            return FailedPrecondition(error.details() or "refused", reason="UPSTREAM_REFUSED")
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return InvalidArgument(self.service, error.details() or "refused")
        return ServiceUnavailable(self.service)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = None
        self._stubs = {}


class CatalogClient(_Client):
    service = "catalog"

    async def product(
        self, organization_id: uuid.UUID, product_id: uuid.UUID
    ) -> products_pb2.Product | None:
        stub = self._stub("products", products_pb2_grpc.ProductServiceStub)
        found: products_pb2.Product | None = await self._found(
            stub.GetProduct, products_pb2.GetProductRequest(id=str(product_id)), organization_id
        )
        return found

    async def price(
        self, organization_id: uuid.UUID, price_id: uuid.UUID
    ) -> products_pb2.Price | None:
        stub = self._stub("prices", products_pb2_grpc.PriceServiceStub)
        found: products_pb2.Price | None = await self._found(
            stub.GetPrice, products_pb2.GetPriceRequest(id=str(price_id)), organization_id
        )
        return found

    async def discount(
        self, organization_id: uuid.UUID, discount_id: uuid.UUID
    ) -> discounts_pb2.Discount | None:
        """The organization's discount, or None if it has no such one."""
        stub = self._stub("discounts", discounts_pb2_grpc.DiscountServiceStub)
        found: discounts_pb2.Discount | None = await self._found(
            stub.GetDiscount, discounts_pb2.GetDiscountRequest(id=str(discount_id)), organization_id
        )
        return found

    async def validate_discount(
        self, organization_id: uuid.UUID, request: discounts_pb2.ValidateDiscountRequest
    ) -> discounts_pb2.ValidateDiscountResponse | None:
        stub = self._stub("discounts", discounts_pb2_grpc.DiscountServiceStub)
        try:
            found: discounts_pb2.ValidateDiscountResponse = await stub.ValidateDiscount(
                request, metadata=self._metadata(organization_id), timeout=TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise self._translated(error) from None
        return found

    async def redeem_discount(
        self, organization_id: uuid.UUID, request: discounts_pb2.RedeemDiscountRequest
    ) -> discounts_pb2.DiscountRedemption:
        stub = self._stub("discounts", discounts_pb2_grpc.DiscountServiceStub)
        try:
            found: discounts_pb2.DiscountRedemption = await stub.RedeemDiscount(
                request, metadata=self._metadata(organization_id), timeout=TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("discount", request.id) from None
            raise self._translated(error) from None
        return found

    async def record_purchase(
        self,
        organization_id: uuid.UUID,
        reference: str,
        customer_id: uuid.UUID,
        price_ids: list[uuid.UUID],
    ) -> None:
        stub = self._stub("purchases", purchases_pb2_grpc.PurchaseAdminServiceStub)
        request = purchases_pb2.RecordPurchaseRequest(
            purchase=purchases_pb2.Purchase(
                reference=reference,
                customer_id=str(customer_id),
                price_ids=[str(price_id) for price_id in price_ids],
            )
        )
        await self._call(stub.RecordPurchase, request, organization_id)


class PaymentsClient(_Client):
    service = "payments"

    async def charge(
        self, organization_id: uuid.UUID, request: payments_pb2.ChargeOrderRequest
    ) -> payments_pb2.Payment:
        stub = self._stub("admin", payments_pb2_grpc.PaymentAdminServiceStub)
        payment: payments_pb2.Payment = await self._call(stub.ChargeOrder, request, organization_id)
        return payment

    async def payment_method(
        self, organization_id: uuid.UUID, payment_method_id: uuid.UUID
    ) -> payment_methods_pb2.PaymentMethod | None:
        """The organization's card, or None if it has no such one."""
        stub = self._stub("methods", payment_methods_pb2_grpc.PaymentMethodServiceStub)
        found: payment_methods_pb2.PaymentMethod | None = await self._found(
            stub.GetPaymentMethod,
            payment_methods_pb2.GetPaymentMethodRequest(id=str(payment_method_id)),
            organization_id,
        )
        return found

    async def cancel(
        self, organization_id: uuid.UUID, order_id: uuid.UUID, attempt_number: int
    ) -> payments_pb2.Payment:
        """Gives up the attempt while it waits (payments cancels its
        PaymentIntent at Stripe); the attempt as it is now."""
        stub = self._stub("admin", payments_pb2_grpc.PaymentAdminServiceStub)
        request = payments_pb2.CancelOrderPaymentRequest(
            order_id=str(order_id), attempt_number=attempt_number
        )
        payment: payments_pb2.Payment = await self._call(
            stub.CancelOrderPayment, request, organization_id
        )
        return payment

    async def payment(
        self, organization_id: uuid.UUID, payment_id: uuid.UUID
    ) -> payments_pb2.Payment | None:
        """The organization's payment as payments has it, or None."""
        stub = self._stub("payments", payments_pb2_grpc.PaymentServiceStub)
        found: payments_pb2.Payment | None = await self._found(
            stub.GetPayment, payments_pb2.GetPaymentRequest(id=str(payment_id)), organization_id
        )
        return found

    def _intents(self) -> Any:
        return self._stub("methods", payment_methods_pb2_grpc.PaymentMethodServiceStub)

    async def create_setup_intent(
        self, organization_id: uuid.UUID, customer_id: uuid.UUID, idempotency_key: str
    ) -> payment_methods_pb2.SetupIntent:
        """A SetupIntent for the customer's card; the same one for a repeat
        of `idempotency_key` (a retry after a lost answer or a rollback)."""
        request = payment_methods_pb2.CreateSetupIntentRequest(
            setup_intent=payment_methods_pb2.SetupIntent(customer_id=str(customer_id))
        )
        intent: payment_methods_pb2.SetupIntent = await self._call(
            self._intents().CreateSetupIntent,
            request,
            organization_id,
            idempotency_key=idempotency_key,
        )
        return intent

    async def setup_intent(
        self, organization_id: uuid.UUID, intent_id: uuid.UUID, *, sync: bool = False
    ) -> payment_methods_pb2.SetupIntent | None:
        """The SetupIntent as payments knows it, or (`sync`) as Stripe has it
        now, its card recorded once it succeeded; None if unknown."""
        stub = self._intents()
        if sync:
            synced: payment_methods_pb2.SetupIntent | None = await self._found(
                stub.SyncSetupIntent,
                payment_methods_pb2.SyncSetupIntentRequest(id=str(intent_id)),
                organization_id,
            )
            return synced
        found: payment_methods_pb2.SetupIntent | None = await self._found(
            stub.GetSetupIntent,
            payment_methods_pb2.GetSetupIntentRequest(id=str(intent_id)),
            organization_id,
        )
        return found


class MeteringClient(_Client):
    service = "metering"

    async def billable_usage(
        self, organization_id: uuid.UUID, request: usage_pb2.GetBillableUsageRequest
    ) -> usage_pb2.BillableUsage:
        stub = self._stub("usage", usage_pb2_grpc.BillableUsageAdminServiceStub)
        usage: usage_pb2.BillableUsage = await self._call(
            stub.GetBillableUsage, request, organization_id
        )
        return usage


class MembersClient(_Client):
    """Finds the customer a seat is assigned to, or makes it."""

    service = "customers"

    def _customers(self) -> Any:
        return self._stub("customers", customers_pb2_grpc.CustomerServiceStub)

    async def by_external_id(
        self, organization_id: uuid.UUID, external_id: str
    ) -> customers_pb2.Customer | None:
        found: customers_pb2.Customer | None = await self._found(
            self._customers().GetCustomerByExternalId,
            customers_pb2.GetCustomerByExternalIdRequest(external_id=external_id),
            organization_id,
        )
        return found

    async def by_email(
        self, organization_id: uuid.UUID, email: str
    ) -> list[customers_pb2.Customer]:
        """Up to two customers with the email (two: it names no one member)."""
        try:
            found: customers_pb2.ListCustomersResponse = await self._customers().ListCustomers(
                customers_pb2.ListCustomersRequest(email=email, page_size=2),
                metadata=self._metadata(organization_id),
                timeout=TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument("seat.email", "must be a valid email address") from None
            raise ServiceUnavailable(self.service) from None
        return list(found.customers)

    async def create(
        self, organization_id: uuid.UUID, customer: customers_pb2.Customer
    ) -> customers_pb2.Customer | None:
        """The new customer, or None when one with its external id exists.
        No idempotency key: the caller holds the member identity's lock and
        looks first, so a retry after a lost answer finds the customer."""
        try:
            made: customers_pb2.Customer = await self._customers().CreateCustomer(
                customers_pb2.CreateCustomerRequest(customer=customer),
                metadata=self._metadata(organization_id),
                timeout=TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.ALREADY_EXISTS:
                return None
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise _renamed_violations(
                    error, _SEAT_FIELD_OF_CUSTOMER, "seat", "is not a valid member"
                ) from None
            raise ServiceUnavailable(self.service) from None
        return made


class OrganizationsClient(_Client):
    """Reads an organization (its name and branding: an invoice prints them;
    this service knows organizations by id only)."""

    service = "customers"

    async def organization(
        self, organization_id: uuid.UUID
    ) -> organizations_pb2.Organization | None:
        stub = self._stub("organizations", organizations_pb2_grpc.OrganizationServiceStub)
        found: organizations_pb2.Organization | None = await self._found(
            stub.GetOrganization,
            organizations_pb2.GetOrganizationRequest(id=str(organization_id)),
            organization_id,
        )
        return found


class BuyersClient(_Client):
    """Makes the customer a checkout session buys for."""

    service = "customers"

    async def create(
        self, organization_id: uuid.UUID, customer: customers_pb2.Customer, idempotency_key: str
    ) -> customers_pb2.Customer:
        """The new customer; the same one for a repeat of `idempotency_key`
        (the customers service keeps the answer), so a session that made its
        customer and then rolled back makes no second one. The customer's
        field violations come back as the session's."""
        try:
            made: customers_pb2.Customer = await self._stub(
                "customers", customers_pb2_grpc.CustomerServiceStub
            ).CreateCustomer(
                customers_pb2.CreateCustomerRequest(customer=customer),
                metadata=(*self._metadata(organization_id), (IDEMPOTENCY_HEADER, idempotency_key)),
                timeout=TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise _renamed_violations(
                    error,
                    _SESSION_FIELD_OF_CUSTOMER,
                    "checkout_session",
                    "is not a valid customer",
                ) from None
            raise ServiceUnavailable(self.service) from None
        return made


# Which of the caller's fields each field of a customer is: a seat's member
# (`customer.email` is the seat's `seat.email`) or a checkout session's buyer.
_SEAT_FIELD_OF_CUSTOMER = {"customer": "seat"}
_SESSION_FIELD_OF_CUSTOMER = {
    "customer.email": "checkout_session.customer_email",
    "customer.name": "checkout_session.customer_name",
    "customer.billing_address": "checkout_session.billing_address",
}


def _renamed_violations(
    error: grpc.aio.AioRpcError, fields: dict[str, str], whole: str, what: str
) -> ValidationFailed:
    """The customer's field violations under the caller's field names (the
    longest prefix of `fields` that matches; else `whole`)."""

    def field_of(name: str) -> str:
        for prefix, caller_field in sorted(fields.items(), key=lambda item: -len(item[0])):
            if name == prefix or name.startswith(prefix + "."):
                return caller_field + name[len(prefix) :]
        return whole

    violations = [
        FieldViolation(field_of(v.field), v.description) for v in field_violations_of(error)
    ] or [FieldViolation(whole, error.details() or what)]
    return ValidationFailed(violations)
