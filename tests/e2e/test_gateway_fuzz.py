"""Property-based fuzzing through the real gateway: random paths (from every
REST route, with random variables), query strings, headers and bodies. Whatever
comes in, no reply is a 5xx, every error is JSON in the `google.rpc.Status`
shape naming nothing internal, and the suite answers normally afterwards.

Bounded (a few hundred requests) so the whole test run stays short."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingos_cli.gateway import GatewaySource, exposed_api
from billingos_cli.paths import DESCRIPTOR_SET
from billingos_cli.suite import Suite
from billingos_kit.testing.http import status_body

pytestmark = pytest.mark.e2e

# Client addresses of its own, drawn per request: its many failed key checks
# (30 per address and minute are allowed) are spread and counted apart.
FUZZ_ADDRESSES = [f"127.0.1.{n}" for n in range(1, 31)]
EXAMPLES = 400


def routes() -> list[tuple[str, str]]:
    api = exposed_api(DESCRIPTOR_SET, GatewaySource.load())
    return [(route.binding.verb, route.binding.path.template) for route in api.routes]


ROUTES = routes()
QUERY_NAMES = [
    "page_size",
    "page_token",
    "email",
    "external_id",
    "id",
    "update_mask",
    "archived",
    "recurring",
    "query",
    "code",
    "organization",
    "customer.id",
    "product_id",
    "productId",
    "pageSize",
    "%69d",
    "a.b.c",
    "",
]
HOSTILE_HEADERS = [
    ("grpc-timeout", "garbage"),
    ("grpc-timeout", "1n"),
    ("x-anything-bin", "!!!"),
    ("grpc-encoding", "bogus"),
    ("grpc-trace-bin", "!!"),
    ("te", "gzip"),
    ("x-billingos-organization-id", "00000000-0000-4000-8000-000000000000"),
    ("x-billingos-caller", "internal"),
    ("x-billingos-api-key-scopes", "api_keys read write"),
    ("content-encoding", "gzip"),
    ("accept", "application/grpc"),
    ("idempotency-key", "fuzz"),
    ("idempotency-key", "\u00e9".encode()),
    ("x-http-method-override", "DELETE"),
]

segment_text = st.one_of(
    st.uuids().map(str),
    st.sampled_from(["%FF", "%C3%28", "..", "%2e%2e", "%2F", "%00", "a%", "%zz", "demo", "-"]),
    st.text(min_size=1, max_size=30).map(lambda t: urllib.parse.quote(t, safe="")),
    st.text(alphabet="abc%/.:;{}", min_size=1, max_size=12),
)
query_value = st.one_of(
    st.text(max_size=40).map(lambda t: urllib.parse.quote(t, safe="")),
    st.sampled_from(["%FF", "%C3%28", "-1", "99999999999999999999", "true", "1.5", "%"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=25,
)
bodies = st.one_of(
    st.none(),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(
            ["email", "name", "id", "metadata", "prices", "code", "scopes", "customer"]
        ),
        json_values,
        max_size=4,
    ).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)


def fill(template: str, values: Iterator[str]) -> str:
    return re.sub(r"\{[^}]+\}", lambda _m: next(values), template)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    verb, template = draw(st.sampled_from(ROUTES))
    if draw(st.integers(0, 9)) == 0:
        verb = draw(st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"]))
    path = fill(template, iter(draw(st.lists(segment_text, min_size=4, max_size=4))))
    if draw(st.booleans()):
        path += draw(st.sampled_from(["/", "/..", "//x", "%2F..", ":x"]))
    pairs = draw(
        st.lists(
            st.tuples(st.one_of(st.sampled_from(QUERY_NAMES), st.text(max_size=8)), query_value),
            max_size=4,
        )
    )
    query = "&".join(f"{urllib.parse.quote(name, safe='%.')}={value}" for name, value in pairs)
    headers = dict(draw(st.lists(st.sampled_from(HOSTILE_HEADERS), max_size=3)))
    auth = draw(st.sampled_from(["key", "key", "key", "none", "garbage"]))
    return {
        "address": draw(st.integers(0, len(FUZZ_ADDRESSES) - 1)),
        "verb": verb,
        "raw_path": path + (f"?{query}" if query else ""),
        "headers": headers,
        "auth": auth,
        "body": draw(bodies) if verb in ("POST", "PATCH", "PUT") else None,
    }


@pytest.fixture
def fuzz_clients(suite: Suite) -> Iterator[list[httpx.Client]]:
    clients = [
        httpx.Client(
            base_url=suite.rest_url,
            transport=httpx.HTTPTransport(local_address=address),
            timeout=30,
        )
        for address in FUZZ_ADDRESSES
    ]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def send(clients: list[httpx.Client], api_key: str, drawn: dict[str, Any]) -> httpx.Response:
    client = clients[drawn["address"]]
    headers = dict(drawn["headers"])
    if drawn["auth"] == "key":
        headers["Authorization"] = f"Bearer {api_key}"
    elif drawn["auth"] == "garbage":
        headers["Authorization"] = "Bearer bos_" + "x" * 40
    if drawn["body"] is not None:
        headers.setdefault("content-type", "application/json")
    request = client.build_request(drawn["verb"], "/", headers=headers, content=drawn["body"])
    raw = drawn["raw_path"].encode("ascii", "backslashreplace")
    request.url = request.url.copy_with(raw_path=raw)
    return client.send(request)


def test_random_requests_never_get_a_5xx_or_an_internal_name(
    fuzz_clients: list[httpx.Client], merchant, suite: Suite
) -> None:
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(drawn=requests())
    def property_holds(drawn: dict[str, Any]) -> None:
        response = send(fuzz_clients, merchant.api_key, drawn)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (drawn, response.text[:500])
        if response.status_code >= 400:
            status_body(response)
        else:
            assert response.headers["content-type"].startswith("application/json")
            response.json()

    property_holds()
    # The fuzzing reached the services, not only the gateway's refusals.
    assert sum(n for status, n in seen.items() if status in (200, 400, 404)) > EXAMPLES // 4, seen
    # Everyone else is served as before.
    with httpx.Client(base_url=suite.rest_url, timeout=30) as client:
        for _ in range(50):
            after = client.get(
                "/v1/customers", headers={"Authorization": f"Bearer {merchant.api_key}"}
            )
            assert after.status_code == 200, after.text
