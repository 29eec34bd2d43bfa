"""The gateway config that `./billingos up` renders is one Envoy accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from billingos_cli.gateway import Endpoint, GatewayTarget, render
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
        service_token="token",
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


def test_admin_services_are_never_transcoded() -> None:
    config = render(local_target())
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    filters = {f["name"]: f["typed_config"] for f in manager["typed_config"]["http_filters"]}
    services = filters["envoy.filters.http.grpc_json_transcoder"]["services"]
    assert "billingos.customers.v1.CustomerService" in services
    assert not [s for s in services if s.endswith("AdminService")]
    routes = manager["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    assert not [r for r in routes if "AdminService" in r["match"]["prefix"]]


def test_client_identity_headers_are_stripped_before_the_key_check() -> None:
    config = render(local_target())
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    names = [f["name"] for f in manager["typed_config"]["http_filters"]]
    assert names.index("envoy.filters.http.header_mutation") < names.index(
        "envoy.filters.http.ext_authz"
    )
    mutation = manager["typed_config"]["http_filters"][0]["typed_config"]["mutations"]
    removed = {m["remove"] for m in mutation["request_mutations"]}
    assert {"x-billingos-organization-id", "x-billingos-service-token"} <= removed
