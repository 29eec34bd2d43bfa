"""The events the customers context publishes, built from rows. What each is
(its type, its subject, the entity whose state it carries) is declared on the
message in protos/billingos/customers/v1/events.proto."""

from __future__ import annotations

import datetime as dt

from google.protobuf import field_mask_pb2

from billingos.customers.v1 import events_pb2
from billingos_customers.messages import (
    customer_message,
    customer_session_message,
    organization_message,
    webhook_endpoint_message,
)
from billingos_customers.models import Customer, CustomerSession, Organization, WebhookEndpoint
from billingos_kit.protoconv import timestamp


def customer_created(customer: Customer) -> events_pb2.CustomerCreatedEvent:
    return events_pb2.CustomerCreatedEvent(customer=customer_message(customer))


def customer_updated(customer: Customer, changed: list[str]) -> events_pb2.CustomerUpdatedEvent:
    return events_pb2.CustomerUpdatedEvent(
        customer=customer_message(customer),
        update_mask=field_mask_pb2.FieldMask(paths=changed),
    )


def customer_deleted(customer: Customer) -> events_pb2.CustomerDeletedEvent:
    return events_pb2.CustomerDeletedEvent(customer=customer_message(customer))


def organization_created(organization: Organization) -> events_pb2.OrganizationCreatedEvent:
    return events_pb2.OrganizationCreatedEvent(organization=organization_message(organization))


def organization_updated(
    organization: Organization, changed: list[str]
) -> events_pb2.OrganizationUpdatedEvent:
    return events_pb2.OrganizationUpdatedEvent(
        organization=organization_message(organization),
        update_mask=field_mask_pb2.FieldMask(paths=changed),
    )


def customer_portal_sign_in_requested(
    customer: Customer, sign_in_url: str, expires_at: dt.datetime
) -> events_pb2.CustomerPortalSignInRequestedEvent:
    """The link for the merchant to email (a credential until used or
    expired; see the message's comment for where it is kept)."""
    return events_pb2.CustomerPortalSignInRequestedEvent(
        customer_id=str(customer.id),
        email=customer.email,
        sign_in_url=sign_in_url,
        expire_time=timestamp(expires_at),
    )


def customer_session_created(
    session: CustomerSession,
) -> events_pb2.CustomerSessionCreatedEvent:
    # Built from the row, which holds no token: an event can never carry one.
    return events_pb2.CustomerSessionCreatedEvent(
        customer_session=customer_session_message(session)
    )


def customer_session_revoked(
    session: CustomerSession,
) -> events_pb2.CustomerSessionRevokedEvent:
    return events_pb2.CustomerSessionRevokedEvent(
        customer_session=customer_session_message(session)
    )


# Built from the row with no secret: an event never carries one.


def webhook_endpoint_created(endpoint: WebhookEndpoint) -> events_pb2.WebhookEndpointCreatedEvent:
    return events_pb2.WebhookEndpointCreatedEvent(
        webhook_endpoint=webhook_endpoint_message(endpoint)
    )


def webhook_endpoint_updated(
    endpoint: WebhookEndpoint, changed: list[str]
) -> events_pb2.WebhookEndpointUpdatedEvent:
    return events_pb2.WebhookEndpointUpdatedEvent(
        webhook_endpoint=webhook_endpoint_message(endpoint),
        update_mask=field_mask_pb2.FieldMask(paths=changed),
    )


def webhook_endpoint_deleted(endpoint: WebhookEndpoint) -> events_pb2.WebhookEndpointDeletedEvent:
    return events_pb2.WebhookEndpointDeletedEvent(
        webhook_endpoint=webhook_endpoint_message(endpoint)
    )


def webhook_endpoint_disabled(
    endpoint: WebhookEndpoint,
) -> events_pb2.WebhookEndpointDisabledEvent:
    return events_pb2.WebhookEndpointDisabledEvent(
        webhook_endpoint=webhook_endpoint_message(endpoint)
    )
