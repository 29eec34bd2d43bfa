"""Organizations through the real Envoy gateway: a merchant sets its name and
branding (PATCH with a mask), and anyone reads its public face by id or slug
without a key, from any origin; the route sits beside the other public
routes under /v1/public/organizations/{organization}/... without taking
theirs, and hostile paths get clean errors."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from billingos_kit.testing.http import error_of, status_body

from .conftest import ClientFrom

pytestmark = pytest.mark.e2e

BRANDING = {
    "logo_url": "https://cdn.example.com/acme/logo.png",
    "brand_color": "#1A2B3C",
    "support_email": "help@example.com",
}
PUBLIC_FIELDS = {"id", "name", "slug", "branding"}
BRANDING_FIELDS = {"logo_url", "brand_color", "support_email"}


async def own(merchant) -> dict[str, Any]:
    response = await merchant.client.get(f"/v1/organizations/{merchant.organization_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def set_branding(merchant, **extra: Any) -> httpx.Response:
    return await merchant.client.patch(
        f"/v1/organizations/{merchant.organization_id}",
        params={"update_mask": "name,branding"},
        json={"name": "Acme Rockets", "branding": BRANDING, **extra},
    )


async def raw_get(http: httpx.AsyncClient, path: str) -> httpx.Response:
    """GET `path` exactly as written (httpx would fold dot segments itself)."""
    request = http.build_request("GET", path)
    request.url = request.url.copy_with(raw_path=path.encode())
    return await http.send(request)


async def test_a_merchant_brands_its_organization_and_anyone_reads_it_without_a_key(
    merchant, http: httpx.AsyncClient
) -> None:
    patched = await set_branding(merchant)
    assert patched.status_code == 200, patched.text
    organization = patched.json()
    assert organization["name"] == "Acme Rockets"
    assert organization["branding"] == {**BRANDING, "brand_color": "#1a2b3c"}
    assert await own(merchant) == organization
    expected = {
        "id": merchant.organization_id,
        "name": "Acme Rockets",
        "slug": organization["slug"],
        "branding": organization["branding"],
    }
    assert "authorization" not in {name.lower() for name in http.headers}
    for spelling in (merchant.organization_id, organization["slug"]):
        found = await http.get(f"/v1/public/organizations/{spelling}")
        assert found.status_code == 200, found.text
        assert found.headers["access-control-allow-origin"] == "*"
        body = found.json()
        # Exactly the public face: no development mode, no times.
        assert set(body) == PUBLIC_FIELDS
        assert set(body["branding"]) == BRANDING_FIELDS
        assert body == expected


async def test_an_unknown_organization_is_the_same_404_by_id_or_slug(
    http: httpx.AsyncClient,
) -> None:
    answers = []
    for spelling in (str(uuid.uuid4()), "no-such-shop-at-all"):
        response = await http.get(f"/v1/public/organizations/{spelling}")
        assert response.status_code == 404, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        answers.append(status_body(response))
    assert answers[0] == answers[1]
    assert error_of_body(answers[0]) == "ORGANIZATION_NOT_FOUND"


def error_of_body(body: dict[str, Any]) -> str:
    return next(
        str(d["reason"]) for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo")
    )


async def test_the_other_public_routes_under_the_organization_still_reach_their_services(
    merchant, http: httpx.AsyncClient
) -> None:
    organization = await own(merchant)
    # The catalog's: a list of products (once the catalog has learnt the
    # organization from the customers service's events).
    deadline = time.monotonic() + 15
    while True:
        products = await http.get(f"/v1/public/organizations/{organization['slug']}/products")
        if products.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert products.status_code == 200, products.text
    assert products.json() == {"products": [], "next_page_token": ""}
    assert products.headers["access-control-allow-origin"] == "*"
    # The subscriptions context's: it checks its own `id`, which ours has not.
    link = await http.get(f"/v1/public/organizations/{merchant.organization_id}/checkout-links/x")
    assert link.status_code == 400, link.text
    assert error_of(link)[2] == ["id"]
    # Ours, beside them; with a trailing slash, nobody's (the gateway serves
    # no path ending with one).
    ours = await http.get(f"/v1/public/organizations/{organization['slug']}")
    assert ours.status_code == 200, ours.text
    assert set(ours.json()) == PUBLIC_FIELDS
    slashed = await http.get(f"/v1/public/organizations/{organization['slug']}/")
    assert slashed.status_code == 404, slashed.text
    status_body(slashed)


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        pytest.param("/v1/public/organizations/%FF", (400,), id="invalid-utf8"),
        pytest.param("/v1/public/organizations/%C3%28", (400,), id="invalid-utf8-pair"),
        pytest.param("/v1/public/organizations/" + "s" * 5000, (414,), id="5k-slug"),
        pytest.param("/v1/public/organizations/" + "s" * 3000, (404,), id="3k-slug"),
        pytest.param("/v1/public/organizations/..", (404,), id="dot-dot"),
        pytest.param("/v1/public/organizations/%2e%2e", (404,), id="encoded-dot-dot"),
        pytest.param("/v1/public/organizations/.", (404,), id="dot"),
        pytest.param("/v1/public/organizations/", (404,), id="empty"),
        pytest.param("/v1/public/organizations/x/../../../organizations", (404,), id="traversal"),
        pytest.param("/v1/public/organizations/acme%2Fproducts", (400, 404), id="encoded-slash"),
        pytest.param("/v1/public/organizations/%00", (400, 404), id="nul"),
        pytest.param("/v1/public/organizations/acme%0d%0aX-Injected:1", (400, 404), id="crlf"),
    ],
)
async def test_a_hostile_public_path_is_a_clean_json_error(
    http: httpx.AsyncClient, path: str, statuses: tuple[int, ...]
) -> None:
    response = await raw_get(http, path)
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    status_body(response)
    assert "x-injected" not in response.headers
    if response.status_code == 400 and "%FF" in path:
        assert error_of(response)[2] == ["organization"]


async def test_a_key_of_one_organization_cannot_patch_another(merchant, other_merchant) -> None:
    before = await own(other_merchant)
    response = await merchant.client.patch(
        f"/v1/organizations/{other_merchant.organization_id}",
        params={"update_mask": "name,branding"},
        json={"name": "Hijacked", "branding": BRANDING},
    )
    assert response.status_code == 404, response.text
    status_body(response)
    # An id in the body that contradicts the path is refused, not followed.
    smuggled = await merchant.client.patch(
        f"/v1/organizations/{merchant.organization_id}",
        params={"update_mask": "name"},
        json={"id": other_merchant.organization_id, "name": "Hijacked"},
    )
    assert smuggled.status_code == 400, smuggled.text
    assert await own(other_merchant) == before
    assert (await own(merchant))["name"] != "Hijacked"


async def test_patch_needs_a_key_and_refuses_bad_branding_naming_each_field(
    merchant, http: httpx.AsyncClient
) -> None:
    anonymous = await http.patch(
        f"/v1/organizations/{merchant.organization_id}",
        params={"update_mask": "name"},
        json={"name": "Nobody"},
    )
    assert anonymous.status_code == 401, anonymous.text
    assert "access-control-allow-origin" not in anonymous.headers
    bad = await merchant.client.patch(
        f"/v1/organizations/{merchant.organization_id}",
        params={"update_mask": "branding"},
        json={
            "branding": {
                "logo_url": "javascript:alert(1)",
                "brand_color": "red",
                "support_email": "help\n@example.com",
            }
        },
    )
    assert bad.status_code == 400, bad.text
    assert error_of(bad) == (
        3,
        "INVALID_ARGUMENT",
        [
            "organization.branding.logo_url",
            "organization.branding.brand_color",
            "organization.branding.support_email",
        ],
    )
    slug = await merchant.client.patch(
        f"/v1/organizations/{merchant.organization_id}",
        params={"update_mask": "slug"},
        json={"slug": "a-new-slug"},
    )
    assert slug.status_code == 400, slug.text
    assert error_of(slug)[2] == ["organization.slug"]


async def test_without_a_mask_only_what_is_sent_changes_and_a_retry_acts_once(merchant) -> None:
    assert (await set_branding(merchant)).status_code == 200
    headers = {"Idempotency-Key": f"brand-{uuid.uuid4()}"}
    path = f"/v1/organizations/{merchant.organization_id}"
    body = {"branding": {"brand_color": "#00FF00"}}
    first = await merchant.client.patch(path, json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["branding"] == {**BRANDING, "brand_color": "#00ff00"}
    assert first.json()["name"] == "Acme Rockets"
    replayed = await merchant.client.patch(path, json=body, headers=headers)
    assert replayed.json() == first.json()
    reused = await merchant.client.patch(
        path, json={"branding": {"brand_color": "#0000ff"}}, headers=headers
    )
    assert reused.status_code == 400, reused.text
    assert error_of(reused)[1] == "IDEMPOTENCY_KEY_REUSED"


async def test_guessing_slugs_is_slowed_per_client_address(
    merchant, client_from: ClientFrom
) -> None:
    """Misses are counted per client network (60 a minute): past them every
    lookup from there is 429 with Retry-After, a hit too, until the
    allowance refills; other addresses look organizations up as before."""
    statuses = []
    async with client_from("127.0.0.31") as guesser:
        for index in range(200):
            answer = await guesser.get(f"/v1/public/organizations/guess-{index}-no-such-org")
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1
                assert "ORGANIZATION_LOOKUPS_RATE_LIMITED" in answer.text
                break
        assert statuses[-1] == 429
        assert 60 <= statuses.count(404) < 199
        known = await guesser.get(f"/v1/public/organizations/{merchant.organization_id}")
        assert known.status_code == 429
    async with client_from("127.0.0.32") as other:
        found = await other.get(f"/v1/public/organizations/{merchant.organization_id}")
        assert found.status_code == 200, found.text
