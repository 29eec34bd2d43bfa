"""Header (gRPC metadata) names shared by the gateway and every service."""

from __future__ import annotations

# Set by the gateway from the verified API key; never trusted from clients.
ORGANIZATION_HEADER = "x-billingos-organization-id"
API_KEY_ID_HEADER = "x-billingos-api-key-id"
# Set by the gateway from the verified API key: its scopes, space-separated.
API_KEY_SCOPES_HEADER = "x-billingos-api-key-scopes"
# Set by the gateway on every request it forwards, so a service knows the call
# came from outside: it then needs a verified key with the method's scope, or
# a method open to anonymous callers.
CALLER_HEADER = "x-billingos-caller"
GATEWAY_CALLER = "gateway"
# Set by the gateway: the REST path (without its query) the call was made with,
# so the pipeline can refuse a query or body that contradicts it.
REST_PATH_HEADER = "x-billingos-rest-path"
# The service credential every internal caller presents (DESIGN §5).
SERVICE_TOKEN_HEADER = "x-billingos-service-token"
REQUEST_ID_HEADER = "x-request-id"
IDEMPOTENCY_HEADER = "idempotency-key"
# Set by the API-key check on a request whose key is missing, unknown or
# revoked (the reason, and the message for the caller): the gateway counts
# such requests per client address, then answers them with a 401.
AUTH_FAILURE_HEADER = "x-billingos-auth-failure"
AUTH_FAILURE_MESSAGE_HEADER = "x-billingos-auth-failure-message"
# The stable reason of an error the gateway itself answers (e.g. a 401).
ERROR_REASON_HEADER = "x-billingos-error-reason"
