"""The HTML pages the gateway serves itself (the hosted checkout page and the
customer portal, billingos_cli.pages), as rendered into the Envoy config:
GET and HEAD at exactly the paths of the page's route, every other method a
405, the page's security headers with the Stripe origins of gateway.toml or
of the target, and a config Envoy accepts."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from billingos_cli.gateway import (
    TRANSCODER_FILTER,
    Endpoint,
    GatewaySource,
    GatewayTarget,
    StaticFile,
    render,
)
from billingos_cli.pages import (
    CHECKOUT_PAGE,
    PAGE_CACHE,
    PAGE_ROUTES,
    PORTAL_PAGE,
    PORTAL_SIGN_IN_PAGE,
    StripeOrigins,
    content_security_policy,
)
from billingos_cli.paths import DESCRIPTOR_SET
from billingos_cli.services import SERVICES
from billingos_kit.local import venv_binary

pytestmark = pytest.mark.contract

ORG = "019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6d"
LINK = "019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6e"
SECRET = "bcx_" + "Ab-_9" * 8 + "xyz"
PAGE = StaticFile(", ".join(CHECKOUT_PAGE.templates), "/srv/web/checkout.html", CHECKOUT_PAGE)
STAND_IN = "http://127.0.0.1:4242"


def target(*files: StaticFile, stripe: StripeOrigins | None = None) -> GatewayTarget:
    return GatewayTarget(
        listen=Endpoint("127.0.0.1", 8080),
        admin=Endpoint("127.0.0.1", 9901),
        descriptor_path=str(DESCRIPTOR_SET),
        upstreams={spec.name: Endpoint("127.0.0.1", 50061 + i) for i, spec in enumerate(SERVICES)},
        gateway_token="gateway-token",
        static_files=files,
        stripe_origins=stripe,
    )


def page_routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes = manager["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    return [r for r in routes if "safe_regex" in r["match"]]


def headers_of(route: dict[str, Any]) -> dict[str, str]:
    return {h["header"]["key"]: h["header"]["value"] for h in route["response_headers_to_add"]}


def test_the_checkout_page_matches_its_two_paths_and_nothing_like_them() -> None:
    for path in (f"/checkout/{ORG}/{LINK}", f"/checkout/session/{SECRET}"):
        assert CHECKOUT_PAGE.matches(path), path
    for path in (
        f"/checkout/{ORG}",
        f"/checkout/{ORG}/{LINK}/x",
        f"/checkout/{ORG}/{LINK}/",
        f"/checkout/{ORG.upper()}/{LINK}",
        f"/checkout/{ORG}%2F{LINK}",
        f"/checkout/session/{SECRET}x",
        f"/checkout/session/{SECRET[:-1]}",
        f"/checkout/session/{SECRET[:-1]}%",
        f"/x/checkout/{ORG}/{LINK}",
    ):
        assert not CHECKOUT_PAGE.matches(path), path


def test_the_portal_matches_its_two_paths_and_nothing_like_them() -> None:
    assert PORTAL_PAGE.matches(f"/portal/{ORG}")
    assert PORTAL_SIGN_IN_PAGE.matches(f"/portal/{ORG}/sign-in")
    assert not PORTAL_PAGE.matches(f"/portal/{ORG}/sign-in")
    assert not PORTAL_SIGN_IN_PAGE.matches(f"/portal/{ORG}")
    for path in (
        "/portal",
        "/portal/",
        "/portal/acme",
        f"/portal/{ORG}/",
        f"/portal/{ORG}/sign-in/",
        f"/portal/{ORG}/sign-in/x",
        f"/portal/{ORG}/orders",
        f"/portal/{ORG.upper()}",
        f"/portal/{ORG}%2Fsign-in",
        f"/portal/{ORG}/SIGN-IN",
        f"/x/portal/{ORG}",
        f"/portal/{ORG}x",
    ):
        assert not any(page.matches(path) for page in PAGE_ROUTES.values()), path


def test_the_portals_routes_have_the_checkout_pages_headers() -> None:
    pages = [
        StaticFile(", ".join(page.templates), f"/srv/web/{page.file_name}", page)
        for page in (CHECKOUT_PAGE, PORTAL_PAGE, PORTAL_SIGN_IN_PAGE)
    ]
    routes = page_routes(render(target(*pages)))
    served = {
        r["match"]["safe_regex"]["regex"]: r
        for r in routes
        if r["direct_response"]["status"] == 200
    }
    refused = [
        r["match"]["safe_regex"]["regex"] for r in routes if r["direct_response"]["status"] == 405
    ]
    for page, filename in (
        (PORTAL_PAGE, "portal.html"),
        (PORTAL_SIGN_IN_PAGE, "portal-sign-in.html"),
    ):
        (pattern,) = page.patterns
        assert pattern in refused
        route = served[pattern]
        assert route["direct_response"]["body"] == {"filename": f"/srv/web/{filename}"}
        assert route["match"]["headers"] == [
            {"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}}
        ]
        assert headers_of(route) == headers_of(served[CHECKOUT_PAGE.patterns[0]])


def test_page_routes_are_get_and_head_with_the_pages_headers_then_405() -> None:
    routes = page_routes(render(target(PAGE)))
    assert [
        (r["match"]["safe_regex"]["regex"], r["direct_response"]["status"]) for r in routes
    ] == [
        (CHECKOUT_PAGE.patterns[0], 200),
        (CHECKOUT_PAGE.patterns[0], 405),
        (CHECKOUT_PAGE.patterns[1], 200),
        (CHECKOUT_PAGE.patterns[1], 405),
    ]
    for route in routes:
        assert route["typed_per_filter_config"][TRANSCODER_FILTER]["disabled"] is True
    served = [r for r in routes if r["direct_response"]["status"] == 200]
    for route in served:
        assert route["match"]["headers"] == [
            {"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}}
        ]
        assert route["direct_response"]["body"] == {"filename": PAGE.filename}
        headers = headers_of(route)
        assert headers.pop("content-security-policy").startswith("default-src 'none'; ")
        assert headers == {
            "content-type": "text/html; charset=utf-8",
            "cache-control": PAGE_CACHE,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
            "cross-origin-resource-policy": "same-origin",
        }
    refused = [r for r in routes if r["direct_response"]["status"] == 405]
    assert all(headers_of(r) == {"allow": "GET, HEAD"} for r in refused)
    assert all("headers" not in r["match"] for r in refused)


def test_the_csp_allows_stripe_from_gateway_toml_unless_the_target_names_a_stand_in() -> None:
    production = GatewaySource.load().stripe_origins
    assert production == StripeOrigins(
        scripts=("https://js.stripe.com",),
        connect=("https://api.stripe.com",),
        frames=("https://js.stripe.com", "https://hooks.stripe.com"),
    )
    (served, *_) = page_routes(render(target(PAGE)))
    assert headers_of(served)["content-security-policy"] == (
        "default-src 'none'; script-src 'self' https://js.stripe.com; style-src 'self'; "
        "style-src-attr 'unsafe-inline'; img-src 'self' https:; font-src 'self'; "
        "connect-src 'self' https://api.stripe.com; "
        "frame-src https://js.stripe.com https://hooks.stripe.com; object-src 'none'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    stand_in = StripeOrigins.of_api_base(STAND_IN + "/")
    assert stand_in == StripeOrigins((STAND_IN,), (STAND_IN,), (STAND_IN,))
    (served, *_) = page_routes(render(target(PAGE, stripe=stand_in)))
    policy = headers_of(served)["content-security-policy"]
    assert f"script-src 'self' {STAND_IN};" in policy
    assert f"connect-src 'self' {STAND_IN};" in policy
    assert f"frame-src {STAND_IN};" in policy
    assert "stripe.com" not in policy
    # The suite with Stripe's own API keeps gateway.toml's origins.
    assert StripeOrigins.of_api_base("https://api.stripe.com") is None


@pytest.mark.parametrize(
    "origin",
    ["js.stripe.com", "https://js.stripe.com/v3/", "https://x.com; script-src *", "'self'", "*"],
)
def test_an_origin_that_is_not_one_is_refused(origin: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        StripeOrigins(scripts=(origin,), connect=(), frames=())


def test_no_page_policy_allows_inline_or_evaluated_script() -> None:
    policy = content_security_policy(GatewaySource.load().stripe_origins)
    script = next(d for d in policy.split("; ") if d.startswith("script-src "))
    assert "'unsafe-inline'" not in script
    assert "'unsafe-eval'" not in policy
    assert "'unsafe-inline'" not in next(
        d for d in policy.split("; ") if d.startswith("style-src ")
    )


def test_a_page_is_served_once() -> None:
    with pytest.raises(ValueError, match="served twice"):
        render(target(PAGE, dataclasses.replace(PAGE, filename="/srv/other.html")))


def test_envoy_validates_the_config_with_a_page(tmp_path: Path) -> None:
    """The page's patterns are RE2 programs larger than Envoy's default
    bound (100): the rendered runtime raises it, and Envoy accepts them."""
    (tmp_path / "checkout.html").write_text("<!doctype html>\n")
    page = dataclasses.replace(PAGE, filename=str(tmp_path / "checkout.html"))
    config = tmp_path / "envoy.yaml"
    config.write_text(
        yaml.safe_dump(render(target(page, stripe=StripeOrigins.of_api_base(STAND_IN))))
    )
    result = subprocess.run(
        [
            str(venv_binary("envoy")),
            "--mode",
            "validate",
            "-c",
            str(config),
            "--use-dynamic-base-id",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
