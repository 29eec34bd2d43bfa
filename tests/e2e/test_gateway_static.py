"""What the gateway serves without any service: the front end built from
web/ (`/pricing-table.js`, the hashed files under `/assets/`), each an exact
path, GET and HEAD only, with its content type and caching; no other path
reaches a file, however it is spelt. The hosted checkout page's HTML at its
two kinds of path only (a link's, a session's), with its security headers
(CSP allowing the suite's Stripe, no referrer, no framing, no caching), and
not at paths that only look like them; the customer portal's the same, at
/portal/{organization id} and its sign-in landing. And CORS: the public catalog's
responses are readable from any origin, and no other route's are."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

import httpx
import pytest

from billingos_cli.gateway import IMMUTABLE_CACHE, STABLE_CACHE, STATIC_CONTENT_TYPES
from billingos_cli.pages import CHECKOUT_PAGE, PAGE_CACHE, PORTAL_PAGE, PORTAL_SIGN_IN_PAGE
from billingos_cli.paths import WEB_DIST
from billingos_cli.suite import Suite
from billingos_cli.web import served_files
from billingos_kit.testing.http import error_of, status_body

from .conftest import Merchant

pytestmark = pytest.mark.e2e

SCRIPT = "/pricing-table.js"
ORIGIN = {"Origin": "https://shop.example"}
CORS = "access-control-allow-origin"


@pytest.fixture
def built(suite: Suite) -> dict[str, Path]:
    """The files the suite's gateway serves at exact paths, by route."""
    if suite.web_unavailable:
        pytest.skip(f"the suite serves no front end here: {suite.web_unavailable}")
    return {
        static.route: Path(static.filename)
        for static in served_files(WEB_DIST)
        if static.page is None
    }


@pytest.fixture
def checkout_page(suite: Suite) -> bytes:
    """The checkout page's HTML shell, as built."""
    if suite.web_unavailable:
        pytest.skip(f"the suite serves no front end here: {suite.web_unavailable}")
    (page,) = [s for s in served_files(WEB_DIST) if s.page is CHECKOUT_PAGE]
    return Path(page.filename).read_bytes()


async def raw(http: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    """A request with the path exactly as written (no client-side cleaning of
    `..` or percent-escapes)."""
    request = http.build_request(method, path)
    request.url = request.url.copy_with(raw_path=path.encode())
    return await http.send(request)


async def test_the_pricing_table_script_is_served_with_a_short_cache(
    http: httpx.AsyncClient, built: dict[str, Path]
) -> None:
    served = await http.get(SCRIPT, headers=ORIGIN)
    assert served.status_code == 200, served.text[:300]
    assert served.headers["content-type"] == "text/javascript; charset=utf-8"
    assert served.headers["cache-control"] == STABLE_CACHE
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.content == built[SCRIPT].read_bytes()
    assert b"billingos-pricing-table" in served.content
    # A classic <script src> needs no CORS, and gets none.
    assert CORS not in served.headers

    head = await http.head(SCRIPT)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(served.content))
    assert head.headers["content-type"] == "text/javascript; charset=utf-8"

    # A query (a merchant's cache-buster) is the same file.
    busted = await http.get(SCRIPT, params={"v": "2"})
    assert busted.status_code == 200
    assert busted.content == served.content


async def test_hashed_assets_are_immutable_and_named_by_their_bytes(
    http: httpx.AsyncClient, built: dict[str, Path]
) -> None:
    assets = {route: path for route, path in built.items() if route.startswith("/assets/")}
    assert assets, "the build has no assets"
    for route, path in assets.items():
        served = await http.get(route)
        assert served.status_code == 200, route
        assert served.headers["cache-control"] == IMMUTABLE_CACHE
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-type"] == STATIC_CONTENT_TYPES[path.suffix]
        assert CORS not in served.headers
        assert served.content == path.read_bytes()
        digest = hashlib.sha256(served.content).hexdigest()[:16]
        assert route.endswith(f"-{digest}{path.suffix}"), route
    # The stable script's current bytes are one of them (same build).
    script = built[SCRIPT].read_bytes()
    assert script in [path.read_bytes() for path in assets.values()]


@pytest.mark.parametrize(
    "path",
    [
        "/assets/no-such-file.js",
        "/assets/pricing-table-0000000000000000.js",
        "/assets",
        "/assets/",
        "/pricing-table.js/",
        "/pricing-table.jsx",
        "/PRICING-TABLE.JS",
        "/pricing-table.js.map",
        "/.billingos-build.sha256",
        "/index.html",
        "/v1/pricing-table.js",
    ],
)
async def test_an_unknown_asset_is_a_json_404(
    http: httpx.AsyncClient, built: dict[str, Path], path: str
) -> None:
    answer = await http.get(path)
    assert answer.status_code == 404, (path, answer.text[:200])
    assert error_of(answer)[0] == 5
    assert CORS not in answer.headers


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../services.toml",
        "/assets/../../services.toml",
        "/assets/%2e%2e/services.toml",
        "/assets/%2E%2E/%2E%2E/services.toml",
        "/assets/..%2fservices.toml",
        "/assets/..%2F..%2Fservices.toml",
        "/assets/%252e%252e/services.toml",
        "/assets/..\\services.toml",
        "/assets/....//services.toml",
        "/assets/./../web/package.json",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/assets/%00.js",
        "/pricing-table.js/../services.toml",
        "/pricing-table.js%00",
    ],
)
async def test_no_path_reaches_another_file(
    http: httpx.AsyncClient, built: dict[str, Path], path: str
) -> None:
    answer = await raw(http, "GET", path)
    assert 400 <= answer.status_code < 500, (path, answer.status_code)
    status_body(answer)
    for secret in (b"[[service]]", b"root:", b'"name": "@billingos/web"'):
        assert secret not in answer.content, path


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_other_methods_are_a_json_405(
    http: httpx.AsyncClient, built: dict[str, Path], method: str
) -> None:
    # (A DELETE with a body is refused before routing, 400, as on every route.)
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    for route in built:
        answer = await http.request(method, route, content=body)
        assert answer.status_code == 405, (method, route, answer.status_code)
        assert error_of(answer)[:2] == (12, "METHOD_NOT_ALLOWED")
        assert answer.headers["allow"] == "GET, HEAD"
        assert CORS not in answer.headers
        assert answer.content != built[route].read_bytes()


ORG = "019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6d"
LINK = "019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6e"
SECRET = "bcx_" + "Ab-_9" * 8 + "xyz"  # 43 characters of url-safe base64
PAGE_PATHS = [
    f"/checkout/{ORG}/{LINK}",
    f"/checkout/{ORG}/{LINK}?price_id={uuid.uuid4()}",
    f"/checkout/session/{SECRET}",
]


def csp_of(response: httpx.Response) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for directive in response.headers["content-security-policy"].split(";"):
        name, *sources = directive.split()
        assert name not in directives, name
        directives[name] = sources
    return directives


@pytest.mark.parametrize("path", PAGE_PATHS)
async def test_the_checkout_page_is_served_with_its_security_headers(
    http: httpx.AsyncClient, suite: Suite, checkout_page: bytes, path: str
) -> None:
    assert len(SECRET) == 47
    page = await http.get(path)
    assert page.status_code == 200, page.text[:300]
    assert page.content == checkout_page
    headers = page.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == PAGE_CACHE
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"  # the URL holds a secret
    assert headers["x-frame-options"] == "DENY"
    assert CORS not in headers
    # Its own files and API, and the suite's Stripe (the local stand-in):
    # Stripe.js, its API calls and its frames; no inline script, no framing.
    stripe = suite.stripe_api_base.rstrip("/")
    csp = csp_of(page)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'", stripe]
    assert csp["connect-src"] == ["'self'", stripe]
    assert csp["frame-src"] == [stripe]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert not [d for d, sources in csp.items() if "'unsafe-eval'" in sources]

    head = await http.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-security-policy"] == headers["content-security-policy"]


async def test_the_checkout_page_loads_its_hashed_files_relatively(
    http: httpx.AsyncClient, checkout_page: bytes
) -> None:
    """The shell names its script and stylesheet as ../../assets/…: from
    either kind of page path (three segments deep) that is the gateway's
    /assets/, immutable; nothing inline."""
    html = checkout_page.decode()
    names = re.findall(r'(?:src|href)="\.\./\.\./assets/([^"]+)"', html)
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["css", "js"], html
    assert html.count("<script") == 1
    assert "<style" not in html
    for path in PAGE_PATHS[::2]:
        for name in names:
            url = httpx.URL(str(http.base_url)).join(path).join(f"../../assets/{name}")
            assert url.path == f"/assets/{name}"
            asset = await http.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["cache-control"] == IMMUTABLE_CACHE


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_the_checkout_page_refuses_other_methods(
    http: httpx.AsyncClient, checkout_page: bytes, method: str
) -> None:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    for path in PAGE_PATHS:
        answer = await http.request(method, path, content=body)
        assert answer.status_code == 405, (method, path, answer.status_code)
        assert error_of(answer)[:2] == (12, "METHOD_NOT_ALLOWED")
        assert answer.headers["allow"] == "GET, HEAD"
        assert answer.content != checkout_page


@pytest.mark.parametrize(
    "path",
    [
        "/checkout",
        "/checkout/",
        f"/checkout/{ORG}",
        f"/checkout/{ORG}/{LINK}/",
        f"/checkout/{ORG}/{LINK}/extra",
        f"/checkout/{ORG}/{LINK}/../../{ORG}",
        f"/checkout/{ORG}/../{LINK}",
        f"/checkout/{ORG}%2F{LINK}",
        f"/checkout/{ORG}/..%2F{LINK}",
        f"/checkout/{ORG}/{LINK}%2F",
        f"/checkout/{ORG}/{LINK}%00",
        f"/checkout/{ORG.upper()}/{LINK}",
        f"/checkout/{ORG}/{LINK}.html",
        f"/CHECKOUT/{ORG}/{LINK}",
        f"/checkout/session/{SECRET[:-1]}",
        f"/checkout/session/{SECRET}A",
        f"/checkout/session/{SECRET}/x",
        f"/checkout/session/{SECRET[:-1]}%2F",
        "/checkout/session/sk_live_" + "A" * 39,
        "/checkout/session/" + "A" * 10240,
        f"/checkout/{'a' * 10240}/{LINK}",
        "/pages/checkout.html",
        "/checkout.html",
        "/assets/../pages/checkout.html",
    ],
)
async def test_paths_that_only_look_like_the_checkout_page_do_not_serve_it(
    http: httpx.AsyncClient, checkout_page: bytes, path: str
) -> None:
    answer = await raw(http, "GET", path)
    assert 400 <= answer.status_code < 500, (path, answer.status_code)
    assert answer.content != checkout_page
    assert "content-security-policy" not in answer.headers
    status_body(answer)


@pytest.fixture
def portal_pages(suite: Suite) -> dict[str, bytes]:
    """The portal's two HTML shells as built, by their route's file name."""
    if suite.web_unavailable:
        pytest.skip(f"the suite serves no front end here: {suite.web_unavailable}")
    return {
        s.page.file_name: Path(s.filename).read_bytes()
        for s in served_files(WEB_DIST)
        if s.page in (PORTAL_PAGE, PORTAL_SIGN_IN_PAGE)
    }


PORTAL_PATHS = [
    (f"/portal/{ORG}", "portal.html"),
    (f"/portal/{ORG}?view=orders", "portal.html"),
    (f"/portal/{ORG}/sign-in", "portal-sign-in.html"),
]


@pytest.mark.parametrize(("path", "shell"), PORTAL_PATHS)
async def test_the_portal_is_served_with_the_checkout_pages_headers(
    http: httpx.AsyncClient, suite: Suite, portal_pages: dict[str, bytes], path: str, shell: str
) -> None:
    page = await http.get(path)
    assert page.status_code == 200, page.text[:300]
    assert page.content == portal_pages[shell]
    checkout = await http.get(PAGE_PATHS[0])
    for header in (
        "content-type",
        "cache-control",
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
        "cross-origin-resource-policy",
    ):
        assert page.headers[header] == checkout.headers[header], header
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert CORS not in page.headers
    csp = csp_of(page)
    assert csp["frame-ancestors"] == ["'none'"]
    # Cards are added through Stripe.js, as on the checkout page.
    stripe = suite.stripe_api_base.rstrip("/")
    assert csp["script-src"] == ["'self'", stripe]
    assert csp["connect-src"] == ["'self'", stripe]
    assert csp["frame-src"] == [stripe]
    head = await http.head(path)
    assert head.status_code == 200
    assert head.content == b""


async def test_the_portals_shells_load_their_hashed_files_relatively(
    http: httpx.AsyncClient, portal_pages: dict[str, bytes]
) -> None:
    """/portal/{id} is two segments deep, its sign-in landing three: each
    shell reaches /assets/ from its own depth, and both load the same files."""
    loaded: dict[str, list[str]] = {}
    for path, shell in PORTAL_PATHS:
        html = portal_pages[shell].decode()
        names = re.findall(r'(?:src|href)="((?:\.\./)+)assets/([^"]+)"', html)
        assert sorted(n.rsplit(".", 1)[1] for _, n in names) == ["css", "js"], html
        assert html.count("<script") == 1
        assert "<style" not in html
        for up, name in names:
            url = httpx.URL(str(http.base_url)).join(path).join(f"{up}assets/{name}")
            assert url.path == f"/assets/{name}", (path, up)
            asset = await http.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["cache-control"] == IMMUTABLE_CACHE
        loaded[shell] = sorted(name for _, name in names)
    assert loaded["portal.html"] == loaded["portal-sign-in.html"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_the_portal_refuses_other_methods(
    http: httpx.AsyncClient, portal_pages: dict[str, bytes], method: str
) -> None:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    for path, _ in PORTAL_PATHS:
        answer = await http.request(method, path, content=body)
        assert answer.status_code == 405, (method, path, answer.status_code)
        assert error_of(answer)[:2] == (12, "METHOD_NOT_ALLOWED")
        assert answer.headers["allow"] == "GET, HEAD"
        assert answer.content not in portal_pages.values()


@pytest.mark.parametrize(
    "path",
    [
        "/portal",
        "/portal/",
        "/portal/acme",
        f"/portal/{ORG}/",
        f"/portal/{ORG}/sign-in/",
        f"/portal/{ORG}/sign-in/x",
        f"/portal/{ORG}/orders",
        f"/portal/{ORG}/SIGN-IN",
        f"/portal/{ORG.upper()}",
        f"/PORTAL/{ORG}",
        f"/portal/{ORG}x",
        f"/portal/{ORG}%2Fsign-in",
        f"/portal/{ORG}/..%2Fsign-in",
        f"/portal/{ORG}%00",
        f"/portal/{ORG}/sign-in.html",
        f"/portal/{'a' * 10240}",
        f"/v1/portal/{ORG}",
        "/pages/portal.html",
        "/pages/portal-sign-in.html",
        "/portal.html",
        "/assets/../pages/portal.html",
    ],
)
async def test_paths_that_only_look_like_the_portal_do_not_serve_it(
    http: httpx.AsyncClient, portal_pages: dict[str, bytes], path: str
) -> None:
    answer = await raw(http, "GET", path)
    assert 400 <= answer.status_code < 500, (path, answer.status_code)
    assert answer.content not in portal_pages.values()
    assert "content-security-policy" not in answer.headers
    status_body(answer)


async def test_the_public_catalog_is_readable_from_any_origin(
    merchant: Merchant, http: httpx.AsyncClient
) -> None:
    organization = await merchant.client.get(f"/v1/organizations/{merchant.organization_id}")
    slug = organization.json()["slug"]
    for name in (slug, merchant.organization_id):
        listed = await http.get(f"/v1/public/organizations/{name}/products", headers=ORIGIN)
        # The catalog may not have heard of the organization yet: then its
        # 404, which a pricing table must read as well, to say so.
        assert listed.status_code in (200, 404), listed.text
        assert listed.headers[CORS] == "*"
    unknown = await http.get("/v1/public/organizations/no-such-shop/products", headers=ORIGIN)
    assert unknown.status_code == 404
    assert unknown.headers[CORS] == "*"
    # A simple GET needs no preflight, and none is answered with permissions.
    preflight = await http.options(
        f"/v1/public/organizations/{slug}/products",
        headers={**ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-methods" not in preflight.headers
    assert "access-control-allow-credentials" not in preflight.headers


async def test_no_other_route_has_cors(merchant: Merchant, http: httpx.AsyncClient) -> None:
    own = await merchant.client.get("/v1/customers", headers=ORIGIN)
    assert own.status_code == 200
    assert CORS not in own.headers
    products = await merchant.client.get("/v1/products", headers=ORIGIN)
    assert products.status_code == 200
    assert CORS not in products.headers
    for path in ("/v1/customers", "/openapi.json", "/no/such/route"):
        answer = await http.get(path, headers=ORIGIN)
        assert CORS not in answer.headers, path
