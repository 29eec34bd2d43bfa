"""Header (gRPC metadata) names shared by the gateway and every service."""

from __future__ import annotations

# Set by the gateway from the verified API key; never trusted from clients.
ORGANIZATION_HEADER = "x-billingos-organization-id"
API_KEY_ID_HEADER = "x-billingos-api-key-id"
# Set by the gateway from the verified API key: its scopes, space-separated.
API_KEY_SCOPES_HEADER = "x-billingos-api-key-scopes"
# Set by the gateway: the REST path (without its query) the call was made with,
# so the pipeline can refuse a query or body that contradicts it.
REST_PATH_HEADER = "x-billingos-rest-path"
# The credential every caller presents (DESIGN §5): the service token for
# internal callers, the gateway token for calls the gateway forwards from
# outside (which then need a verified key with the method's scope, or a method
# open to anonymous callers). Which secret matches says who is calling.
SERVICE_TOKEN_HEADER = "x-billingos-service-token"
REQUEST_ID_HEADER = "x-request-id"
IDEMPOTENCY_HEADER = "idempotency-key"
# The stable reason of an error the gateway itself answers (e.g. a 401).
ERROR_REASON_HEADER = "x-billingos-error-reason"
