"""BillingOS for Python: ``BillingOS`` (sync) and ``AsyncBillingOS``.

The import name is ``billingos_sdk`` because ``billingos`` is the namespace
of the generated protobuf stubs; the distribution is ``billingos-sdk``,
mirroring the TypeScript ``@billingos/sdk``.
"""

from ._version import __version__
from .client import AsyncBillingOS, BillingOS
from .errors import (
    AuthenticationError,
    BillingOSError,
    ConflictError,
    FieldViolation,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from .models import (
    BenefitGrant,
    Customer,
    CustomerSession,
    Entitlement,
    IngestResult,
    Price,
    Product,
    Subscription,
    WebhookDelivery,
    WebhookEndpoint,
)
from .pagination import AsyncPager, Page, SyncPager
from .retry import RetryPolicy
from .servers import SERVER_URL_ENV

__all__ = [
    "SERVER_URL_ENV",
    "AsyncBillingOS",
    "AsyncPager",
    "AuthenticationError",
    "BenefitGrant",
    "BillingOS",
    "BillingOSError",
    "ConflictError",
    "Customer",
    "CustomerSession",
    "Entitlement",
    "FieldViolation",
    "IngestResult",
    "InvalidRequestError",
    "NetworkError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "Price",
    "Product",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "Subscription",
    "SyncPager",
    "WebhookDelivery",
    "WebhookEndpoint",
    "__version__",
]
