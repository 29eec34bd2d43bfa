"""The HTML pages the gateway serves itself (the hosted checkout page and the
customer portal): which paths each one answers, and the security headers
that go with it.

A page is one HTML shell from the front end's build (`web/dist/pages/`)
that loads its hashed script and stylesheet from `/assets/`. Unlike the
other static files it is served at a family of paths, each a regular
expression (RE2, matched by Envoy against the whole path without its query)
exact enough that nothing else reaches it: the checkout page answers
`/checkout/{organization id}/{checkout link id}` (the `url` of a checkout
link) and `/checkout/session/{client secret}` (the `url` of a session a
merchant made), ids as the API writes them and a secret as the service
makes it; an extra segment, a `..`, an encoded slash or a longer segment
is another path, and gets the gateway's JSON 404. The customer portal
answers `/portal/{organization id}` (a merchant's app sends its customer
there with `#session=…`) and `/portal/{organization id}/sign-in` (a sign-in
link's landing, `#token=…`): two shells of one build, as each names its
assets relatively from its own depth.

The headers (`page_headers`): no caching of the HTML (its assets are
immutable instead), `nosniff`, no referrer (the URL holds the session's
secret), no framing, and a Content-Security-Policy that allows the page's
own files and API, and Stripe.js from the origins the deployment names
(gateway.toml's [checkout_page]: Stripe's own; a suite running the local
Stripe stand-in passes the stand-in's address instead, `StripeOrigins.of_api_base`).
No inline script or style element can run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

PAGE_CONTENT_TYPE = "text/html; charset=utf-8"
# The HTML is revalidated on every visit (it is tiny, and names the current
# build's assets); `private`: a shared cache keeps nothing of a URL with a
# secret in it.
PAGE_CACHE = "private, no-cache"
STRIPE_API_ORIGIN = "https://api.stripe.com"

_ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# "bcx_" and 32 random bytes in url-safe base64, unpadded
# (services/subscriptions: SECRET_PREFIX + secrets.token_urlsafe(32)).
_CLIENT_SECRET = "bcx_[A-Za-z0-9_-]{43}"


@dataclass(frozen=True)
class PageRoute:
    """Where an HTML page of the build (`pages/<file_name>`) is served."""

    file_name: str
    # How the paths read, for people (`./billingos web build` prints them).
    templates: tuple[str, ...]
    # Envoy `safe_regex` matches: each must match the whole path.
    patterns: tuple[str, ...]

    def matches(self, path: str) -> bool:
        """Whether Envoy would serve the page at `path` (for tests)."""
        return any(re.fullmatch(pattern, path) for pattern in self.patterns)


CHECKOUT_PAGE = PageRoute(
    file_name="checkout.html",
    templates=(
        "/checkout/{organization_id}/{checkout_link_id}",
        "/checkout/session/{client_secret}",
    ),
    patterns=(f"/checkout/{_ID}/{_ID}", f"/checkout/session/{_CLIENT_SECRET}"),
)
# The customer portal (web/src/portal/): its page, and the landing of the
# sign-in links the customers service emails through the merchant's webhook
# (`{public base URL}/portal/{organization id}/sign-in#token=bcm_…`). The
# tokens travel in the fragment, which no request carries: the paths hold
# only the organization's id.
PORTAL_PAGE = PageRoute(
    file_name="portal.html",
    templates=("/portal/{organization_id}",),
    patterns=(f"/portal/{_ID}",),
)
PORTAL_SIGN_IN_PAGE = PageRoute(
    file_name="portal-sign-in.html",
    templates=("/portal/{organization_id}/sign-in",),
    patterns=(f"/portal/{_ID}/sign-in",),
)
PAGE_ROUTES = {page.file_name: page for page in (CHECKOUT_PAGE, PORTAL_PAGE, PORTAL_SIGN_IN_PAGE)}

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https://\*\.[A-Za-z0-9.-]+")


def _checked_origins(name: str, origins: tuple[str, ...]) -> tuple[str, ...]:
    """Origins fit for a CSP source list: a scheme, a host (a `*.` wildcard
    for https) and a port; nothing that could end the directive."""
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(f"{name}: {origin!r} is not an origin (scheme://host[:port])")
    return origins


@dataclass(frozen=True)
class StripeOrigins:
    """Where Stripe.js comes from and what it talks to, as the checkout
    page's CSP allows them."""

    scripts: tuple[str, ...]  # script-src: Stripe.js itself
    connect: tuple[str, ...]  # connect-src: its API calls
    frames: tuple[str, ...]  # frame-src: the card element, 3-D Secure

    def __post_init__(self) -> None:
        _checked_origins("stripe_script_origins", self.scripts)
        _checked_origins("stripe_connect_origins", self.connect)
        _checked_origins("stripe_frame_origins", self.frames)

    @classmethod
    def from_toml(cls, section: dict[str, Any]) -> StripeOrigins:
        return cls(
            scripts=tuple(section["stripe_script_origins"]),
            connect=tuple(section["stripe_connect_origins"]),
            frames=tuple(section["stripe_frame_origins"]),
        )

    @classmethod
    def of_api_base(cls, api_base: str) -> StripeOrigins | None:
        """The origins of the Stripe a suite uses: None for Stripe's own API
        (or none named: gateway.toml's origins then), else a stand-in's,
        which serves its Stripe.js, API and pages itself (localstripe:
        `/js.stripe.com/v3/`)."""
        parts = urlsplit(api_base)
        origin = f"{parts.scheme}://{parts.netloc}"
        if not parts.netloc or origin == STRIPE_API_ORIGIN:
            return None
        return cls(scripts=(origin,), connect=(origin,), frames=(origin,))


def content_security_policy(stripe: StripeOrigins) -> str:
    """The pages' policy (checkout and portal alike: both take a card through
    Stripe.js). Their own files and API ('self'), Stripe.js
    and its frames; logos of organizations from any https host; nothing
    inline but style attributes (Stripe.js positions its iframe with them:
    they run no code and, without selectors, read nothing); no plugins, no
    <base>, no form posted anywhere, never inside another page's frame."""
    directives = [
        ("default-src", ("'none'",)),
        ("script-src", ("'self'", *stripe.scripts)),
        ("style-src", ("'self'",)),
        ("style-src-attr", ("'unsafe-inline'",)),
        ("img-src", ("'self'", "https:")),
        ("font-src", ("'self'",)),
        ("connect-src", ("'self'", *stripe.connect)),
        ("frame-src", stripe.frames or ("'none'",)),
        ("object-src", ("'none'",)),
        ("base-uri", ("'none'",)),
        ("form-action", ("'none'",)),
        ("frame-ancestors", ("'none'",)),
    ]
    return "; ".join(f"{name} {' '.join(dict.fromkeys(sources))}" for name, sources in directives)


def page_headers(stripe: StripeOrigins) -> list[tuple[str, str]]:
    """The response headers of a page (besides its content type)."""
    return [
        ("cache-control", PAGE_CACHE),
        ("content-security-policy", content_security_policy(stripe)),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-resource-policy", "same-origin"),
    ]
