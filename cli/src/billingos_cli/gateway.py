"""Renders the Envoy gateway's configuration from `gateway/gateway.toml` and the
descriptor set: REST/JSON transcoding of every exposed gRPC service, the API
key check (ext_authz) after stripping client-sent identity headers, and JSON
bodies in the `google.rpc.Status` shape for Envoy's own errors too.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from billingos_cli.paths import DESCRIPTOR_SET, GATEWAY_DIR
from billingos_kit.headers import (
    API_KEY_ID_HEADER,
    ERROR_REASON_HEADER,
    ORGANIZATION_HEADER,
    SERVICE_TOKEN_HEADER,
)

GATEWAY_SOURCE = GATEWAY_DIR / "gateway.toml"
# Headers only the gateway may set; a client's copies are dropped first.
TRUSTED_HEADERS = (ORGANIZATION_HEADER, API_KEY_ID_HEADER, SERVICE_TOKEN_HEADER)

_EXT = "type.googleapis.com/envoy.extensions."
UNROUTED_CLUSTER = "unrouted"

# Envoy's own replies, as google.rpc codes and stable reasons.
_LOCAL_REPLIES = (
    (400, 3, "INVALID_REQUEST"),
    (401, 16, None),  # the reason comes from the API-key check
    (403, 7, "PERMISSION_DENIED"),
    (404, 5, "METHOD_NOT_FOUND"),
    (405, 12, "METHOD_NOT_ALLOWED"),
    (413, 3, "REQUEST_TOO_LARGE"),
    (415, 3, "UNSUPPORTED_MEDIA_TYPE"),
    (429, 8, "RATE_LIMITED"),
    (500, 13, "INTERNAL"),
    (502, 14, "UNAVAILABLE"),
    (503, 14, "UNAVAILABLE"),
    (504, 4, "DEADLINE_EXCEEDED"),
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
class GatewaySource:
    upstream_packages: dict[str, str]  # upstream name -> proto package
    authz_upstream: str
    authz_service: str
    public_path_prefixes: list[str]

    @classmethod
    def load(cls, path: Path = GATEWAY_SOURCE) -> GatewaySource:
        raw = tomllib.loads(path.read_text())
        return cls(
            upstream_packages={u["name"]: u["package"] for u in raw["upstreams"]},
            authz_upstream=raw["authz"]["upstream"],
            authz_service=raw["authz"]["service"],
            public_path_prefixes=list(raw.get("public", {}).get("path_prefixes", [])),
        )


def exposed_services(descriptor_set: Path, packages: list[str]) -> list[str]:
    """Full names of the services with REST bindings in `packages`, admin ones excluded."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    names = []
    for file in files.file:
        if file.package not in packages:
            continue
        for service in file.service:
            if service.name.endswith("AdminService"):
                continue
            if any(m.options.HasExtension(annotations_pb2.http) for m in service.method):
                names.append(f"{file.package}.{service.name}")
    return sorted(names)


def render(target: GatewayTarget, source: GatewaySource | None = None) -> dict[str, Any]:
    """The Envoy bootstrap config as a dict (write it as YAML or JSON)."""
    source = source or GatewaySource.load()
    services_by_upstream = {
        name: exposed_services(DESCRIPTOR_SET, [package])
        for name, package in source.upstream_packages.items()
    }
    all_services = sorted(s for group in services_by_upstream.values() for s in group)
    return {
        "admin": {"address": _address(target.admin)},
        "static_resources": {
            "listeners": [_listener(target, source, services_by_upstream, all_services)],
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


def _listener(
    target: GatewayTarget,
    source: GatewaySource,
    services_by_upstream: dict[str, list[str]],
    all_services: list[str],
) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [
        {
            "match": {"prefix": f"/{service}/"},
            "route": {"cluster": upstream, "timeout": "30s"},
        }
        for upstream, services in sorted(services_by_upstream.items())
        for service in services
    ]
    # The API-key check runs before transcoding, on the REST path, and Envoy
    # skips it for a request no route matches: so every REST path needs a
    # route. These never forward (the transcoder either rewrites the path to
    # one of the gRPC routes above or refuses the request); should one ever be
    # reached, it goes to a cluster without endpoints (503).
    for prefix in source.public_path_prefixes:
        routes.append(
            {
                "match": {"prefix": prefix},
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
    manager = {
        "@type": _EXT + "filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "rest",
        "codec_type": "AUTO",
        "generate_request_id": True,
        "always_set_request_id_in_response": True,
        "use_remote_address": True,
        "route_config": {
            "name": "billingos",
            "virtual_hosts": [{"name": "billingos", "domains": ["*"], "routes": routes}],
            "request_headers_to_add": [
                {
                    "header": {"key": SERVICE_TOKEN_HEADER, "value": target.service_token},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ],
        },
        "local_reply_config": {"mappers": [_local_reply_mapper(*r) for r in _LOCAL_REPLIES]},
        "http_filters": [
            _strip_trusted_headers(),
            _ext_authz(source, target),
            _transcoder(target.descriptor_path, all_services),
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": _EXT + "filters.http.router.v3.Router"},
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


def _strip_trusted_headers() -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            "@type": _EXT + "filters.http.header_mutation.v3.HeaderMutation",
            "mutations": {"request_mutations": [{"remove": header} for header in TRUSTED_HEADERS]},
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


def _transcoder(descriptor_path: str, services: list[str]) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.grpc_json_transcoder",
        "typed_config": {
            "@type": _EXT + "filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            "proto_descriptor": descriptor_path,
            "services": services,
            "convert_grpc_status": True,
            "print_options": {
                "add_whitespace": False,
                "always_print_primitive_fields": True,
                "always_print_enums_as_ints": False,
                "preserve_proto_field_names": True,
            },
            "request_validation_options": {
                "reject_unknown_method": True,
                "reject_unknown_query_parameters": True,
            },
        },
    }


def _local_reply_mapper(http_status: int, rpc_code: int, reason: str | None) -> dict[str, Any]:
    return {
        "filter": {
            "status_code_filter": {
                "comparison": {
                    "op": "EQ",
                    "value": {
                        "default_value": http_status,
                        "runtime_key": f"billingos.{http_status}",
                    },
                }
            }
        },
        "body_format_override": {
            "json_format": {
                "code": rpc_code,
                "message": "%LOCAL_REPLY_BODY%",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": reason or f"%RESP({ERROR_REASON_HEADER})%",
                        "domain": "billingos.dev",
                    }
                ],
            },
            "content_type": "application/json",
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
