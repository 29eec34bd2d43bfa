"""Renders the Envoy gateway's configuration from `gateway/gateway.toml`, the
descriptor set and the Lua filters in `gateway/`.

The gateway is a security boundary. Filters, in order:

1. `edge.lua`: size limits, an allow-list of request headers (nothing a client
   sends as grpc-*, *-bin, te or x-billingos-* reaches ext_authz or a service),
   the REST path passed on for the service's path-wins check, and on the way
   out every error made a `google.rpc.Status` JSON that names no internal type;
2. ext_authz: the API-key check, which marks a failed check instead of
   answering it, so that
3. a local rate limit counts failed checks per client address (429 with
   Retry-After past the limit), and
4. `key_verdict.lua` answers a marked request with a 401;
5. the gRPC-JSON transcoder;
6. the router, which adds the service token, marks the call as coming through
   the gateway and sets the gRPC deadline to the route's timeout.

Envoy's own replies (every code it can emit) are JSON in the same shape.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from billingos.common.v1 import options_pb2
from billingos_cli.paths import DESCRIPTOR_SET, GATEWAY_DIR
from billingos_kit.errors import ERROR_DOMAIN
from billingos_kit.grpc.bindings import PathTemplate
from billingos_kit.headers import (
    AUTH_FAILURE_HEADER,
    AUTH_FAILURE_MESSAGE_HEADER,
    CALLER_HEADER,
    ERROR_REASON_HEADER,
    GATEWAY_CALLER,
    IDEMPOTENCY_HEADER,
    REQUEST_ID_HEADER,
    REST_PATH_HEADER,
    SERVICE_TOKEN_HEADER,
)

GATEWAY_SOURCE = GATEWAY_DIR / "gateway.toml"
EDGE_SCRIPT = GATEWAY_DIR / "edge.lua"
KEY_VERDICT_SCRIPT = GATEWAY_DIR / "key_verdict.lua"

# The only request headers that cross the gateway's first filter. Everything
# the gateway needs further on it sets itself (ext_authz, the router).
# `authorization` is read by the key check and removed before forwarding;
# Envoy's own `x-forwarded-proto` is needed to find routes after transcoding.
ALLOWED_REQUEST_HEADERS = (
    "authorization",
    "content-length",
    "content-type",
    IDEMPOTENCY_HEADER,
    REQUEST_ID_HEADER,
    "x-forwarded-proto",
)
# Never forwarded to a service.
REMOVED_BEFORE_FORWARDING = (
    "authorization",
    "x-envoy-original-path",  # the transcoder's copy of the URL, query and all
    "x-envoy-original-method",
    "x-forwarded-for",
    "x-forwarded-proto",
    AUTH_FAILURE_HEADER,
    AUTH_FAILURE_MESSAGE_HEADER,
)

_EXT = "type.googleapis.com/envoy.extensions."
UNROUTED_CLUSTER = "unrouted"

# Envoy's own replies: HTTP status, google.rpc code, stable reason, and a
# message replacing Envoy's (None: keep what the filter said; the edge filter
# still cleans it).
_LOCAL_REPLIES: tuple[tuple[int, int, str | None, str | None], ...] = (
    (400, 3, "INVALID_REQUEST", None),
    (401, 16, None, None),  # the reason comes from the API-key check
    (403, 7, "PERMISSION_DENIED", None),
    (404, 5, "METHOD_NOT_FOUND", None),
    (405, 12, "METHOD_NOT_ALLOWED", "this HTTP method is not allowed here"),
    (408, 4, "REQUEST_TIMEOUT", "the request took too long to arrive"),
    (413, 3, "REQUEST_TOO_LARGE", "the request body is too large"),
    (414, 3, "URI_TOO_LONG", None),
    (415, 3, "UNSUPPORTED_MEDIA_TYPE", None),
    (
        426,
        9,
        "UPGRADE_REQUIRED",
        "HTTP/1.0 is not served: use HTTP/1.1 or HTTP/2",
    ),
    (
        429,
        8,
        "RATE_LIMITED",
        "too many requests with a missing or invalid API key from this address; retry after "
        "the Retry-After delay",
    ),
    (431, 3, "HEADERS_TOO_LARGE", "the request headers are too large"),
    (500, 13, "INTERNAL", "internal error; quote the x-request-id header when reporting it"),
    (501, 12, "NOT_IMPLEMENTED", "this request is not supported (e.g. its transfer encoding)"),
    (502, 14, "UNAVAILABLE", "the service is unavailable; retry later"),
    (503, 14, "UNAVAILABLE", "the service is unavailable; retry later"),
    (504, 4, "DEADLINE_EXCEEDED", "the service did not answer in time; retry later"),
)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class GatewayTarget:
    """Where this rendering of the gateway runs and what it talks to."""

    listen: Endpoint
    admin: Endpoint
    descriptor_path: str
    upstreams: dict[str, Endpoint]
    service_token: str
    dns_upstreams: bool = False  # STRICT_DNS (Kubernetes) instead of STATIC IPs


@dataclass(frozen=True)
class GatewayLimits:
    max_path_bytes: int
    max_request_headers_kb: int
    max_request_body_bytes: int
    route_timeout_seconds: int
    failed_key_checks_per_minute: int


@dataclass(frozen=True)
class GatewaySource:
    upstream_packages: dict[str, str]  # upstream name -> proto package
    authz_upstream: str
    authz_service: str
    limits: GatewayLimits

    @classmethod
    def load(cls, path: Path = GATEWAY_SOURCE) -> GatewaySource:
        raw = tomllib.loads(path.read_text())
        limits = raw["limits"]
        return cls(
            upstream_packages={u["name"]: u["package"] for u in raw["upstreams"]},
            authz_upstream=raw["authz"]["upstream"],
            authz_service=raw["authz"]["service"],
            limits=GatewayLimits(
                max_path_bytes=int(limits["max_path_bytes"]),
                max_request_headers_kb=int(limits["max_request_headers_kb"]),
                max_request_body_bytes=int(limits["max_request_body_bytes"]),
                route_timeout_seconds=int(limits["route_timeout_seconds"]),
                failed_key_checks_per_minute=int(raw["abuse"]["failed_key_checks_per_minute"]),
            ),
        )


@dataclass(frozen=True)
class ExposedApi:
    """What the descriptors say the gateway serves."""

    services_by_upstream: dict[str, list[str]]
    anonymous_paths: list[PathTemplate]  # REST paths that need no API key

    @property
    def all_services(self) -> list[str]:
        return sorted(s for group in self.services_by_upstream.values() for s in group)


def exposed_api(descriptor_set: Path, source: GatewaySource) -> ExposedApi:
    """Services with REST bindings per upstream (admin ones excluded), and the
    REST paths of methods open to anonymous callers."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    by_package = {package: name for name, package in source.upstream_packages.items()}
    services: dict[str, list[str]] = {name: [] for name in source.upstream_packages}
    anonymous: list[PathTemplate] = []
    for file in files.file:
        upstream = by_package.get(file.package)
        if upstream is None:
            continue
        for service in file.service:
            if service.name.endswith("AdminService"):
                continue
            bound = [m for m in service.method if m.options.HasExtension(annotations_pb2.http)]
            if not bound:
                continue
            services[upstream].append(f"{file.package}.{service.name}")
            for method in bound:
                if method.options.Extensions[options_pb2.anonymous]:
                    anonymous.extend(_rest_paths(method.options.Extensions[annotations_pb2.http]))
    return ExposedApi({k: sorted(v) for k, v in services.items()}, anonymous)


def _rest_paths(rule: Any) -> list[PathTemplate]:
    paths = []
    for each in [rule, *rule.additional_bindings]:
        kind = each.WhichOneof("pattern")
        if kind is not None:
            paths.append(
                PathTemplate.parse(each.custom.path if kind == "custom" else getattr(each, kind))
            )
    return paths


def render(target: GatewayTarget, source: GatewaySource | None = None) -> dict[str, Any]:
    """The Envoy bootstrap config as a dict (write it as YAML or JSON)."""
    source = source or GatewaySource.load()
    api = exposed_api(DESCRIPTOR_SET, source)
    return {
        "admin": {"address": _address(target.admin)},
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


def _routes(source: GatewaySource, api: ExposedApi) -> list[dict[str, Any]]:
    timeout = f"{source.limits.route_timeout_seconds}s"
    routes: list[dict[str, Any]] = [
        {"match": {"prefix": f"/{service}/"}, "route": {"cluster": upstream, "timeout": timeout}}
        for upstream, services in sorted(api.services_by_upstream.items())
        for service in services
    ]
    # The API-key check runs before transcoding, on the REST path, and Envoy
    # skips it for a request no route matches: so every REST path needs a
    # route. These never forward (the transcoder either rewrites the path to
    # one of the gRPC routes above or refuses the request); should one ever be
    # reached, it goes to a cluster without endpoints (503). Only the exact
    # paths of anonymous methods skip the key check.
    for template in api.anonymous_paths:
        routes.append(
            {
                "match": {
                    "safe_regex": {"regex": _trailing_slash_allowed(template.pattern.pattern)}
                },
                "route": {"cluster": UNROUTED_CLUSTER},
                "typed_per_filter_config": {
                    "envoy.filters.http.ext_authz": {
                        "@type": _EXT + "filters.http.ext_authz.v3.ExtAuthzPerRoute",
                        "disabled": True,
                    }
                },
            }
        )
    routes.append({"match": {"prefix": "/"}, "route": {"cluster": UNROUTED_CLUSTER}})
    return routes


def _trailing_slash_allowed(regex: str) -> str:
    """The transcoder accepts `/path/` for `/path`; so does the anonymous route."""
    return regex[:-1] + "/?$" if regex.endswith("$") else regex


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
        },
        "route_config": {
            "name": "billingos",
            "virtual_hosts": [
                {"name": "billingos", "domains": ["*"], "routes": _routes(source, api)}
            ],
            "request_headers_to_remove": list(REMOVED_BEFORE_FORWARDING),
            "request_headers_to_add": [
                _set_header(SERVICE_TOKEN_HEADER, target.service_token),
                _set_header(CALLER_HEADER, GATEWAY_CALLER),
                _set_header("grpc-timeout", grpc_timeout),
            ],
        },
        "local_reply_config": {
            "mappers": [
                *(_local_reply_mapper(*reply) for reply in _LOCAL_REPLIES),
                _catch_all_mapper(),
            ]
        },
        "access_log": [_server_error_log()],
        "http_filters": [
            _lua("billingos.edge", _edge_script(limits)),
            _ext_authz(source, target),
            _failed_key_check_limit(limits),
            _lua("billingos.key_verdict", _key_verdict_script()),
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


def _set_header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _edge_script(limits: GatewayLimits) -> str:
    allowed = "{" + ", ".join(f'["{name}"] = true' for name in ALLOWED_REQUEST_HEADERS) + "}"
    return (
        EDGE_SCRIPT.read_text()
        .replace("__MAX_PATH_BYTES__", str(limits.max_path_bytes))
        .replace("__ALLOWED_HEADERS__", allowed)
        .replace("__REST_PATH_HEADER__", REST_PATH_HEADER)
        .replace("__ERROR_DOMAIN__", ERROR_DOMAIN)
    )


def _key_verdict_script() -> str:
    return (
        KEY_VERDICT_SCRIPT.read_text()
        .replace("__FAILURE_HEADER__", AUTH_FAILURE_HEADER)
        .replace("__FAILURE_MESSAGE_HEADER__", AUTH_FAILURE_MESSAGE_HEADER)
        .replace("__REASON_HEADER__", ERROR_REASON_HEADER)
    )


def _lua(name: str, code: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.lua",
        "typed_config": {
            "@type": _EXT + "filters.http.lua.v3.Lua",
            "stat_prefix": name.replace(".", "_"),
            "default_source_code": {"inline_string": code},
        },
    }


def _ext_authz(source: GatewaySource, target: GatewayTarget) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": _EXT + "filters.http.ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            "failure_mode_allow": False,
            "status_on_error": {"code": 503},
            "grpc_service": {
                "envoy_grpc": {"cluster_name": source.authz_upstream},
                "timeout": "2s",
                "initial_metadata": [{"key": SERVICE_TOKEN_HEADER, "value": target.service_token}],
            },
            "allowed_headers": {"patterns": [{"exact": "authorization"}]},
        },
    }


def _failed_key_check_limit(limits: GatewayLimits) -> dict[str, Any]:
    """One token bucket per client address, spent only by requests the key
    check marked as failed; other requests meet a bucket that never runs dry."""
    per_minute = limits.failed_key_checks_per_minute
    unlimited = {
        "max_tokens": 1_000_000_000,
        "tokens_per_fill": 1_000_000_000,
        "fill_interval": "1s",
    }
    always = {"numerator": 100, "denominator": "HUNDRED"}
    return {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": _EXT + "filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "failed_key_checks",
            "token_bucket": unlimited,
            "filter_enabled": {
                "runtime_key": "billingos.key_limit_enabled",
                "default_value": always,
            },
            "filter_enforced": {
                "runtime_key": "billingos.key_limit_enforced",
                "default_value": always,
            },
            "max_dynamic_descriptors": 100_000,
            "rate_limits": [
                {
                    "actions": [
                        {
                            "header_value_match": {
                                "descriptor_key": "failed_key_check",
                                "descriptor_value": "1",
                                "headers": [{"name": AUTH_FAILURE_HEADER, "present_match": True}],
                            }
                        },
                        {"remote_address": {}},
                    ]
                }
            ],
            "descriptors": [
                {
                    "entries": [
                        {"key": "failed_key_check", "value": "1"},
                        {"key": "remote_address"},  # no value: a bucket per address
                    ],
                    "token_bucket": {
                        "max_tokens": per_minute,
                        "tokens_per_fill": per_minute,
                        "fill_interval": "60s",
                    },
                }
            ],
            "response_headers_to_add": [_set_header("retry-after", "60")],
        },
    }


def _transcoder(descriptor_path: str, services: list[str], limits: GatewayLimits) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.grpc_json_transcoder",
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


def _local_reply_mapper(
    http_status: int, rpc_code: int, reason: str | None, message: str | None
) -> dict[str, Any]:
    mapper: dict[str, Any] = {
        "filter": _status_filter("EQ", http_status),
        "body_format_override": _status_body(rpc_code, reason or f"%RESP({ERROR_REASON_HEADER})%"),
    }
    if message is not None:
        mapper["body"] = {"inline_string": message}
    return mapper


def _catch_all_mapper() -> dict[str, Any]:
    """Any other status Envoy might answer with, in the same shape."""
    return {
        "filter": _status_filter("GE", 400),
        "body_format_override": _status_body(2, "GATEWAY_ERROR"),
        "body": {"inline_string": "the request failed at the gateway"},
    }


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
