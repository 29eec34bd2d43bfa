"""The gateway config that `./billingos up` renders is one Envoy accepts."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from billingos_cli.gateway import (
    ALLOWED_REQUEST_HEADERS,
    LOCAL_REPLIES,
    TRANSCODER_FILTER,
    Endpoint,
    GatewaySource,
    GatewayTarget,
    StaticFile,
    render,
)
from billingos_cli.paths import DESCRIPTOR_SET
from billingos_cli.services import SERVICES
from billingos_kit.local import venv_binary

pytestmark = pytest.mark.contract


def local_target() -> GatewayTarget:
    return GatewayTarget(
        listen=Endpoint("127.0.0.1", 8080),
        admin=Endpoint("127.0.0.1", 9901),
        descriptor_path=str(DESCRIPTOR_SET),
        upstreams={spec.name: Endpoint("127.0.0.1", 50061 + i) for i, spec in enumerate(SERVICES)},
        gateway_token="gateway-token",
    )


def test_envoy_validates_the_rendered_config(tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(render(local_target())))
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


def manager_config() -> dict[str, Any]:
    config = render(local_target())
    listener = config["static_resources"]["listeners"][0]
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def test_admin_services_are_never_transcoded() -> None:
    manager = manager_config()
    filters = {f["name"]: f["typed_config"] for f in manager["http_filters"]}
    services = filters["envoy.filters.http.grpc_json_transcoder"]["services"]
    assert "billingos.customers.v1.CustomerService" in services
    assert not [s for s in services if s.endswith("AdminService")]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert not [r for r in routes if "Admin" in json.dumps(r["match"])]


def test_a_header_mutation_and_the_edge_filter_come_first_and_no_key_check_runs_here() -> None:
    names = [
        f.get("typed_config", {}).get("stat_prefix", f["name"])
        for f in manager_config()["http_filters"]
    ]
    assert names == [
        "envoy.filters.http.header_mutation",
        "billingos_edge",
        "requests_per_address",
        "billingos_body",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]
    mutation = manager_config()["http_filters"][0]["typed_config"]["mutations"]
    prefixes = {
        m["remove_on_match"]["key_matcher"]["prefix"]
        for m in mutation["request_mutations"]
        if "remove_on_match" in m
    }
    assert {"grpc-", "x-billingos-"} <= prefixes


def test_bodies_are_checked_after_the_rate_limit_by_their_length() -> None:
    """No buffer filter: it would cap the transcoder's protobuf (several times
    the JSON) at the JSON's limit. The body filter, after the rate limit,
    judges a body by its Content-Length and holds only one without."""
    limit = GatewaySource.load().limits.max_request_body_bytes
    filters = manager_config()["http_filters"]
    names = [f.get("typed_config", {}).get("stat_prefix", f["name"]) for f in filters]
    assert "envoy.filters.http.buffer" not in names
    assert names.index("requests_per_address") < names.index("billingos_body")
    body = filters[names.index("billingos_body")]["typed_config"]["default_source_code"]
    assert f"local MAX_BODY_BYTES = {limit}" in body["inline_string"]


def test_every_local_reply_status_has_one_entry_in_the_edge_filter_too() -> None:
    edge = manager_config()["http_filters"][1]["typed_config"]["default_source_code"]
    table = edge["inline_string"].split("local REPLIES = ", 1)[1].split("\n", 1)[0]
    assert sorted(int(n) for n in re.findall(r"\[(\d{3})\] = ", table)) == sorted(
        r.status for r in LOCAL_REPLIES
    )


def test_no_client_header_outside_the_allow_list_crosses_the_gateway() -> None:
    for name in ALLOWED_REQUEST_HEADERS:
        assert not name.startswith(("grpc-", "x-billingos-", "x-envoy-")), name
        assert not name.endswith("-bin"), name
        assert name != "te"
    edge = manager_config()["http_filters"][1]["typed_config"]["default_source_code"]
    allowed = edge["inline_string"].split("local ALLOWED = ", 1)[1].split("\n", 1)[0]
    assert sorted(re.findall(r'\["([^"]+)"\]', allowed)) == sorted(ALLOWED_REQUEST_HEADERS)


def test_the_gateway_sets_what_services_trust_and_forwards_the_key_to_them() -> None:
    route_config = manager_config()["route_config"]
    added = {
        h["header"]["key"]: h["header"]["value"] for h in route_config["request_headers_to_add"]
    }
    # The gateway's own credential: services tell its calls from internal ones.
    assert added["x-billingos-service-token"] == "gateway-token"
    assert added["grpc-timeout"] == "29S"  # the route's 30 s, a second less
    # The client address past the trusted proxies, for the key check's throttle.
    assert added["x-billingos-client-address"] == "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
    # The service checks the key (billingos_kit.keycheck).
    assert "authorization" not in route_config["request_headers_to_remove"]
    assert "x-envoy-original-path" in route_config["request_headers_to_remove"]


def test_no_route_skips_or_needs_a_gateway_filter_of_its_own() -> None:
    routes = manager_config()["route_config"]["virtual_hosts"][0]["routes"]
    assert not [r for r in routes if "typed_per_filter_config" in r]
    assert routes[-1] == {"match": {"prefix": "/"}, "route": {"cluster": "unrouted"}}


# --- files served by the gateway itself, and CORS ----------------------------------


def _routes(target: GatewayTarget) -> list[dict[str, Any]]:
    config = render(target)
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes: list[dict[str, Any]] = manager["typed_config"]["route_config"]["virtual_hosts"][0][
        "routes"
    ]
    return routes


def _headers(route: dict[str, Any]) -> dict[str, str]:
    return {
        h["header"]["key"]: h["header"]["value"] for h in route.get("response_headers_to_add", [])
    }


def test_only_the_public_services_responses_are_readable_from_any_origin() -> None:
    routes = _routes(local_target())
    with_cors = sorted(
        r["match"]["prefix"] for r in routes if "access-control-allow-origin" in _headers(r)
    )
    assert "/billingos.catalog.v1.PublicCatalogService/" in with_cors
    for prefix in with_cors:
        assert re.fullmatch(r"/billingos\.\w+\.v\d+\.Public\w*Service/", prefix), prefix
        assert _headers(next(r for r in routes if r["match"].get("prefix") == prefix)) == {
            "access-control-allow-origin": "*"
        }
    public = [
        r["match"]["prefix"]
        for r in routes
        if re.fullmatch(r"/billingos\.\w+\.v\d+\.Public\w*Service/", r["match"].get("prefix", ""))
    ]
    assert with_cors == sorted(public)
    # Nothing answers a preflight, and nothing allows credentials.
    rendered = json.dumps(render(local_target()))
    assert "access-control-allow-credentials" not in rendered
    assert "access-control-allow-methods" not in rendered


def _with_files(*files: StaticFile) -> GatewayTarget:
    return dataclasses.replace(local_target(), static_files=files)


def test_static_files_are_exact_get_and_head_routes_before_the_catch_all() -> None:
    script = StaticFile("/pricing-table.js", "/srv/web/pricing-table.js")
    asset = StaticFile("/assets/pricing-table-0123456789abcdef.js", "/srv/web/assets/p.js")
    routes = _routes(_with_files(script, asset))
    assert routes[-1] == {"match": {"prefix": "/"}, "route": {"cluster": "unrouted"}}
    static = [
        r for r in routes if "direct_response" in r and r["match"].get("path") != "/openapi.json"
    ]
    assert [(r["match"]["path"], r["direct_response"]["status"]) for r in static] == [
        (asset.route, 200),
        (asset.route, 405),
        (script.route, 200),
        (script.route, 405),
    ]
    for route in static:
        # Exact paths only: no prefix or regex could reach another file.
        assert set(route["match"]) <= {"path", "headers"}
        assert route["typed_per_filter_config"][TRANSCODER_FILTER]["disabled"] is True
    served = {r["match"]["path"]: r for r in static if r["direct_response"]["status"] == 200}
    assert served[script.route]["direct_response"]["body"] == {"filename": script.filename}
    assert served[script.route]["match"]["headers"] == [
        {"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}}
    ]
    assert _headers(served[script.route]) == {
        "content-type": "text/javascript; charset=utf-8",
        "cache-control": "public, max-age=300",
        "x-content-type-options": "nosniff",
        "cross-origin-resource-policy": "cross-origin",
    }
    assert _headers(served[asset.route])["cache-control"] == "public, max-age=31536000, immutable"
    refused = [r for r in static if r["direct_response"]["status"] == 405]
    assert all(_headers(r) == {"allow": "GET, HEAD"} for r in refused)
    # No static file is given CORS.
    assert not [r for r in static if "access-control-allow-origin" in _headers(r)]


@pytest.mark.parametrize(
    "route",
    [
        "pricing-table.js",
        "/assets/../services.toml",
        "/assets/./x.js",
        "/assets//x.js",
        "/assets/%2e%2e.js",
        "/assets/",
        "/openapi.json",
        "/tool.exe",
        "/README",
    ],
)
def test_a_static_route_that_is_not_a_plain_known_file_is_refused(route: str) -> None:
    with pytest.raises(ValueError, match=r"static route|served twice|serves no"):
        render(_with_files(StaticFile(route, "/srv/web/file")))


def test_a_static_route_is_served_once() -> None:
    twice = StaticFile("/pricing-table.js", "/srv/a.js")
    with pytest.raises(ValueError, match="served twice"):
        render(_with_files(twice, dataclasses.replace(twice, filename="/srv/b.js")))


def test_envoy_validates_the_config_with_static_files(tmp_path: Path) -> None:
    (tmp_path / "pricing-table.js").write_text("customElements;\n")
    (tmp_path / "a-0123456789abcdef.js").write_text("customElements;\n")
    target = _with_files(
        StaticFile("/pricing-table.js", str(tmp_path / "pricing-table.js")),
        StaticFile("/assets/a-0123456789abcdef.js", str(tmp_path / "a-0123456789abcdef.js")),
    )
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(render(target)))
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
