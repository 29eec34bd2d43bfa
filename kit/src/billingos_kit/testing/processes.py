"""Another service of the suite as a process of its own, for a service's
tests that need a real neighbour (the billing engine's need the catalog and
payments). Started by module name, as `./billingos up` starts it: a
service's tests never import another service's code (the contract tests
hold them to that), and the neighbour runs as it does in production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billingos_kit.local import free_port
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import TEST_GATEWAY_TOKEN, TEST_SERVICE_TOKEN

STARTUP_SECONDS = 60.0


@contextmanager
def service_process(
    name: str, servers: SessionServers, log_dir: Path, **settings: str
) -> Iterator[str]:
    """Migrates and serves `billingos_<name>` on a free port; yields its
    address. `settings` are the service's own (`stripe_api_base=...`), as
    BILLINGOS_<NAME>_<SETTING>."""
    prefix = f"BILLINGOS_{name.upper()}_"
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            prefix + "DATABASE_URL": servers.database_url,
            prefix + "NATS_URL": servers.nats_url,
            prefix + "GRPC_LISTEN": f"127.0.0.1:{port}",
            prefix + "DB_POOL_SIZE": "4",
            prefix + "OUTBOX_POLL_SECONDS": "0.2",
            "BILLINGOS_SERVICE_TOKEN": TEST_SERVICE_TOKEN,
            "BILLINGOS_GATEWAY_TOKEN": TEST_GATEWAY_TOKEN,
        }
    )
    env.update({prefix + key.upper(): value for key, value in settings.items()})
    module = f"billingos_{name}"
    subprocess.run([sys.executable, "-m", module, "migrate"], env=env, check=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "serve"], env=env, stdout=log, stderr=log
        )
    address = f"127.0.0.1:{port}"
    try:
        _wait_until_serving(address, process)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(address: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with grpc.insecure_channel(address) as channel:
        # The generated stub's types describe no methods.
        health: Any = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{address}: the service exited ({process.returncode})")
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{address}: not serving within {STARTUP_SECONDS:.0f} s")
