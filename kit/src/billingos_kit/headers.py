"""Header (gRPC metadata) names shared by the gateway and every service."""

from __future__ import annotations

# Set by the gateway from the verified API key; never trusted from clients.
ORGANIZATION_HEADER = "x-billingos-organization-id"
API_KEY_ID_HEADER = "x-billingos-api-key-id"
# The service credential every internal caller presents (DESIGN §5).
SERVICE_TOKEN_HEADER = "x-billingos-service-token"
REQUEST_ID_HEADER = "x-request-id"
IDEMPOTENCY_HEADER = "idempotency-key"
# The stable reason of an error the gateway itself answers (e.g. a 401).
ERROR_REASON_HEADER = "x-billingos-error-reason"
