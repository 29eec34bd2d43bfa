"""What actually crosses the gateway, seen from behind it: the rendered Envoy
config in front of a recording gRPC upstream. Hostile client headers must not
arrive; the key must arrive as the client sent it (the service checks it),
with the client address the gateway trusts; the credential must be the
gateway's own, and the deadline the gateway's."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml

from billingos_cli.gateway import Endpoint, GatewaySource, GatewayTarget, render
from billingos_cli.paths import DESCRIPTOR_SET
from billingos_kit.headers import (
    AUTHORIZATION_HEADER,
    CLIENT_ADDRESS_HEADER,
    ORGANIZATION_HEADER,
    REST_PATH_HEADER,
    REST_QUERY_HEADER,
    SERVICE_TOKEN_HEADER,
)
from billingos_kit.local import free_port, spawn, stop_process, venv_binary

pytestmark = pytest.mark.e2e

GATEWAY_TOKEN = "gateway-token-for-this-test"


@dataclass
class Recorder:
    """A gRPC server that records every call's metadata and deadline."""

    calls: list[tuple[str, dict[str, str | bytes], float | None]] = field(default_factory=list)

    def handler(self) -> grpc.GenericRpcHandler:
        recorder = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> Any:
                method = details.method

                async def behavior(
                    _raw: bytes, context: grpc.aio.ServicerContext[Any, Any]
                ) -> bytes:
                    metadata = {k: v for k, v in context.invocation_metadata() or ()}
                    recorder.calls.append((method, metadata, context.time_remaining()))
                    return b""  # an empty response message decodes for every method

                return grpc.unary_unary_rpc_method_handler(behavior)

        return Handler()

    def of(self, method_suffix: str) -> list[tuple[dict[str, str | bytes], float | None]]:
        return [(m, d) for name, m, d in self.calls if name.endswith(method_suffix)]


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([recorder.handler()])
    upstream_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    http_port, admin_port = free_port(), free_port()
    target = GatewayTarget(
        listen=Endpoint("127.0.0.1", http_port),
        admin=Endpoint("127.0.0.1", admin_port),
        descriptor_path=str(DESCRIPTOR_SET),
        upstreams={
            name: Endpoint("127.0.0.1", upstream_port)
            for name in GatewaySource.load().upstream_packages
        },
        gateway_token=GATEWAY_TOKEN,
    )
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(render(target)))
    envoy = spawn(
        [str(venv_binary("envoy")), "-c", str(config), "--use-dynamic-base-id"],
        log_file=tmp_path / "envoy.log",
    )
    try:
        await _ready(admin_port)
        yield f"http://127.0.0.1:{http_port}", recorder
    finally:
        stop_process(envoy, signal.SIGTERM)
        await server.stop(0)


async def _ready(admin_port: int) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                answer = await client.get(f"http://127.0.0.1:{admin_port}/ready", timeout=1)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("envoy did not become ready")


HOSTILE = {
    "grpc-timeout": "1n",
    "grpc-encoding": "bogus",
    "grpc-trace-bin": "!!",
    "x-anything-bin": "!!!",
    "te": "gzip",
    "x-billingos-organization-id": "0196d0a4-1e2f-7a3b-8c4d-000000000000",
    "x-billingos-api-key-scopes": "api_keys read write",
    "x-billingos-rest-path": "/v1/elsewhere",
    "x-billingos-rest-query": "forged",
    "x-billingos-service-token": "forged-forged-forged",
    "x-envoy-original-path": "/v1/admin/organizations",
    "x-custom": "anything",
    "user-agent": "attacker/1.0",
}
# Everything a service may receive from the gateway; nothing else arrives.
EXPECTED = {
    ":authority",
    "content-type",
    "idempotency-key",
    SERVICE_TOKEN_HEADER,
    AUTHORIZATION_HEADER,
    CLIENT_ADDRESS_HEADER,
    REST_PATH_HEADER,
    REST_QUERY_HEADER,
    "x-request-id",
    "grpc-accept-encoding",  # set by Envoy's gRPC codec, not by the client
}


async def test_only_what_the_gateway_sets_reaches_a_service(gateway) -> None:
    url, recorder = gateway
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.get(
            "/v1/customers",
            params={"page_size": 2},
            headers={**HOSTILE, "Authorization": "Bearer bos_secret", "Idempotency-Key": "k"},
        )
    assert response.status_code == 200, response.text
    ((metadata, deadline),) = recorder.of("/ListCustomers")
    assert set(metadata) <= EXPECTED, set(metadata) - EXPECTED
    assert metadata[SERVICE_TOKEN_HEADER] == GATEWAY_TOKEN
    # The key as the client sent it, for the service's key check; no
    # organization or scopes but the ones that key has.
    assert metadata[AUTHORIZATION_HEADER] == "Bearer bos_secret"
    assert metadata[CLIENT_ADDRESS_HEADER] == "127.0.0.1"
    assert ORGANIZATION_HEADER not in metadata
    assert metadata[REST_PATH_HEADER] == "/v1/customers"
    assert metadata[REST_QUERY_HEADER] == "page_size=2"  # the gateway's, not the client's
    # The gateway's deadline (its 30 s route timeout, less a second), not the client's 1 ns.
    assert deadline is not None
    assert 25 < deadline <= 29


async def test_a_forged_client_address_does_not_arrive(gateway) -> None:
    """With no trusted proxy in front (trusted_proxy_hops = 0), the address is
    the peer's, whatever X-Forwarded-For or our own header says."""
    url, recorder = gateway
    forged = {"x-forwarded-for": "203.0.113.9", CLIENT_ADDRESS_HEADER: "203.0.113.9"}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await client.get("/v1/customers", headers={**forged, "Authorization": "Bearer bos_k"})
    ((metadata, _deadline),) = recorder.of("/ListCustomers")
    assert metadata[CLIENT_ADDRESS_HEADER] == "127.0.0.1"


async def test_nothing_forged_reaches_a_service_on_the_keyless_public_route(gateway) -> None:
    url, recorder = gateway
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.get("/v1/public/organizations/acme/products", headers=HOSTILE)
    assert response.status_code == 200, response.text
    ((metadata, _deadline),) = recorder.of("/ListPublicProducts")
    assert set(metadata) <= EXPECTED
    assert ORGANIZATION_HEADER not in metadata
    assert AUTHORIZATION_HEADER not in metadata
    assert metadata[SERVICE_TOKEN_HEADER] == GATEWAY_TOKEN


async def test_a_forged_query_mark_never_reaches_a_service(gateway) -> None:
    """`x-billingos-rest-query` is the gateway's: a client's copy is dropped,
    and a URL without a query string sends none."""
    url, recorder = gateway
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.get(
            "/v1/customers/0196d0a4-1e2f-7a3b-8c4d-0000000000aa",
            headers={"x-billingos-rest-query": "x=1", "Authorization": "Bearer bos_secret"},
        )
    assert response.status_code == 200, response.text
    ((metadata, _deadline),) = recorder.of("/GetCustomer")
    assert REST_QUERY_HEADER not in metadata
