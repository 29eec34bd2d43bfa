"""The gateway as deployed by `deploy/`: Envoy in its own pod, services found
by their Kubernetes Service names, the service token filled in at container
start from a Secret (it never sits in a ConfigMap)."""

from __future__ import annotations

from billingos_cli.gateway import Endpoint, GatewayTarget
from billingos_cli.services import SERVICES

# The gateway's credential, filled in from the Secret's `gateway-token` when
# its pod starts.
GATEWAY_TOKEN_PLACEHOLDER = "__BILLINGOS_GATEWAY_TOKEN__"
DESCRIPTOR_MOUNT = "/etc/billingos/descriptors/billingos.binpb"
OPENAPI_MOUNT = "/etc/billingos/openapi/billingos.openapi.json"
GRPC_PORT = 50051  # every service listens here inside its pod
HTTP_PORT = 8080
ADMIN_PORT = 9901


def kubernetes_gateway_target() -> GatewayTarget:
    return GatewayTarget(
        listen=Endpoint("0.0.0.0", HTTP_PORT),  # noqa: S104 - the pod's listener
        admin=Endpoint("127.0.0.1", ADMIN_PORT),
        descriptor_path=DESCRIPTOR_MOUNT,
        openapi_path=OPENAPI_MOUNT,
        upstreams={spec.name: Endpoint(spec.name, GRPC_PORT) for spec in SERVICES},
        gateway_token=GATEWAY_TOKEN_PLACEHOLDER,
        dns_upstreams=True,
    )
