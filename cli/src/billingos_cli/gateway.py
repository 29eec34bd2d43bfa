"""Renders the Envoy gateway's configuration from `gateway/gateway.toml`, the
service registry `services.toml` (the upstreams), the descriptor set and the
Lua filters in `gateway/`.

The gateway is a security boundary. Filters, in order:

1. a header mutation that removes every client-sent grpc-*, x-billingos-*,
   x-envoy-* and te header: declarative, so it holds even should the script
   below fail (Envoy lets a request through a failing Lua script);
2. `edge.lua`: the path limit, an allow-list of request headers (nothing else a
   client sends reaches a service), the REST path passed on for the service's
   path-wins check, and on the way out every error made a `google.rpc.Status`
   JSON that names no internal type, and no grpc-* response header;
3. a per-address request rate limit, then `body.lua`: no body on GET, DELETE
   or HEAD, and the body limit (by Content-Length, without holding the body);
4. the gRPC-JSON transcoder;
5. the router, which adds the gateway's credential (its own secret, not the
   services' token: a service knows the call came from outside) and the
   client address it trusts, and sets the gRPC deadline to the route's
   timeout.

A few routes answer from files, without any service: `GET /openapi.json`
and the built front end (web/dist: `/pricing-table.js` and `/assets/…`),
each an exact path served as a direct response read when Envoy starts,
GET and HEAD only (`StaticFile`, docs/frontend.md); and its HTML pages (the
hosted checkout page, the customer portal), each at the paths of its
`PageRoute` (strict regular expressions, `billingos_cli.pages`) with a
Content-Security-Policy that allows Stripe.js from the origins configured. The public catalog's
routes (`*.Public*Service`) carry `Access-Control-Allow-Origin: *`, so a
merchant's page on any origin can read them; no other route has CORS.

The API key (`Authorization: Bearer …`) goes on to the service that serves
the call, whose pipeline checks it (billingos_kit.keycheck: 401, or 429 for an
address with too many failed checks). The gateway does not ask a key check
of its own (Envoy's ext_authz) on every request: with that second RPC into a
Python process REST calls ran at 0.46 of gRPC's rate, without it at 0.79
(bench/README.md).

Envoy's own replies (every code it can emit) are JSON in the same shape.
"""

from __future__ import annotations

import importlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool

from billingos.common.v1 import options_pb2
from billingos_cli.pages import (
    PAGE_CACHE,
    PAGE_CONTENT_TYPE,
    PageRoute,
    StripeOrigins,
    page_headers,
)
from billingos_cli.paths import DESCRIPTOR_SET, GATEWAY_DIR
from billingos_cli.services import SERVICES, ServiceSpec
from billingos_kit.errors import ERROR_DOMAIN
from billingos_kit.grpc.bindings import HttpBinding, http_bindings
from billingos_kit.headers import (
    CLIENT_ADDRESS_HEADER,
    IDEMPOTENCY_HEADER,
    REQUEST_ID_HEADER,
    REST_PATH_HEADER,
    REST_QUERY_HEADER,
    SERVICE_TOKEN_HEADER,
)

GATEWAY_SOURCE = GATEWAY_DIR / "gateway.toml"
EDGE_SCRIPT = GATEWAY_DIR / "edge.lua"
OPENAPI_ROUTE = "/openapi.json"
TRANSCODER_FILTER = "envoy.filters.http.grpc_json_transcoder"
MAX_OPENAPI_BYTES = 8 * 1024 * 1024
BODY_SCRIPT = GATEWAY_DIR / "body.lua"

# The only request headers that cross the gateway's first filter. Everything
# the gateway needs further on it sets itself (the router). `authorization`
# goes on to the service, which checks the key; Envoy's own
# `x-forwarded-proto` is needed to find routes after transcoding.
# Dropped on purpose, among all others: `user-agent`, `accept-encoding` (the
# gateway does not compress) and tracing headers (`traceparent`; tracing
# would add them at the gateway, not trust a client's).
ALLOWED_REQUEST_HEADERS = (
    "authorization",
    "content-length",
    "content-type",
    IDEMPOTENCY_HEADER,
    REQUEST_ID_HEADER,
    "x-forwarded-proto",
    # Stripe's webhook signature (payments checks it on the raw body).
    "stripe-signature",
)
# Never forwarded to a service.
REMOVED_BEFORE_FORWARDING = (
    "x-envoy-original-path",  # the transcoder's copy of the URL, query and all
    "x-envoy-original-method",
    "x-forwarded-for",
    "x-forwarded-proto",
)
# Second line behind the allow-list: never let these reach a service.
REMOVED_PREFIXES = ("grpc-", "x-billingos-", "x-envoy-")
# Tells the edge filter a body is one of Envoy's own replies (to be cleaned).
LOCAL_REPLY_MARK = "x-billingos-local-reply"

_EXT = "type.googleapis.com/envoy.extensions."
UNROUTED_CLUSTER = "unrouted"

# Services whose methods are anonymous, for merchants' public pages
# (PublicCatalogService): their responses may be read by a page on any origin.
PUBLIC_SERVICE_PREFIX = "Public"
# A CORS "simple" GET (no custom header, no credentials) needs only this.
PUBLIC_CORS_HEADER = ("access-control-allow-origin", "*")

# Content types of the files the gateway serves, by suffix; a file of any
# other kind is refused when the config is rendered (never served as a guess).
STATIC_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
# A name that changes whenever its bytes do (web/dist/assets/): cached for a
# year and never revalidated.
IMMUTABLE_PREFIX = "/assets/"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
# A stable name (/pricing-table.js): a merchant's pages pick up a new build
# within five minutes.
STABLE_CACHE = "public, max-age=300"
STATIC_METHODS = ("GET", "HEAD")
# RE2 refuses a regex whose compiled program is larger than this (Envoy's
# default is 100); the checkout page's path, two ids spelt out exactly, is
# 151. Every regex here is the gateway's own, none a client's.
MAX_REGEX_PROGRAM_SIZE = 256


@dataclass(frozen=True)
class LocalReply:
    """How the gateway answers with an HTTP status of its own: the google.rpc
    code, a stable reason, and the message. With `keep_detail`, the message of
    the filter that answered (a transcoder's "foo: is not a parameter of this
    method", the key check's words) is kept, cleaned by the edge filter, and
    `message` is only its fallback."""

    status: int
    code: int
    reason: str
    message: str
    keep_detail: bool = False


LOCAL_REPLIES = (
    LocalReply(400, 3, "INVALID_REQUEST", "the request is not valid", keep_detail=True),
    # Services answer missing and bad keys themselves (API_KEY_MISSING,
    # API_KEY_INVALID); this shape is for a 401 Envoy would make.
    LocalReply(401, 16, "UNAUTHENTICATED", "an API key is required", keep_detail=True),
    # Envoy's own 403 refuses a protocol upgrade (websockets); keys get 401/429.
    LocalReply(403, 7, "REQUEST_NOT_ALLOWED", "this request is not allowed (e.g. an upgrade)"),
    LocalReply(
        404,
        5,
        "METHOD_NOT_FOUND",
        "no such method or resource: check the URL and the HTTP method",
        keep_detail=True,
    ),
    LocalReply(405, 12, "METHOD_NOT_ALLOWED", "this HTTP method is not allowed here"),
    LocalReply(408, 4, "REQUEST_TIMEOUT", "the request took too long to arrive"),
    LocalReply(413, 3, "REQUEST_TOO_LARGE", "the request body is too large"),
    LocalReply(414, 3, "URI_TOO_LONG", "the URL is too long", keep_detail=True),
    LocalReply(415, 3, "UNSUPPORTED_MEDIA_TYPE", "send JSON (application/json)"),
    LocalReply(426, 9, "UPGRADE_REQUIRED", "HTTP/1.0 is not served: use HTTP/1.1 or HTTP/2"),
    LocalReply(
        429,
        8,
        "RATE_LIMITED",
        "too many requests from this address; retry after the Retry-After delay",
        keep_detail=True,
    ),
    LocalReply(431, 3, "HEADERS_TOO_LARGE", "the request headers are too large"),
    LocalReply(
        500, 13, "INTERNAL", "internal error; quote the x-request-id header when reporting it"
    ),
    LocalReply(
        501, 12, "NOT_IMPLEMENTED", "this request is not supported (e.g. its transfer encoding)"
    ),
    LocalReply(502, 14, "UNAVAILABLE", "the service is unavailable; retry later"),
    LocalReply(503, 14, "UNAVAILABLE", "the service is unavailable; retry later"),
    LocalReply(504, 4, "DEADLINE_EXCEEDED", "the service did not answer in time; retry later"),
)
# Any other status (a catch-all, so no reply escapes the shape).
OTHER_REPLY = LocalReply(0, 2, "GATEWAY_ERROR", "the request failed at the gateway")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class StaticFile:
    """A file the gateway serves itself at an exact path (GET and HEAD; any
    other method is a 405). Nothing but the listed paths reaches a file, so
    no request path can name another one (`..`, `%2e%2e`, an encoded slash:
    each is simply a path with no route). A page (`page` set) is served
    instead at every path its route's patterns match, and `route` only says
    which ("/checkout/{organization_id}/{checkout_link_id}, …")."""

    route: str  # "/pricing-table.js", "/assets/pricing-table-1a2b3c4d5e6f7a8b.js"
    filename: str  # where Envoy reads it, when it starts
    page: PageRoute | None = None

    @property
    def content_type(self) -> str:
        if self.page is not None:
            return PAGE_CONTENT_TYPE
        suffix = PurePosixPath(self.route).suffix
        if suffix not in STATIC_CONTENT_TYPES:
            raise ValueError(
                f"{self.route}: the gateway serves no {suffix or 'suffix-less'} files "
                f"(known: {', '.join(sorted(STATIC_CONTENT_TYPES))})"
            )
        return STATIC_CONTENT_TYPES[suffix]

    @property
    def cache_control(self) -> str:
        if self.page is not None:
            return PAGE_CACHE
        return IMMUTABLE_CACHE if self.route.startswith(IMMUTABLE_PREFIX) else STABLE_CACHE


@dataclass(frozen=True)
class GatewayTarget:
    """Where this rendering of the gateway runs and what it talks to."""

    listen: Endpoint
    admin: Endpoint
    descriptor_path: str
    upstreams: dict[str, Endpoint]
    # The gateway's own credential towards the services (never their token).
    gateway_token: str
    dns_upstreams: bool = False  # STRICT_DNS (Kubernetes) instead of STATIC IPs
    # The OpenAPI document served at OPENAPI_ROUTE (read by Envoy at start);
    # empty: not served (a gateway rendered for a test of something else).
    openapi_path: str = ""
    # The built front end (billingos_cli.web.served_files: web/dist on this
    # machine, the gateway-web ConfigMap in Kubernetes); empty: none served.
    static_files: tuple[StaticFile, ...] = ()
    # The Stripe the pages' Content-Security-Policy allows; None: the one of
    # gateway.toml's [checkout_page] (Stripe's own). A suite with the local
    # stand-in names the stand-in (StripeOrigins.of_api_base).
    stripe_origins: StripeOrigins | None = None


@dataclass(frozen=True)
class GatewayLimits:
    max_path_bytes: int
    max_request_headers_kb: int
    max_request_body_bytes: int
    route_timeout_seconds: int
    # Requests one client address may make per second (a burst of twice that):
    # one source cannot take the gateway's and the key check's time from all.
    requests_per_second_per_address: int
    max_connections: int
    idle_connection_seconds: int
    # Proxies in front of the gateway whose X-Forwarded-For is trusted: the
    # client address (for the failed-key-check throttle) is read past them.
    trusted_proxy_hops: int


@dataclass(frozen=True)
class GatewaySource:
    upstream_packages: dict[str, str]  # upstream name -> proto package
    limits: GatewayLimits
    # Where the pages (checkout, portal) may load Stripe.js from (and what
    # it talks to).
    stripe_origins: StripeOrigins

    @classmethod
    def load(
        cls, path: Path = GATEWAY_SOURCE, services: Sequence[ServiceSpec] = SERVICES
    ) -> GatewaySource:
        """gateway.toml's limits; the upstreams are the registry's services
        (services.toml), so a new service is routed without a second list to
        keep in step."""
        raw = tomllib.loads(path.read_text())
        if "upstreams" in raw:
            raise ValueError(
                f"{path.name}: [[upstreams]] is gone; the gateway routes every service "
                "of services.toml"
            )
        if "authz" in raw:
            raise ValueError(
                f"{path.name}: [authz] is gone; each service checks the API keys of the "
                "calls it serves (billingos_kit.keycheck)"
            )
        upstream_packages = {spec.name: spec.package for spec in services}
        limits = raw["limits"]
        return cls(
            upstream_packages=upstream_packages,
            limits=GatewayLimits(
                max_path_bytes=int(limits["max_path_bytes"]),
                max_request_headers_kb=int(limits["max_request_headers_kb"]),
                max_request_body_bytes=int(limits["max_request_body_bytes"]),
                route_timeout_seconds=int(limits["route_timeout_seconds"]),
                requests_per_second_per_address=int(limits["requests_per_second_per_address"]),
                max_connections=int(limits["max_connections"]),
                idle_connection_seconds=int(limits["idle_connection_seconds"]),
                trusted_proxy_hops=int(raw.get("network", {}).get("trusted_proxy_hops", 0)),
            ),
            stripe_origins=StripeOrigins.from_toml(raw["checkout_page"]),
        )


@dataclass(frozen=True)
class RestRoute:
    """One REST route the gateway serves."""

    service: str  # "billingos.customers.v1.CustomerService"
    method: str  # "GetCustomer"
    binding: HttpBinding
    anonymous: bool  # callable without an API key


@dataclass(frozen=True)
class ExposedApi:
    """What the protos say the gateway serves."""

    services_by_upstream: dict[str, list[str]]
    routes: list[RestRoute]

    @property
    def all_services(self) -> list[str]:
        return sorted(s for group in self.services_by_upstream.values() for s in group)


def exposed_api(descriptor_set: Path, source: GatewaySource) -> ExposedApi:
    """Services with REST bindings per upstream (admin ones excluded) and their
    routes, read with the kit's binding parser from the generated modules
    (`./billingos gen --check` keeps them and the descriptor set in step)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    by_package = {package: name for name, package in source.upstream_packages.items()}
    services: dict[str, list[str]] = {name: [] for name in source.upstream_packages}
    routes: list[RestRoute] = []
    for file in files.file:
        upstream = by_package.get(file.package)
        if upstream is None:
            continue
        importlib.import_module(file.name.removesuffix(".proto").replace("/", ".") + "_pb2")
        loaded = descriptor_pool.Default().FindFileByName(file.name)
        for service in loaded.services_by_name.values():
            if service.name.endswith("AdminService"):
                continue
            found = [
                RestRoute(
                    service.full_name,
                    method.name,
                    binding,
                    method.GetOptions().Extensions[options_pb2.anonymous],
                )
                for method in service.methods
                for binding in http_bindings(method)
            ]
            if found:
                services[upstream].append(service.full_name)
                routes.extend(found)
    return ExposedApi({k: sorted(v) for k, v in services.items()}, routes)


def render(target: GatewayTarget, source: GatewaySource | None = None) -> dict[str, Any]:
    """The Envoy bootstrap config as a dict (write it as YAML or JSON)."""
    source = source or GatewaySource.load()
    api = exposed_api(DESCRIPTOR_SET, source)
    return {
        "admin": {"address": _address(target.admin)},
        "layered_runtime": {
            "layers": [
                {
                    "name": "static",
                    "static_layer": {"re2.max_program_size.error_level": MAX_REGEX_PROGRAM_SIZE},
                }
            ]
        },
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": _EXT
                        + "resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": source.limits.max_connections,
                    },
                }
            ]
        },
        "static_resources": {
            "listeners": [_listener(target, source, api)],
            "clusters": [
                *(
                    _cluster(name, target.upstreams[name], dns=target.dns_upstreams)
                    for name in sorted(source.upstream_packages)
                ),
                {"name": UNROUTED_CLUSTER, "type": "STATIC", "connect_timeout": "1s"},
            ],
        },
    }


def _address(endpoint: Endpoint) -> dict[str, Any]:
    return {"socket_address": {"address": endpoint.host, "port_value": endpoint.port}}


def _routes(target: GatewayTarget, source: GatewaySource, api: ExposedApi) -> list[dict[str, Any]]:
    timeout = f"{source.limits.route_timeout_seconds}s"
    routes: list[dict[str, Any]] = [
        _service_route(service, upstream, timeout)
        for upstream, services in sorted(api.services_by_upstream.items())
        for service in services
    ]
    if target.openapi_path:
        routes.append(_openapi_route(target.openapi_path))
    stripe = target.stripe_origins or source.stripe_origins
    for static in _checked_static_files(target.static_files):
        if static.page is None:
            routes.extend(_static_routes(static))
        else:
            routes.extend(_page_routes(static, static.page, stripe))
    # A REST path the transcoder does not know stays unrewritten and ends
    # here: a cluster without endpoints, which the transcoder never lets a
    # known path reach (it rewrites it to one of the gRPC routes above).
    routes.append({"match": {"prefix": "/"}, "route": {"cluster": UNROUTED_CLUSTER}})
    return routes


def _service_route(service: str, upstream: str, timeout: str) -> dict[str, Any]:
    """The route of one gRPC service (REST calls reach it transcoded). A public
    service's responses are readable from any origin: its methods are
    anonymous (no key, no cookie: nothing a page could borrow from its
    visitor, and nothing curl could not read), made for merchants' own pages.
    A route matches after transcoding, so this covers exactly the REST paths
    of that service. No preflight is answered: only "simple" requests (a GET,
    a form-encoded or text POST) can use it."""
    route: dict[str, Any] = {
        "match": {"prefix": f"/{service}/"},
        "route": {"cluster": upstream, "timeout": timeout},
    }
    if service.rsplit(".", 1)[-1].startswith(PUBLIC_SERVICE_PREFIX):
        route["response_headers_to_add"] = [_set_header(*PUBLIC_CORS_HEADER)]
    return route


def _listener(target: GatewayTarget, source: GatewaySource, api: ExposedApi) -> dict[str, Any]:
    limits = source.limits
    # The service's deadline: the route's, a second less, whatever the client sent.
    grpc_timeout = f"{max(1, limits.route_timeout_seconds - 1)}S"
    manager = {
        "@type": _EXT + "filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "rest",
        "codec_type": "AUTO",
        "generate_request_id": True,
        "always_set_request_id_in_response": True,
        "use_remote_address": True,
        "xff_num_trusted_hops": limits.trusted_proxy_hops,
        # Routing, the key check and transcoding all see one canonical path:
        # `/v1/public/../customers` is `/v1/customers`.
        "normalize_path": True,
        "merge_slashes": True,
        "max_request_headers_kb": limits.max_request_headers_kb,
        "request_headers_timeout": "10s",
        "request_timeout": f"{limits.route_timeout_seconds * 2}s",
        "stream_idle_timeout": "60s",
        "common_http_protocol_options": {
            "headers_with_underscores_action": "REJECT_REQUEST",
            "max_headers_count": 100,
            # A connection with no request in flight (one that never sent a
            # byte included) is closed: idle sockets cannot pile up.
            "idle_timeout": f"{limits.idle_connection_seconds}s",
        },
        "http2_protocol_options": {"max_concurrent_streams": 100},
        "route_config": {
            "name": "billingos",
            "virtual_hosts": [
                {"name": "billingos", "domains": ["*"], "routes": _routes(target, source, api)}
            ],
            # The OpenAPI document is a direct response (~350 KB; Envoy's
            # default bound is 4 KB).
            "max_direct_response_body_size_bytes": MAX_OPENAPI_BYTES,
            "request_headers_to_remove": list(REMOVED_BEFORE_FORWARDING),
            "request_headers_to_add": [
                _set_header(SERVICE_TOKEN_HEADER, target.gateway_token),
                # Past `trusted_proxy_hops` of X-Forwarded-For (use_remote_address).
                _set_header(CLIENT_ADDRESS_HEADER, "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
                _set_header("grpc-timeout", grpc_timeout),
            ],
        },
        "local_reply_config": {
            "mappers": [
                *(_local_reply_mapper(reply) for reply in LOCAL_REPLIES),
                _local_reply_mapper(OTHER_REPLY),
            ]
        },
        "access_log": [_server_error_log()],
        "http_filters": [
            _strip_internal_headers(),
            _lua("billingos.edge", _edge_script(limits)),
            _request_rate_limit(limits),
            _lua(
                "billingos.body",
                BODY_SCRIPT.read_text().replace(
                    "__MAX_BODY_BYTES__", str(limits.max_request_body_bytes)
                ),
            ),
            _transcoder(target.descriptor_path, api.all_services, limits),
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": _EXT + "filters.http.router.v3.Router",
                    # No x-envoy-* headers to the services.
                    "suppress_envoy_headers": True,
                },
            },
        ],
    }
    return {
        "name": "rest",
        "address": _address(target.listen),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def _openapi_route(openapi_path: str) -> dict[str, Any]:
    """`GET /openapi.json`: the document `./billingos gen` derives from the
    same descriptor set the transcoder loads, so it describes exactly the
    routes this gateway serves. Anonymous (it is public documentation). The
    transcoder, which refuses every path it does not know, is off on this
    route only."""
    return {
        "match": {
            "path": OPENAPI_ROUTE,
            "headers": [
                {
                    "name": ":method",
                    "string_match": {"safe_regex": {"regex": "GET|HEAD"}},
                }
            ],
        },
        "direct_response": {"status": 200, "body": {"filename": openapi_path}},
        "typed_per_filter_config": {
            TRANSCODER_FILTER: {
                "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
                "disabled": True,
            }
        },
        "response_headers_to_add": [
            _set_header("content-type", "application/json"),
            _set_header("cache-control", "public, max-age=300"),
        ],
    }


def _checked_static_files(files: Sequence[StaticFile]) -> list[StaticFile]:
    """The files in route order, refused when two share a route or a route is
    not a plain absolute path (Envoy would never match it as written), or
    when a page is given twice."""
    seen: set[str] = set()
    pages: set[str] = set()
    for static in files:
        if static.page is not None:
            if static.page.file_name in pages:
                raise ValueError(f"{static.page.file_name}: served twice")
            pages.add(static.page.file_name)
            continue
        route = static.route
        parts = route.split("/")[1:]
        if not route.startswith("/") or any(p in ("", ".", "..") for p in parts) or "%" in route:
            raise ValueError(f"{route!r}: a static route is a plain absolute path")
        if route in seen or route == OPENAPI_ROUTE:
            raise ValueError(f"{route}: served twice")
        seen.add(route)
        static.content_type  # noqa: B018 - refuses an unknown kind of file now
    return sorted(files, key=lambda static: static.route)


def _static_routes(static: StaticFile) -> list[dict[str, Any]]:
    """A file as a direct response (its bytes read once, when Envoy starts):
    GET and HEAD get it, any other method a 405 in the gateway's JSON error
    shape (a local reply, so the reply mappers shape it). `nosniff` makes a
    browser use the file only as what its content type says."""
    disabled = {
        TRANSCODER_FILTER: {
            "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
            "disabled": True,
        }
    }
    served = {
        "match": {"path": static.route, "headers": [_method_matcher(STATIC_METHODS)]},
        "direct_response": {"status": 200, "body": {"filename": static.filename}},
        "typed_per_filter_config": disabled,
        "response_headers_to_add": [
            _set_header("content-type", static.content_type),
            _set_header("cache-control", static.cache_control),
            _set_header("x-content-type-options", "nosniff"),
            # Scripts load on merchants' pages: allowed on cross-origin
            # isolated ones too (no CORS: a classic script needs none).
            _set_header("cross-origin-resource-policy", "cross-origin"),
        ],
    }
    refused = {
        "match": {"path": static.route},
        "direct_response": {"status": 405},
        "typed_per_filter_config": disabled,
        "response_headers_to_add": [_set_header("allow", ", ".join(STATIC_METHODS))],
    }
    return [served, refused]


def _page_routes(
    static: StaticFile, page: PageRoute, stripe: StripeOrigins
) -> list[dict[str, Any]]:
    """An HTML page at each of its route's patterns: GET and HEAD get the
    file with the page's security headers (billingos_cli.pages), any other
    method a JSON 405, as for every static file. The patterns match the
    whole path, after Envoy has normalized it (`..` resolved, slashes
    merged; an encoded slash stays `%2F`, which no pattern admits)."""
    disabled = {
        TRANSCODER_FILTER: {
            "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
            "disabled": True,
        }
    }
    headers = [("content-type", static.content_type), *page_headers(stripe)]
    routes: list[dict[str, Any]] = []
    for pattern in page.patterns:
        path = {"safe_regex": {"regex": pattern}}
        routes.append(
            {
                "match": {**path, "headers": [_method_matcher(STATIC_METHODS)]},
                "direct_response": {"status": 200, "body": {"filename": static.filename}},
                "typed_per_filter_config": disabled,
                "response_headers_to_add": [_set_header(k, v) for k, v in headers],
            }
        )
        routes.append(
            {
                "match": path,
                "direct_response": {"status": 405},
                "typed_per_filter_config": disabled,
                "response_headers_to_add": [_set_header("allow", ", ".join(STATIC_METHODS))],
            }
        )
    return routes


def _method_matcher(methods: Sequence[str]) -> dict[str, Any]:
    return {
        "name": ":method",
        "string_match": {"safe_regex": {"regex": "|".join(methods)}},
    }


def _set_header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _edge_script(limits: GatewayLimits) -> str:
    allowed = "{" + ", ".join(f'["{name}"] = true' for name in ALLOWED_REQUEST_HEADERS) + "}"
    replies = ", ".join(
        f"[{r.status}] = {{{r.code}, {_lua_string(r.reason)}, {_lua_string(r.message)}}}"
        for r in LOCAL_REPLIES
    )
    other = OTHER_REPLY
    return (
        EDGE_SCRIPT.read_text()
        .replace("__MAX_PATH_BYTES__", str(limits.max_path_bytes))
        .replace("__ALLOWED_HEADERS__", allowed)
        .replace("__REST_PATH_HEADER__", REST_PATH_HEADER)
        .replace("__REST_QUERY_HEADER__", REST_QUERY_HEADER)
        .replace("__LOCAL_REPLY_MARK__", LOCAL_REPLY_MARK)
        .replace("__ERROR_DOMAIN__", ERROR_DOMAIN)
        .replace("__REPLIES__", "{" + replies + "}")
        .replace(
            "__OTHER_REPLY__",
            f"{{{other.code}, {_lua_string(other.reason)}, {_lua_string(other.message)}}}",
        )
    )


def _lua_string(text: str) -> str:
    """A Lua string literal (JSON's escaping is a subset Lua reads alike)."""
    return json.dumps(text)


def _request_rate_limit(limits: GatewayLimits) -> dict[str, Any]:
    """A token bucket per client address, for every request."""
    rate = limits.requests_per_second_per_address
    always = {"numerator": 100, "denominator": "HUNDRED"}
    return {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": _EXT + "filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "requests_per_address",
            # The bucket of a request no descriptor matches: never empty.
            "token_bucket": {
                "max_tokens": 1_000_000_000,
                "tokens_per_fill": 1_000_000_000,
                "fill_interval": "1s",
            },
            "filter_enabled": {
                "runtime_key": "billingos.rate_limit_enabled",
                "default_value": always,
            },
            "filter_enforced": {
                "runtime_key": "billingos.rate_limit_enforced",
                "default_value": always,
            },
            "max_dynamic_descriptors": 100_000,
            "rate_limits": [{"actions": [{"remote_address": {}}]}],
            "descriptors": [
                {
                    "entries": [{"key": "remote_address"}],  # no value: a bucket per address
                    "token_bucket": {
                        "max_tokens": rate * 2,
                        "tokens_per_fill": rate,
                        "fill_interval": "1s",
                    },
                }
            ],
            "response_headers_to_add": [_set_header("retry-after", "1")],
        },
    }


def _strip_internal_headers() -> dict[str, Any]:
    """The first line: what no client may send, removed before any script runs."""
    return {
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            "@type": _EXT + "filters.http.header_mutation.v3.HeaderMutation",
            "mutations": {
                "request_mutations": [
                    *(
                        {"remove_on_match": {"key_matcher": {"prefix": prefix}}}
                        for prefix in REMOVED_PREFIXES
                    ),
                    {"remove": "te"},
                ]
            },
        },
    }


def _lua(name: str, code: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.lua",
        "typed_config": {
            "@type": _EXT + "filters.http.lua.v3.Lua",
            "stat_prefix": name.replace(".", "_"),
            "default_source_code": {"inline_string": code},
        },
    }


def _transcoder(descriptor_path: str, services: list[str], limits: GatewayLimits) -> dict[str, Any]:
    return {
        "name": TRANSCODER_FILTER,
        "typed_config": {
            "@type": _EXT + "filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            "proto_descriptor": descriptor_path,
            "services": services,
            "convert_grpc_status": True,
            "max_request_body_size": limits.max_request_body_bytes,
            "print_options": {
                "add_whitespace": False,
                "always_print_primitive_fields": True,
                "always_print_enums_as_ints": False,
                "preserve_proto_field_names": True,
            },
            "request_validation_options": {
                "reject_unknown_method": True,
                "reject_unknown_query_parameters": True,
                # Body or query values that contradict the path are refused by
                # the service (the path wins), naming the field, for both.
            },
        },
    }


def _status_body(rpc_code: int, reason: str) -> dict[str, Any]:
    return {
        "json_format": {
            "code": rpc_code,
            "message": "%LOCAL_REPLY_BODY%",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": ERROR_DOMAIN,
                }
            ],
        },
        "content_type": "application/json",
    }


def _status_filter(op: str, http_status: int) -> dict[str, Any]:
    return {
        "status_code_filter": {
            "comparison": {
                "op": op,
                "value": {"default_value": http_status, "runtime_key": f"billingos.{http_status}"},
            }
        }
    }


def _local_reply_mapper(reply: LocalReply) -> dict[str, Any]:
    reason = reply.reason
    mapper: dict[str, Any] = {
        "filter": _status_filter("EQ", reply.status) if reply.status else _status_filter("GE", 400),
        "body_format_override": _status_body(reply.code, reason),
        "headers_to_add": [_set_header(LOCAL_REPLY_MARK, "1")],
    }
    if not reply.keep_detail:
        mapper["body"] = {"inline_string": reply.message}
    return mapper


def _server_error_log() -> dict[str, Any]:
    """One JSON line per 5xx (a 5xx is a bug or an outage), with the request id
    the client got back, so a report can be matched with the services' logs."""
    return {
        "name": "envoy.access_loggers.stdout",
        "filter": _status_filter("GE", 500),
        "typed_config": {
            "@type": _EXT + "access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {
                "json_format": {
                    "time": "%START_TIME%",
                    "level": "error",
                    "service": "gateway",
                    "message": "request failed",
                    "request_id": "%REQ(X-REQUEST-ID)%",
                    "status": "%RESPONSE_CODE%",
                    "details": "%RESPONSE_CODE_DETAILS%",
                    "flags": "%RESPONSE_FLAGS%",
                    "method": "%REQ(:METHOD)%",
                    "path": f"%REQ({REST_PATH_HEADER})%",
                    "duration_ms": "%DURATION%",
                }
            },
        },
    }


def _cluster(name: str, endpoint: Endpoint, *, dns: bool) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STRICT_DNS" if dns else "STATIC",
        "connect_timeout": "2s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _EXT + "upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(endpoint)}}]}],
        },
    }
