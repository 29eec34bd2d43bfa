"""Envoy's own errors when a service is down are JSON too (503)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest
import yaml

from billingos_cli.gateway import Endpoint, GatewayTarget, render
from billingos_cli.paths import DESCRIPTOR_SET
from billingos_cli.services import SERVICES
from billingos_kit.local import free_port, spawn, stop_process, venv_binary
from billingos_kit.testing.http import status_body

pytestmark = pytest.mark.e2e


def test_unreachable_service_is_a_json_503(tmp_path: Path) -> None:
    http_port, admin_port, dead_port = free_port(), free_port(), free_port()
    target = GatewayTarget(
        listen=Endpoint("127.0.0.1", http_port),
        admin=Endpoint("127.0.0.1", admin_port),
        descriptor_path=str(DESCRIPTOR_SET),
        upstreams={spec.name: Endpoint("127.0.0.1", dead_port) for spec in SERVICES},
        gateway_token="unused",
    )
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(render(target)))
    envoy = spawn(
        [str(venv_binary("envoy")), "-c", str(config), "--use-dynamic-base-id"],
        log_file=tmp_path / "envoy.log",
    )
    try:
        _wait_ready(admin_port)
        response = httpx.get(
            f"http://127.0.0.1:{http_port}/v1/customers",
            headers={"Authorization": "Bearer bos_anything"},
            timeout=10,
        )
    finally:
        stop_process(envoy, signal.SIGTERM)
    assert response.status_code == 503
    body = status_body(response)
    assert body["code"] == 14
    assert body["details"][0]["reason"] == "UNAVAILABLE"
    # The gateway logs every 5xx with the request id the client got back.
    request_id = response.headers["x-request-id"]
    logged = [
        json.loads(line)
        for line in (tmp_path / "envoy.log").read_text().splitlines()
        if line.startswith("{")
    ]
    (entry,) = [e for e in logged if e.get("request_id") == request_id]
    assert entry["status"] == 503
    assert entry["path"] == "/v1/customers"


def _wait_ready(admin_port: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{admin_port}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("envoy did not become ready")
