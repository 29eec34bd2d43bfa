"""Header (gRPC metadata) names shared by the gateway and every service."""

from __future__ import annotations

# Named by an internal caller: the organization a tenant-scoped call acts for.
# A call from outside gets its organization from its API key; the gateway
# drops any client-sent x-billingos-* header.
ORGANIZATION_HEADER = "x-billingos-organization-id"
# A client's `Authorization: Bearer <api key>`, forwarded by the gateway and
# checked by the service that serves the call (keycheck.py).
AUTHORIZATION_HEADER = "authorization"
# Set by the gateway: the client address it trusts (past `trusted_proxy_hops`),
# by which failed key checks are throttled.
CLIENT_ADDRESS_HEADER = "x-billingos-client-address"
# Set by the gateway: the REST path (without its query) the call was made with,
# so the pipeline can refuse a query or body that contradicts it.
REST_PATH_HEADER = "x-billingos-rest-path"
# Set by the gateway when that URL had a query string: a route whose body is
# the whole request (`body: "*"`) takes none (the transcoder would add its
# parameters to the request, unseen by whoever reads the body).
REST_QUERY_HEADER = "x-billingos-rest-query"
# The credential every caller presents (DESIGN §5): the service token for
# internal callers, the gateway token for calls the gateway forwards from
# outside (which then need a valid API key with the method's scope, or a
# method open to anonymous callers). Which secret matches says who is calling.
SERVICE_TOKEN_HEADER = "x-billingos-service-token"
REQUEST_ID_HEADER = "x-request-id"
IDEMPOTENCY_HEADER = "idempotency-key"
