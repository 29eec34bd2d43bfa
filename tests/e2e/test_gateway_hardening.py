"""The gateway as a security boundary, through the real Envoy: one regression
test per defect found when the suite was attacked (issue 7), and the hostile
set followed by normal traffic. Every error must be JSON in the
`google.rpc.Status` shape, naming no internal class, type, header or host."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from billingos_cli.suite import Suite
from billingos_kit.testing.http import error_of, status_body

pytestmark = pytest.mark.e2e

# Each sent alone on an otherwise normal authenticated call.
HOSTILE_HEADERS = [
    {"grpc-timeout": "garbage"},
    {"grpc-timeout": "1n"},
    {"grpc-timeout": "99999999999H"},
    {"x-anything-bin": "!!!"},
    {"grpc-encoding": "bogus"},
    {"grpc-accept-encoding": "bogus"},
    {"grpc-previous-rpc-attempts": "x"},
    {"grpc-trace-bin": "!!"},
    {"grpc-tags-bin": "%%%"},
    {"grpc-status": "13"},
    {"te": "gzip"},
    {"content-type": "application/grpc"},
    {"x-billingos-organization-id": str(uuid.uuid4())},
    {"x-billingos-api-key-scopes": "api_keys read write"},
    {"x-billingos-service-token": "guess-guess-guess-guess"},
    {"x-billingos-rest-path": "/v1/customers/00000000-0000-0000-0000-000000000000"},
    {"x-billingos-auth-failure": "API_KEY_INVALID"},
    {"x-envoy-original-path": "/v1/admin/organizations"},
    {"x-forwarded-for": "10.0.0.1"},
    {"x-request-id": '"}{" OR 1=1; --' * 20},
]


async def new_customer(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/v1/customers", json={"email": email})
    assert response.status_code == 200, response.text
    customer_id: str = response.json()["id"]
    return customer_id


# ---- 1 and 2: client gRPC metadata never reaches a service -------------------


@pytest.mark.parametrize("headers", HOSTILE_HEADERS, ids=lambda h: next(iter(h)))
async def test_a_hostile_header_is_dropped_and_the_call_works(merchant, headers) -> None:
    response = await merchant.client.get("/v1/customers", headers=headers)
    if headers.get("content-type", "").startswith("application/grpc"):
        # gRPC to the REST port is refused; Envoy answers a gRPC caller in gRPC.
        assert response.headers["grpc-status"] == "12"  # UNIMPLEMENTED
        return
    assert response.status_code == 200, response.text
    assert response.json()["customers"] == []


async def test_after_every_hostile_header_200_normal_calls_of_two_organizations_succeed(
    merchant, other_merchant, http: httpx.AsyncClient
) -> None:
    for headers in HOSTILE_HEADERS:
        await merchant.client.get("/v1/customers", headers=headers)
        await http.get("/v1/public/organizations/nobody/products", headers=headers)
        await merchant.client.post("/v1/customers", json={"email": "h@x.io"}, headers=headers)

    async def normal(index: int) -> int:
        client = (merchant, other_merchant)[index % 2].client
        response = await client.get("/v1/customers", params={"page_size": 1})
        return response.status_code

    statuses = []
    for batch in range(10):
        statuses += await asyncio.gather(*(normal(batch * 20 + i) for i in range(20)))
    assert statuses == [200] * 200


async def test_forged_identity_headers_give_a_read_only_key_nothing(read_only_merchant) -> None:
    forged = {
        "x-billingos-api-key-scopes": "api_keys read write",
        "x-billingos-organization-id": str(uuid.uuid4()),
        "x-billingos-service-token": "guess-guess-guess-guess",
    }
    response = await read_only_merchant.client.post(
        "/v1/customers", json={"email": "forged@example.com"}, headers=forged
    )
    assert response.status_code == 403, response.text
    assert error_of(response)[1] == "API_KEY_SCOPE_MISSING"


async def test_forged_identity_headers_on_the_public_route_reach_no_service(
    http: httpx.AsyncClient,
) -> None:
    # No key check runs here, so nothing would overwrite a forged header: the
    # allow-list alone keeps them out (the catalog would refuse a scoped call).
    response = await http.get(
        "/v1/public/organizations/nobody/products",
        headers={
            "x-billingos-api-key-scopes": "api_keys read write",
            "x-billingos-organization-id": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 404, response.text
    assert error_of(response)[1] == "ORGANIZATION_NOT_FOUND"


async def test_the_deadline_a_service_sees_is_the_gateways_not_the_clients(merchant) -> None:
    # A client asking for a 1 ns deadline used to get a 504 from the service.
    for value in ("1n", "1u", "1m"):
        response = await merchant.client.get("/v1/customers", headers={"grpc-timeout": value})
        assert response.status_code == 200, response.text


# ---- 3: text that is not UTF-8 ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/customers/%FF", "id"),
        ("/v1/customers?email=%FF", "email"),
        ("/v1/customers/external/%C3%28", "external_id"),
        ("/v1/customers?external_id=a%80b", "external_id"),
    ],
)
async def test_text_that_is_not_utf8_is_a_400_naming_the_field(merchant, path, field) -> None:
    response = await merchant.client.get(path)
    assert response.status_code == 400, response.text
    assert error_of(response) == (3, "INVALID_ARGUMENT", [field])


async def test_a_public_path_that_is_not_utf8_is_a_400(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/public/organizations/%FF/products")
    assert response.status_code == 400, response.text
    assert error_of(response)[2] == ["organization"]


# ---- 4: nesting ---------------------------------------------------------------


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize("depth", [1, 2, 31, 32, 33, 34, 48, 49, 50, 98, 99, 100, 150, 500])
async def test_metadata_nested_at_any_depth_is_a_400(merchant, depth: int) -> None:
    response = await merchant.client.post(
        "/v1/customers", json={"email": "deep@example.com", "metadata": {"plan": nested(depth)}}
    )
    assert response.status_code == 400, response.text
    status_body(response)
    listed = await merchant.client.get("/v1/customers")
    assert listed.json()["customers"] == []


@pytest.mark.parametrize("depth", [10, 60, 150])
async def test_arrays_nested_at_any_depth_are_a_400(merchant, depth: int) -> None:
    value: object = 1
    for _ in range(depth):
        value = [value]
    response = await merchant.client.post(
        "/v1/customers", json={"email": "deep@example.com", "metadata": {"plan": value}}
    )
    assert response.status_code == 400, response.text
    status_body(response)


# ---- 5 and 6: sizes, protocols and encodings are JSON errors ----------------


async def test_headers_over_the_limit_are_a_json_431(merchant) -> None:
    response = await merchant.client.get("/v1/customers", headers={"x-big": "a" * 70_000})
    assert response.status_code == 431
    assert error_of(response)[1] == "HEADERS_TOO_LARGE"


@pytest.mark.parametrize("length", [4_500, 8_000, 12_000, 20_000, 60_000])
async def test_a_long_url_is_a_json_414_naming_nothing_internal(merchant, length: int) -> None:
    response = await merchant.client.get("/v1/customers", params={"email": "a" * length})
    assert response.status_code in (414, 431), response.text
    body = status_body(response)
    assert "authorization" not in json.dumps(body).lower()


async def test_a_query_just_under_the_limit_reaches_the_service(merchant) -> None:
    response = await merchant.client.get("/v1/customers", params={"email": "a" * 3_800})
    assert response.status_code == 200, response.text


async def test_a_body_over_the_limit_is_a_json_413(merchant) -> None:
    response = await merchant.client.post(
        "/v1/customers", json={"email": "a@b.co", "name": "n" * 1_100_000}
    )
    assert response.status_code == 413
    assert error_of(response)[1] == "REQUEST_TOO_LARGE"


def raw_exchange(suite: Suite, request: bytes) -> tuple[int, dict[str, str], bytes]:
    address = urlsplit(suite.rest_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /v1/customers HTTP/1.0\r\nHost: x\r\n\r\n", 426),
        (
            b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
            b"Content-Type: application/json\r\n\r\n",
            501,
        ),
        (b"GET /v1/customers HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
        (b"GET /v1/customers HTTP/1.1\r\nHost: x\r\nx_under_score: y\r\n\r\n", 400),
    ],
)
def test_protocol_errors_are_json(suite: Suite, request_bytes: bytes, status: int) -> None:
    got, headers, body = raw_exchange(suite, request_bytes)
    assert got == status
    assert headers["content-type"].startswith("application/json")
    reply = json.loads(body)
    assert reply["code"]
    assert reply["message"]
    assert reply["details"][0]["domain"] == "billingos.dev"


# ---- 7: the path wins -----------------------------------------------------------


async def test_a_query_id_cannot_redirect_a_delete(merchant) -> None:
    first = await new_customer(merchant.client, "one@example.com")
    second = await new_customer(merchant.client, "two@example.com")
    for query in (f"id={second}", f"%69d={second}"):
        response = await merchant.client.delete(f"/v1/customers/{first}?{query}")
        assert response.status_code == 400, response.text
        assert error_of(response) == (3, "PATH_FIELD_OVERRIDDEN", ["id"])
    for customer_id in (first, second):
        still_there = await merchant.client.get(f"/v1/customers/{customer_id}")
        assert still_there.status_code == 200


async def test_a_trailing_slash_or_an_undecodable_path_does_not_skip_the_path_check(
    merchant,
) -> None:
    first = await new_customer(merchant.client, "one@example.com")
    second = await new_customer(merchant.client, "two@example.com")
    # The gateway answers a trailing slash itself (no route ends in one).
    for trailing in (
        merchant.client.delete(f"/v1/customers/{first}/?id={second}"),
        merchant.client.patch(f"/v1/customers/{first}/", json={"id": second, "name": "M"}),
    ):
        response = await trailing
        assert response.status_code == 404, response.text
        assert error_of(response)[0] == 5
    undecodable = await merchant.client.patch("/v1/customers/%FF", json={"id": second, "name": "M"})
    assert undecodable.status_code == 400, undecodable.text
    assert error_of(undecodable)[2] in (["id"], ["customer.id"])
    still = await merchant.client.get(f"/v1/customers/{second}")
    assert still.status_code == 200
    assert still.json()["name"] == ""


async def test_a_body_or_query_id_cannot_redirect_an_update(merchant) -> None:
    first = await new_customer(merchant.client, "one@example.com")
    second = await new_customer(merchant.client, "two@example.com")
    attempts = [
        merchant.client.patch(f"/v1/customers/{first}", json={"id": second, "name": "Mallory"}),
        merchant.client.patch(
            f"/v1/customers/{first}", params={"customer.id": second}, json={"name": "Mallory"}
        ),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 400, response.text
        assert error_of(response) == (3, "PATH_FIELD_OVERRIDDEN", ["customer.id"])
    assert (await merchant.client.get(f"/v1/customers/{second}")).json()["name"] == ""
    same = await merchant.client.patch(f"/v1/customers/{first}", json={"id": first, "name": "Ada"})
    assert same.status_code == 200, same.text


async def test_a_query_cannot_switch_the_public_catalogs_organization(
    http: httpx.AsyncClient, merchant, other_merchant
) -> None:
    response = await http.get(
        f"/v1/public/organizations/{merchant.organization_id}/products",
        params={"organization": other_merchant.organization_id},
    )
    assert response.status_code == 400, response.text
    assert error_of(response) == (3, "PATH_FIELD_OVERRIDDEN", ["organization"])


async def test_a_query_cannot_switch_the_product_whose_prices_are_listed(merchant) -> None:
    created = await merchant.client.post("/v1/products", json={"name": "Plan"})
    product_id = created.json()["id"]
    for name in ("product_id", "productId"):
        response = await merchant.client.get(
            f"/v1/products/{product_id}/prices", params={name: str(uuid.uuid4())}
        )
        assert response.status_code == 400, response.text
        assert error_of(response)[2] == ["product_id"]


# ---- 8 and the smaller ones ---------------------------------------------------


@pytest.mark.parametrize("code", ["NL123\n", "NL123\r", " NL123", "ＮＬ１２３", "NL123é"])
async def test_a_discount_code_must_be_plain_ascii_as_a_whole(merchant, code: str) -> None:
    response = await merchant.client.post(
        "/v1/discounts",
        json={
            "name": "Launch",
            "code": code,
            "percent_off": {"basis_points": 1000},
            "duration": "DISCOUNT_DURATION_ONCE",
        },
    )
    assert response.status_code == 400, response.text
    assert error_of(response)[2] == ["discount.code"]


@pytest.mark.parametrize("currency", ["u\u017fd", "USD\n", "\uff35SD"])
async def test_a_currency_lookalike_is_refused(merchant, currency: str) -> None:
    response = await merchant.client.post(
        "/v1/products",
        json={"name": "Plan", "prices": [{"currency": currency, "fixed": {"amount_minor": 100}}]},
    )
    assert response.status_code == 400, response.text
    assert error_of(response)[2] == ["product.prices[0].currency"]


async def test_an_amount_above_the_bound_says_so(merchant) -> None:
    response = await merchant.client.post(
        "/v1/products",
        json={"name": "Plan", "prices": [{"currency": "USD", "fixed": {"amount_minor": 10**13}}]},
    )
    assert response.status_code == 400
    assert "at most" in response.json()["message"]


@pytest.mark.parametrize(
    "spelling",
    [
        lambda i: i.upper(),
        lambda i: i.replace("-", ""),
        lambda i: "{" + i + "}",
        lambda i: "urn:uuid:" + i,
    ],
)
async def test_ids_are_only_accepted_in_canonical_form(merchant, spelling) -> None:
    customer_id = await new_customer(merchant.client, "canon@example.com")
    response = await merchant.client.get(f"/v1/customers/{spelling(customer_id)}")
    assert response.status_code == 400, response.text
    assert error_of(response)[2] == ["id"]


async def test_rest_traversal_never_skips_the_key_check(http: httpx.AsyncClient) -> None:
    for path in (
        "/v1/public/../customers",
        "/v1/public/%2e%2e/customers",
        "/v1/public/organizations/x/../../../customers",
        "//v1/customers",
    ):
        request = http.build_request("GET", path)
        request.url = request.url.copy_with(raw_path=path.encode())
        response = await http.send(request)
        assert response.status_code in (401, 404), (path, response.text)
        status_body(response)


async def test_the_native_grpc_paths_are_not_served_to_rest_clients(merchant) -> None:
    response = await merchant.client.post(
        "/billingos.customers.v1.CustomerService/ListCustomers", json={}
    )
    assert response.status_code == 404
    status_body(response)


# ---- abuse: failed key checks are limited per client address ------------------


async def test_failed_key_checks_are_limited_per_address(client_from, merchant) -> None:
    limit = 30
    async with client_from("127.0.0.9") as attacker:
        statuses = []
        for index in range(limit + 5):
            response = await attacker.get(
                "/v1/customers", headers={"Authorization": f"Bearer bos_guess{index}"}
            )
            statuses.append(response.status_code)
        assert statuses[:limit] == [401] * limit
        assert statuses[limit:] == [429] * 5
        limited = await attacker.get("/v1/customers", headers={"Authorization": "Bearer bos_x"})
        assert int(limited.headers["retry-after"]) >= 1
        assert error_of(limited)[1] == "RATE_LIMITED"
        # Once throttled, the address learns nothing, not even from a valid key.
        valid = await attacker.get(
            "/v1/customers", headers={"Authorization": f"Bearer {merchant.api_key}"}
        )
        assert valid.status_code == 429
    # Other addresses are not held back.
    assert (await merchant.client.get("/v1/customers")).status_code == 200


# ---- found when the hardened gateway was attacked --------------------------


async def test_a_tiny_request_with_a_huge_error_does_not_disturb_other_tenants(
    merchant, other_merchant
) -> None:
    """Every violation used to travel in the reply's headers: 200 empty prices
    (600 bytes) outgrew the gateway's header limit and reset the connection
    other organizations' calls share."""
    bodies = [
        ("/v1/products", {"name": "x", "prices": [{}] * 200}),
        ("/v1/customers", {"email": "a@b.co", "metadata": {f"k{i}": {} for i in range(500)}}),
        ("/v1/products", {"name": "x", "prices": [{}] * 5000}),
    ]

    async def attack() -> list[int]:
        statuses = []
        for path, body in bodies * 3:
            response = await merchant.client.post(path, json=body)
            status_body(response)
            statuses.append(response.status_code)
        return statuses

    async def victim() -> list[int]:
        statuses = []
        for _ in range(60):
            statuses.append((await other_merchant.client.get("/v1/products")).status_code)
        return statuses

    attacked, served = await asyncio.gather(attack(), victim())
    assert set(attacked) == {400}
    assert served == [200] * 60


async def test_a_get_with_a_body_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.request(
        "GET", "/v1/public/organizations/nobody/products", json={"page_size": 1}
    )
    assert response.status_code == 400
    status_body(response)


async def streamed(*chunks: bytes) -> AsyncIterator[bytes]:
    """A body sent without a length (chunked), as a streaming client does."""
    for chunk in chunks:
        yield chunk


async def test_a_get_or_delete_with_a_chunked_body_is_refused(merchant) -> None:
    """Envoy keeps Transfer-Encoding from filters, so the body itself is looked at."""
    for method, path in (("GET", "/v1/customers"), ("DELETE", f"/v1/customers/{uuid.uuid4()}")):
        response = await merchant.client.request(
            method, path, content=streamed(b'{"page_size":', b"1}")
        )
        assert response.status_code == 400, (method, response.text)
        assert status_body(response)["message"] == f"a {method} request has no body"


async def test_a_chunked_body_over_the_limit_is_refused(merchant) -> None:
    response = await merchant.client.post(
        "/v1/customers", content=streamed(*[b" " * 65_536] * 20, b'{"email":"a@b.co"}')
    )
    assert response.status_code == 413, response.text
    status_body(response)


async def test_a_chunked_body_under_the_limit_is_served(merchant) -> None:
    response = await merchant.client.post(
        "/v1/customers", content=streamed(b'{"email":', b'"chunked@example.com"}')
    )
    assert response.status_code == 200, response.text


async def test_a_body_over_the_limit_is_refused_on_the_public_route_too(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/v1/public/organizations/nobody/products", content=b"{" + b" " * 2_000_000 + b"}"
    )
    assert response.status_code in (404, 413), response.text
    status_body(response)


@pytest.mark.parametrize(
    "headers",
    [
        [("Idempotency-Key", "k")] * 90,
        [("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
        [("Idempotency-Key", b"\xff\xfe")],
    ],
    ids=["90 copies", "two copies", "not ascii"],
)
async def test_duplicate_or_undecodable_allowed_headers_are_a_400(merchant, headers) -> None:
    response = await merchant.client.post(
        "/v1/customers", json={"email": "dup@example.com"}, headers=headers
    )
    assert response.status_code == 400, response.text
    assert "idempotency-key" in status_body(response)["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/public/organizations/victim%0a/products",
        "/v1/customers/external/a%0a",
        "/v1/customers/external/a%5C",
    ],
)
async def test_replies_stay_valid_json_whatever_the_path_holds(merchant, path: str) -> None:
    response = await merchant.client.get(path)
    assert response.status_code in (400, 404), response.text
    status_body(response)


async def test_a_body_that_is_not_utf8_is_a_clean_400(merchant) -> None:
    response = await merchant.client.post(
        "/v1/customers",
        content=b'{"email":"x@x.com","name":"\xff"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    body = status_body(response)
    assert "\\xff" not in json.dumps(body)
    assert "^" not in body["message"]


async def test_a_large_list_under_the_body_limit_is_a_400_not_a_429(merchant) -> None:
    response = await merchant.client.post(
        "/v1/customers", json={"email": "a@b.co", "metadata": {"a": [0] * 200_000}}
    )
    assert response.status_code == 400, response.text
    status_body(response)


async def test_successful_replies_carry_no_grpc_headers(merchant) -> None:
    response = await merchant.client.get("/v1/customers")
    assert response.status_code == 200
    assert not [name for name in response.headers if name.startswith("grpc-")]


async def test_a_slash_before_a_custom_verb_does_not_skip_the_path_check(merchant) -> None:
    product = (await merchant.client.post("/v1/products", json={"name": "Plan"})).json()
    discounts = []
    for name in ("one", "two"):
        created = await merchant.client.post(
            "/v1/discounts",
            json={
                "name": name,
                "percent_off": {"basis_points": 1000},
                "duration": "DISCOUNT_DURATION_ONCE",
            },
        )
        discounts.append(created.json()["id"])
    response = await merchant.client.post(
        f"/v1/discounts/{discounts[0]}/:redeem",
        json={"id": discounts[1], "product_id": product["id"], "currency": "USD", "reference": "r"},
    )
    assert response.status_code in (400, 404), response.text
    second = await merchant.client.get(f"/v1/discounts/{discounts[1]}")
    assert second.json()["redemption_count"] == 0


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customers/",
        "/v1/customers/%2e",
        "/v1/customers/.",
        "/v1/customers/external/%2e%2e",
        "/v1/customers/external/..",
        "/v1/products/%2E",
        "/v1/subscriptions/",
    ],
)
async def test_a_dot_id_or_a_trailing_slash_never_reads_the_list(
    suite: Suite, merchant, path: str
) -> None:
    # Sent as written (httpx would fold the dots itself): Envoy normalizes
    # `/v1/customers/.` to `/v1/customers/`, which the transcoder would serve
    # as the list, so a "get one" by a caller's id of "." read them all.
    created = await merchant.client.post("/v1/customers", json={"email": "dot@example.com"})
    assert created.status_code == 200, created.text
    request = (
        f"GET {path} HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {merchant.api_key}\r\nConnection: close\r\n\r\n"
    ).encode()
    status, _, body = await asyncio.to_thread(raw_exchange, suite, request)
    assert status == 404, body
    assert b"dot@example.com" not in body
    assert json.loads(body)["code"] == 5
