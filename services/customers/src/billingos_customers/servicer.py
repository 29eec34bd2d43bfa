"""gRPC adapters: request message in, domain call, response message out. No
SQL and no rules here; the kit's pipeline has already checked the caller,
resolved the organization and opened the unit of work."""

from __future__ import annotations

from typing import Any

import grpc

from billingos.customers.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    customer_sessions_pb2,
    customer_sessions_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    organizations_pb2,
    organizations_pb2_grpc,
    portal_sign_in_pb2,
    portal_sign_in_pb2_grpc,
    webhook_endpoints_pb2,
    webhook_endpoints_pb2_grpc,
)
from billingos_customers.api_keys import ApiKeyService, verify_presented
from billingos_customers.customer_portal import CustomerPortal
from billingos_customers.customer_sessions import CustomerSessionService
from billingos_customers.customer_sessions import verify_presented as verify_presented_session
from billingos_customers.customers import CUSTOMER_MASK, CustomerService
from billingos_customers.errors import OrganizationNotFound
from billingos_customers.messages import (
    api_key_message,
    customer_fields,
    customer_message,
    customer_session_message,
    delivery_status_filter,
    event_type_filter,
    organization_fields,
    organization_message,
    organization_update_paths,
    portal_customer_message,
    public_organization_message,
    scopes_of,
    session_request,
    verified_key_message,
    verified_session_message,
    webhook_delivery_message,
    webhook_endpoint_fields,
    webhook_endpoint_message,
)
from billingos_customers.organizations import ORGANIZATION_MASK, OrganizationService
from billingos_customers.portal_sign_in import PortalSignIns, SignInLinks
from billingos_customers.portal_sign_in_limits import PortalSignInLimits
from billingos_customers.repository import CustomerFilter, DeliveryFilter
from billingos_customers.test_clocks import TestClockDirectory
from billingos_customers.webhook_endpoints import WEBHOOK_ENDPOINT_MASK, WebhookEndpointService
from billingos_kit.errors import TooManyRequests
from billingos_kit.grpc.scope import current_scope
from billingos_kit.ids import parse_id
from billingos_kit.own_organization import check_own_organization
from billingos_kit.pagination import page_request
from billingos_kit.throttle import FailedCheckThrottle

Context = grpc.aio.ServicerContext[Any, Any]


class CustomerServicer(customers_pb2_grpc.CustomerServiceServicer):
    def __init__(self, test_clocks: TestClockDirectory | None = None) -> None:
        self._test_clocks = test_clocks

    async def CreateCustomer(
        self, request: customers_pb2.CreateCustomerRequest, context: Context
    ) -> customers_pb2.Customer:
        scope = current_scope()
        check_own_organization(
            request.customer.organization_id, scope.organization_id, "customer.organization_id"
        )
        customer = await CustomerService(scope, self._test_clocks).create(
            customer_fields(request.customer)
        )
        return customer_message(customer)

    async def GetCustomer(
        self, request: customers_pb2.GetCustomerRequest, context: Context
    ) -> customers_pb2.Customer:
        customer_id = parse_id(request.id, "id")
        return customer_message(await CustomerService(current_scope()).get(customer_id))

    async def GetCustomerByExternalId(
        self, request: customers_pb2.GetCustomerByExternalIdRequest, context: Context
    ) -> customers_pb2.Customer:
        service = CustomerService(current_scope())
        return customer_message(await service.get_by_external_id(request.external_id))

    async def ListCustomers(
        self, request: customers_pb2.ListCustomersRequest, context: Context
    ) -> customers_pb2.ListCustomersResponse:
        check_own_organization(request.organization_id, current_scope().organization_id)
        where = CustomerFilter(email=request.email or None, external_id=request.external_id or None)
        page = page_request(request.page_size, request.page_token, where)
        result = await CustomerService(current_scope()).list_page(page, where)
        return customers_pb2.ListCustomersResponse(
            customers=[customer_message(c) for c in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateCustomer(
        self, request: customers_pb2.UpdateCustomerRequest, context: Context
    ) -> customers_pb2.Customer:
        customer_id = parse_id(request.customer.id, "customer.id")
        service = CustomerService(current_scope())

        async def current() -> customers_pb2.Customer:
            return customer_message(await service.get(customer_id, for_update=True))

        # Refuses a changed test_clock_id (immutable), never ignores it.
        paths = await CUSTOMER_MASK.resolve(request.update_mask, request.customer, current)
        fields = customer_fields(request.customer)
        customer = await service.update(customer_id, fields, paths)
        return customer_message(customer)

    async def DeleteCustomer(
        self, request: customers_pb2.DeleteCustomerRequest, context: Context
    ) -> customers_pb2.Customer:
        customer_id = parse_id(request.id, "id")
        return customer_message(await CustomerService(current_scope()).delete(customer_id))


class OrganizationServicer(organizations_pb2_grpc.OrganizationServiceServicer):
    async def GetOrganization(
        self, request: organizations_pb2.GetOrganizationRequest, context: Context
    ) -> organizations_pb2.Organization:
        organization_id = parse_id(request.id, "id")
        organization = await OrganizationService(current_scope()).get_own(organization_id)
        return organization_message(organization)

    async def UpdateOrganization(
        self, request: organizations_pb2.UpdateOrganizationRequest, context: Context
    ) -> organizations_pb2.Organization:
        organization_id = parse_id(request.organization.id, "organization.id")
        service = OrganizationService(current_scope())

        async def current() -> organizations_pb2.Organization:
            return organization_message(await service.get_own(organization_id, for_update=True))

        # Refuses a changed slug or development mode (immutable), never ignores it.
        resolved = await ORGANIZATION_MASK.resolve(
            request.update_mask, request.organization, current
        )
        paths = organization_update_paths(resolved, request)
        fields = organization_fields(request.organization)
        return organization_message(await service.update(organization_id, fields, paths))


class PublicOrganizationServicer(organizations_pb2_grpc.PublicOrganizationServiceServicer):
    """Anyone may look an organization up, so a client network's misses are
    counted (as failed key checks are): past its allowance every lookup from
    it is refused until it refills, and guessing slugs stays slow."""

    def __init__(self, misses: FailedCheckThrottle) -> None:
        self._misses = misses

    async def GetPublicOrganization(
        self, request: organizations_pb2.GetPublicOrganizationRequest, context: Context
    ) -> organizations_pb2.PublicOrganization:
        scope = current_scope()
        wait = self._misses.retry_after(scope.client_address)
        if wait is not None:
            raise TooManyRequests(
                "too many lookups of organizations that do not exist from this address; "
                "retry after the Retry-After delay",
                wait,
                reason="ORGANIZATION_LOOKUPS_RATE_LIMITED",
            )
        try:
            found = await OrganizationService(scope).get_public(request.organization)
        except OrganizationNotFound:
            self._misses.record_failure(scope.client_address)
            raise
        return public_organization_message(found)


class OrganizationAdminServicer(organizations_pb2_grpc.OrganizationAdminServiceServicer):
    async def CreateOrganization(
        self, request: organizations_pb2.CreateOrganizationRequest, context: Context
    ) -> organizations_pb2.CreateOrganizationResponse:
        given = request.organization
        created = await OrganizationService(current_scope()).create(
            given.name,
            given.slug,
            development_mode=given.development_mode,
            branding=organization_fields(given).branding,
        )
        return organizations_pb2.CreateOrganizationResponse(
            organization=organization_message(created.organization),
            api_key=api_key_message(created.first_key.key),
            api_key_secret=created.first_key.secret,
        )

    async def IssueApiKey(
        self, request: organizations_pb2.IssueApiKeyRequest, context: Context
    ) -> api_keys_pb2.CreateApiKeyResponse:
        organization_id = parse_id(request.organization_id, "organization_id")
        scopes = scopes_of(request.scopes, "scopes")
        created = await OrganizationService(current_scope()).issue_key(
            organization_id, request.name, scopes
        )
        return api_keys_pb2.CreateApiKeyResponse(
            api_key=api_key_message(created.key), secret=created.secret
        )


class ApiKeyServicer(api_keys_pb2_grpc.ApiKeyServiceServicer):
    async def CreateApiKey(
        self, request: api_keys_pb2.CreateApiKeyRequest, context: Context
    ) -> api_keys_pb2.CreateApiKeyResponse:
        scopes = scopes_of(request.api_key.scopes, "api_key.scopes")
        created = await ApiKeyService(current_scope()).create(request.api_key.name, scopes)
        return api_keys_pb2.CreateApiKeyResponse(
            api_key=api_key_message(created.key), secret=created.secret
        )

    async def ListApiKeys(
        self, request: api_keys_pb2.ListApiKeysRequest, context: Context
    ) -> api_keys_pb2.ListApiKeysResponse:
        page = page_request(request.page_size, request.page_token, {})
        result = await ApiKeyService(current_scope()).list_page(page)
        return api_keys_pb2.ListApiKeysResponse(
            api_keys=[api_key_message(k) for k in result.items],
            next_page_token=result.next_page_token,
        )

    async def RevokeApiKey(
        self, request: api_keys_pb2.RevokeApiKeyRequest, context: Context
    ) -> api_keys_pb2.ApiKey:
        key_id = parse_id(request.id, "id")
        return api_key_message(await ApiKeyService(current_scope()).revoke(key_id))


class ApiKeyAdminServicer(api_keys_pb2_grpc.ApiKeyAdminServiceServicer):
    async def VerifyApiKey(
        self, request: api_keys_pb2.VerifyApiKeyRequest, context: Context
    ) -> api_keys_pb2.VerifyApiKeyResponse:
        return verified_key_message(await verify_presented(current_scope(), request.secret))


class CustomerSessionServicer(customer_sessions_pb2_grpc.CustomerSessionServiceServicer):
    async def CreateCustomerSession(
        self, request: customer_sessions_pb2.CreateCustomerSessionRequest, context: Context
    ) -> customer_sessions_pb2.CustomerSession:
        created = await CustomerSessionService(current_scope()).create(session_request(request))
        return customer_session_message(created.session, created.token)

    async def DeleteCustomerSession(
        self, request: customer_sessions_pb2.DeleteCustomerSessionRequest, context: Context
    ) -> customer_sessions_pb2.CustomerSession:
        session_id = parse_id(request.id, "id")
        return customer_session_message(
            await CustomerSessionService(current_scope()).revoke(session_id)
        )


class CustomerSessionAdminServicer(customer_sessions_pb2_grpc.CustomerSessionAdminServiceServicer):
    async def VerifyCustomerSession(
        self, request: customer_sessions_pb2.VerifyCustomerSessionRequest, context: Context
    ) -> customer_sessions_pb2.VerifyCustomerSessionResponse:
        found = await verify_presented_session(current_scope(), request.token)
        return verified_session_message(found)


class CustomerPortalServicer(customer_portal_pb2_grpc.CustomerPortalServiceServicer):
    async def GetPortalCustomer(
        self, request: customer_portal_pb2.GetPortalCustomerRequest, context: Context
    ) -> customer_portal_pb2.PortalCustomer:
        return portal_customer_message(await CustomerPortal(current_scope()).own_customer())


class PublicPortalSignInServicer(portal_sign_in_pb2_grpc.PublicPortalSignInServiceServicer):
    """Anonymous calls: each acts in the organization its request or token
    names (portal_sign_in.py)."""

    def __init__(self, links: SignInLinks, limits: PortalSignInLimits) -> None:
        self._links = links
        self._limits = limits

    def _sign_ins(self) -> PortalSignIns:
        return PortalSignIns(current_scope(), self._links, self._limits)

    async def RequestPortalSignIn(
        self, request: portal_sign_in_pb2.RequestPortalSignInRequest, context: Context
    ) -> portal_sign_in_pb2.RequestPortalSignInResponse:
        await self._sign_ins().request(request.organization, request.email)
        return portal_sign_in_pb2.RequestPortalSignInResponse()

    async def ExchangePortalSignIn(
        self, request: portal_sign_in_pb2.ExchangePortalSignInRequest, context: Context
    ) -> customer_sessions_pb2.CustomerSession:
        created = await self._sign_ins().exchange(request.token)
        # Shown here only: the pipeline stores this answer without it.
        return customer_session_message(created.session, created.token)


class WebhookEndpointServicer(webhook_endpoints_pb2_grpc.WebhookEndpointServiceServicer):
    def __init__(self, *, development_mode_allowed: bool = False, max_endpoints: int) -> None:
        self._development_mode_allowed = development_mode_allowed
        self._max_endpoints = max_endpoints

    def _service(self) -> WebhookEndpointService:
        return WebhookEndpointService(
            current_scope(),
            development_mode_allowed=self._development_mode_allowed,
            max_endpoints=self._max_endpoints,
        )

    async def CreateWebhookEndpoint(
        self, request: webhook_endpoints_pb2.CreateWebhookEndpointRequest, context: Context
    ) -> webhook_endpoints_pb2.WebhookEndpoint:
        check_own_organization(
            request.webhook_endpoint.organization_id,
            current_scope().organization_id,
            "webhook_endpoint.organization_id",
        )
        fields = webhook_endpoint_fields(request.webhook_endpoint)
        created = await self._service().create(fields)
        return webhook_endpoint_message(created.endpoint, created.secret)

    async def GetWebhookEndpoint(
        self, request: webhook_endpoints_pb2.GetWebhookEndpointRequest, context: Context
    ) -> webhook_endpoints_pb2.WebhookEndpoint:
        endpoint_id = parse_id(request.id, "id")
        return webhook_endpoint_message(await self._service().get(endpoint_id))

    async def ListWebhookEndpoints(
        self, request: webhook_endpoints_pb2.ListWebhookEndpointsRequest, context: Context
    ) -> webhook_endpoints_pb2.ListWebhookEndpointsResponse:
        page = page_request(request.page_size, request.page_token, {})
        result = await self._service().list_page(page)
        return webhook_endpoints_pb2.ListWebhookEndpointsResponse(
            webhook_endpoints=[webhook_endpoint_message(e) for e in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateWebhookEndpoint(
        self, request: webhook_endpoints_pb2.UpdateWebhookEndpointRequest, context: Context
    ) -> webhook_endpoints_pb2.WebhookEndpoint:
        endpoint_id = parse_id(request.webhook_endpoint.id, "webhook_endpoint.id")
        service = self._service()

        async def current() -> webhook_endpoints_pb2.WebhookEndpoint:
            return webhook_endpoint_message(await service.get(endpoint_id, for_update=True))

        paths = await WEBHOOK_ENDPOINT_MASK.resolve(
            request.update_mask, request.webhook_endpoint, current
        )
        fields = webhook_endpoint_fields(request.webhook_endpoint)
        return webhook_endpoint_message(await service.update(endpoint_id, fields, paths))

    async def DeleteWebhookEndpoint(
        self, request: webhook_endpoints_pb2.DeleteWebhookEndpointRequest, context: Context
    ) -> webhook_endpoints_pb2.WebhookEndpoint:
        endpoint_id = parse_id(request.id, "id")
        service = self._service()
        return webhook_endpoint_message(await service.delete(endpoint_id))

    async def RotateWebhookEndpointSecret(
        self, request: webhook_endpoints_pb2.RotateWebhookEndpointSecretRequest, context: Context
    ) -> webhook_endpoints_pb2.WebhookEndpoint:
        endpoint_id = parse_id(request.id, "id")
        service = self._service()
        rotated = await service.rotate_secret(endpoint_id, request.grace_seconds)
        return webhook_endpoint_message(rotated.endpoint, rotated.secret)

    async def ListWebhookDeliveries(
        self, request: webhook_endpoints_pb2.ListWebhookDeliveriesRequest, context: Context
    ) -> webhook_endpoints_pb2.ListWebhookDeliveriesResponse:
        endpoint_id = parse_id(request.endpoint_id, "endpoint_id")
        where = DeliveryFilter(
            endpoint_id=endpoint_id,
            status=delivery_status_filter(request.status),
            event_type=event_type_filter(request.event_type),
        )
        page = page_request(request.page_size, request.page_token, where)
        service = self._service()
        result = await service.list_deliveries(endpoint_id, page, where)
        return webhook_endpoints_pb2.ListWebhookDeliveriesResponse(
            webhook_deliveries=[webhook_delivery_message(d) for d in result.items],
            next_page_token=result.next_page_token,
        )

    async def RedeliverWebhookDelivery(
        self, request: webhook_endpoints_pb2.RedeliverWebhookDeliveryRequest, context: Context
    ) -> webhook_endpoints_pb2.WebhookDelivery:
        endpoint_id = parse_id(request.endpoint_id, "endpoint_id")
        delivery_id = parse_id(request.id, "id")
        service = self._service()
        return webhook_delivery_message(await service.redeliver(endpoint_id, delivery_id))
