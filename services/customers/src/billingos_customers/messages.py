"""Conversions both ways: request messages to domain inputs (with the
violations a message alone can show), rows to API messages (for the servicers
and the events)."""

from __future__ import annotations

from collections.abc import Sequence

from billingos.common.v1 import address_pb2, options_pb2
from billingos.customers.v1 import (
    api_keys_pb2,
    customer_portal_pb2,
    customer_sessions_pb2,
    customers_pb2,
    organizations_pb2,
    webhook_endpoints_pb2,
)
from billingos_customers.drafts import (
    Address,
    Branding,
    CustomerFields,
    OrganizationFields,
    SessionRequest,
    WebhookEndpointFields,
)
from billingos_customers.models import (
    ApiKey,
    Customer,
    CustomerSession,
    Organization,
    WebhookDelivery,
    WebhookEndpoint,
)
from billingos_customers.webhook_vocabulary import (
    DELIVERY_STATUS_CODEC,
    POSTED_TYPES,
    DeliveryStatus,
)
from billingos_kit.errors import InvalidArgument
from billingos_kit.keycheck import VerifiedKey
from billingos_kit.protoconv import MetadataReader, metadata_to_proto, timestamp
from billingos_kit.scopes import SCOPE_CODEC, Scope
from billingos_kit.sessioncheck import PortalSession

# ---- requests to domain inputs ----------------------------------------------


def customer_fields(message: customers_pb2.Customer) -> CustomerFields:
    reader = MetadataReader()
    metadata = reader.read(message.metadata, "customer.metadata")
    reader.raise_if_any()
    address = None
    if message.HasField("billing_address"):
        given = message.billing_address
        address = Address(
            line1=given.line1,
            line2=given.line2,
            postal_code=given.postal_code,
            city=given.city,
            state=given.state,
            country=given.country,
        )
    return CustomerFields(
        email=message.email,
        external_id=message.external_id,
        name=message.name,
        metadata=metadata,
        billing_address=address,
        test_clock_id=message.test_clock_id,
    )


def organization_fields(message: organizations_pb2.Organization) -> OrganizationFields:
    given = message.branding
    return OrganizationFields(
        name=message.name,
        branding=Branding(
            logo_url=given.logo_url,
            brand_color=given.brand_color,
            support_email=given.support_email,
        ),
    )


def organization_update_paths(
    resolved: list[str], request: organizations_pb2.UpdateOrganizationRequest
) -> list[str]:
    """UpdateOrganization's paths. With a mask, as resolved. Without one
    (AIP-134's implied mask), `branding` is only the branding fields the
    request sets, so `{"branding": {"brand_color": "#1a2b3c"}}` leaves the
    logo and the email as they are."""
    if request.update_mask.paths or "branding" not in resolved:
        return resolved
    given = [f"branding.{field.name}" for field, _ in request.organization.branding.ListFields()]
    return [path for path in resolved if path != "branding"] + given


def session_request(
    message: customer_sessions_pb2.CreateCustomerSessionRequest,
) -> SessionRequest:
    return SessionRequest(
        customer_id=message.customer_id,
        external_customer_id=message.external_customer_id,
        ttl_seconds=message.ttl_seconds,
    )


def webhook_endpoint_fields(
    message: webhook_endpoints_pb2.WebhookEndpoint,
) -> WebhookEndpointFields:
    return WebhookEndpointFields(
        url=message.url,
        description=message.description,
        event_types=tuple(message.event_types),
        disabled=message.disabled,
    )


def delivery_status_filter(number: int) -> DeliveryStatus | None:
    """ListWebhookDeliveries' `status`: None when unspecified (every status)."""
    if number == webhook_endpoints_pb2.WEBHOOK_DELIVERY_STATUS_UNSPECIFIED:
        return None
    found = DELIVERY_STATUS_CODEC.from_proto(number)
    if found is None:
        raise InvalidArgument(
            "status", f"must be one of {', '.join(DELIVERY_STATUS_CODEC.proto_names())}"
        )
    return DeliveryStatus(found)


def event_type_filter(value: str) -> str | None:
    """ListWebhookDeliveries' `event_type`: None when empty (every type)."""
    if not value:
        return None
    if value not in POSTED_TYPES:
        raise InvalidArgument(
            "event_type", "is not an event type webhooks post; see docs/webhooks.md"
        )
    return value


def scopes_of(values: Sequence[int], field: str) -> frozenset[Scope]:
    return SCOPE_CODEC.parse_repeated(values, field)


# ---- rows to messages ---------------------------------------------------------


def customer_message(customer: Customer) -> customers_pb2.Customer:
    message = customers_pb2.Customer(
        id=str(customer.id),
        organization_id=str(customer.organization_id),
        email=customer.email,
        external_id=customer.external_id or "",
        name=customer.name,
        metadata=metadata_to_proto(customer.metadata),
        stripe_customer_id=customer.stripe_customer_id or "",
        create_time=timestamp(customer.created_at),
        update_time=timestamp(customer.updated_at),
        delete_time=timestamp(customer.deleted_at),
        test_clock_id=str(customer.test_clock_id) if customer.test_clock_id else "",
    )
    if customer.billing_address:
        message.billing_address.CopyFrom(address_pb2.Address(**customer.billing_address))
    return message


def organization_message(organization: Organization) -> organizations_pb2.Organization:
    return organizations_pb2.Organization(
        id=str(organization.id),
        name=organization.name,
        slug=organization.slug,
        create_time=timestamp(organization.created_at),
        update_time=timestamp(organization.updated_at),
        development_mode=organization.development_mode,
        branding=branding_message(organization),
    )


def branding_message(organization: Organization) -> organizations_pb2.OrganizationBranding:
    return organizations_pb2.OrganizationBranding(
        logo_url=organization.logo_url,
        brand_color=organization.brand_color,
        support_email=organization.support_email,
    )


def public_organization_message(
    organization: Organization,
) -> organizations_pb2.PublicOrganization:
    """What anyone may read: no development mode, no times."""
    return organizations_pb2.PublicOrganization(
        id=str(organization.id),
        name=organization.name,
        slug=organization.slug,
        branding=branding_message(organization),
    )


def api_key_message(key: ApiKey) -> api_keys_pb2.ApiKey:
    return api_keys_pb2.ApiKey(
        id=str(key.id),
        organization_id=str(key.organization_id),
        name=key.name,
        prefix=key.prefix,
        scopes=[options_pb2.Scope.ValueType(SCOPE_CODEC.to_proto(Scope(s))) for s in key.scopes],
        create_time=timestamp(key.created_at),
        revoke_time=timestamp(key.revoked_at),
    )


def verified_key_message(key: VerifiedKey) -> api_keys_pb2.VerifyApiKeyResponse:
    return api_keys_pb2.VerifyApiKeyResponse(
        api_key_id=str(key.key_id),
        organization_id=str(key.organization_id),
        scopes=[options_pb2.Scope.ValueType(SCOPE_CODEC.to_proto(s)) for s in sorted(key.scopes)],
    )


def customer_session_message(
    session: CustomerSession, token: str = ""
) -> customer_sessions_pb2.CustomerSession:
    """The session; `token` only in CreateCustomerSession's response."""
    return customer_sessions_pb2.CustomerSession(
        id=str(session.id),
        organization_id=str(session.organization_id),
        customer_id=str(session.customer_id),
        token=token,
        expire_time=timestamp(session.expires_at),
        create_time=timestamp(session.created_at),
        revoke_time=timestamp(session.revoked_at),
    )


def verified_session_message(
    session: PortalSession,
) -> customer_sessions_pb2.VerifyCustomerSessionResponse:
    return customer_sessions_pb2.VerifyCustomerSessionResponse(
        customer_session_id=str(session.session_id),
        organization_id=str(session.organization_id),
        customer_id=str(session.customer_id),
        expire_time=timestamp(session.expire_time),
    )


def portal_customer_message(customer: Customer) -> customer_portal_pb2.PortalCustomer:
    """What the customer sees of itself: none of the merchant's own fields."""
    message = customer_portal_pb2.PortalCustomer(
        id=str(customer.id),
        email=customer.email,
        name=customer.name,
        create_time=timestamp(customer.created_at),
    )
    if customer.billing_address:
        message.billing_address.CopyFrom(address_pb2.Address(**customer.billing_address))
    return message


def webhook_endpoint_message(
    endpoint: WebhookEndpoint, secret: str = ""
) -> webhook_endpoints_pb2.WebhookEndpoint:
    """The endpoint; `secret` only in the responses of create and rotate."""
    return webhook_endpoints_pb2.WebhookEndpoint(
        id=str(endpoint.id),
        organization_id=str(endpoint.organization_id),
        url=endpoint.url,
        description=endpoint.description,
        event_types=endpoint.event_types,
        disabled=endpoint.disabled_at is not None,
        disabled_reason=endpoint.disabled_reason or "",
        secret=secret,
        previous_secret_expire_time=timestamp(
            endpoint.previous_secret_expires_at if endpoint.previous_secret else None
        ),
        create_time=timestamp(endpoint.created_at),
        update_time=timestamp(endpoint.updated_at),
    )


def webhook_delivery_message(delivery: WebhookDelivery) -> webhook_endpoints_pb2.WebhookDelivery:
    return webhook_endpoints_pb2.WebhookDelivery(
        id=str(delivery.id),
        endpoint_id=str(delivery.endpoint_id),
        event_id=str(delivery.event_id),
        event_type=delivery.event_type,
        status=webhook_endpoints_pb2.WebhookDeliveryStatus.ValueType(
            DELIVERY_STATUS_CODEC.to_proto(DeliveryStatus(delivery.status))
        ),
        attempts=delivery.attempts,
        last_response_status=delivery.last_response_status or 0,
        last_error=delivery.last_error or "",
        next_attempt_time=timestamp(delivery.next_attempt_at),
        sequence=delivery.sequence,
        create_time=timestamp(delivery.created_at),
    )
