"""The API's resources, each in a sync and an async flavour that share
their request building (the module-level functions of each module)."""

from .benefit_grants import AsyncBenefitGrants, BenefitGrantListParams, BenefitGrants
from .customer_sessions import (
    AsyncCustomerSessions,
    CustomerSessionCreateParams,
    CustomerSessions,
)
from .customers import (
    AddressInput,
    AsyncCustomers,
    CustomerCreateParams,
    CustomerFields,
    CustomerListParams,
    Customers,
)
from .entitlements import AsyncEntitlements, Entitlements
from .events import AsyncEvents, EventInput, Events
from .products import AsyncProducts, ProductListParams, Products
from .subscriptions import (
    AsyncSubscriptions,
    PeriodInput,
    SubscriptionCreateParams,
    SubscriptionListParams,
    Subscriptions,
)
from .webhook_endpoints import (
    AsyncWebhookEndpoints,
    WebhookDeliveryListParams,
    WebhookEndpointCreateParams,
    WebhookEndpointFields,
    WebhookEndpointListParams,
    WebhookEndpoints,
)

__all__ = [
    "AddressInput",
    "AsyncBenefitGrants",
    "AsyncCustomerSessions",
    "AsyncCustomers",
    "AsyncEntitlements",
    "AsyncEvents",
    "AsyncProducts",
    "AsyncSubscriptions",
    "AsyncWebhookEndpoints",
    "BenefitGrantListParams",
    "BenefitGrants",
    "CustomerCreateParams",
    "CustomerFields",
    "CustomerListParams",
    "CustomerSessionCreateParams",
    "CustomerSessions",
    "Customers",
    "Entitlements",
    "EventInput",
    "Events",
    "PeriodInput",
    "ProductListParams",
    "Products",
    "SubscriptionCreateParams",
    "SubscriptionListParams",
    "Subscriptions",
    "WebhookDeliveryListParams",
    "WebhookEndpointCreateParams",
    "WebhookEndpointFields",
    "WebhookEndpointListParams",
    "WebhookEndpoints",
]
