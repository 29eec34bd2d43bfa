"""Starts and stops the whole suite as child processes: Postgres and NATS
(embedded, unless URLs are given), the Stripe stand-in (unless a Stripe key is
given), migrations, every service, then Envoy, which also serves the front
end built from web/ (built first when its sources or lock changed). Used by
`./billingos up` and by the end-to-end tests, so both run the same thing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billingos_cli import web
from billingos_cli.gateway import Endpoint, GatewaySource, GatewayTarget, render
from billingos_cli.pages import StripeOrigins
from billingos_cli.paths import DESCRIPTOR_SET, OPENAPI_FILE, WEB_DIR, WEB_DIST
from billingos_cli.services import KEY_OWNER, SERVICES, ServiceSpec
from billingos_kit.local import (
    LocalNats,
    LocalPostgres,
    LocalStripe,
    free_port,
    port_is_free,
    spawn,
    stop_process,
    venv_binary,
)
from billingos_kit.migrations import upgrade_to_head

log = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 8080
STRIPE_API_BASE = "https://api.stripe.com"
STRIPE_JS_URL = "https://js.stripe.com/v3/"
# The stand-in takes any publishable key.
STAND_IN_KEY = "pk_test_localstripe"
# The one service that talks to Stripe, and what it is told of it.
STRIPE_SERVICE = "payments"
WEBHOOK_SERVICE = "customers"  # the service that posts webhooks
CHECKOUT_SERVICE = "subscriptions"  # the service whose links carry the public URL
STRIPE_ENVIRONMENT = ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET")
# Where the gateway takes Stripe's webhooks (the payments service's route).
STRIPE_WEBHOOK_PATH = "/v1/stripe/webhook"


@dataclass
class SuiteOptions:
    state_dir: Path
    service_token: str  # what internal callers (the CLI, services) present
    gateway_token: str  # what the gateway presents: its calls come from outside
    database_url: str | None = None  # None: embedded Postgres under state_dir
    nats_url: str | None = None  # None: embedded NATS under state_dir
    http_port: int = 0  # 0: 8080 if free, else any free port
    # True (`./billingos up`): each service on its registry port when free, so
    # its address stays the same from run to run. False (tests): free ports
    # only, as gRPC servers share a port (SO_REUSEPORT) with a second suite
    # that picked the same one.
    registry_ports: bool = False
    postgres_port: int = 0
    durable: bool = True
    # None: gateway/gateway.toml as it is (a benchmark lifts the per-address limit).
    gateway_source: GatewaySource | None = None
    # No secret key: the suite starts the local Stripe stand-in and registers
    # the gateway's webhook URL with it. With one: that Stripe, at
    # `stripe_api_base` (default Stripe's own), its webhooks signed with
    # `stripe_webhook_secret`.
    stripe_api_base: str | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    # The key the checkout page gives Stripe.js with a real Stripe (None:
    # STRIPE_PUBLISHABLE_KEY from the environment).
    stripe_publishable_key: str | None = None
    # Build web/ when needed and serve it (/pricing-table.js, /assets/…, the
    # checkout page at /checkout/…).
    # Where npm is missing the suite runs without it (`web_unavailable` says why).
    serve_web: bool = True


@dataclass
class RunningChild:
    name: str
    process: subprocess.Popen[bytes]
    stop_signal: int
    log_file: Path


@dataclass
class Suite:
    options: SuiteOptions
    database_url: str = ""
    nats_url: str = ""
    rest_url: str = ""
    _http_port: int = 0
    grpc_addresses: dict[str, str] = field(default_factory=dict)
    # Where each service is to listen, chosen before any starts.
    _planned: dict[str, str] = field(default_factory=dict)
    stripe_api_base: str = ""
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    # What the checkout page gives Stripe.js: the publishable key and where
    # Stripe.js is loaded from (the stand-in serves one of its own).
    stripe_publishable_key: str = ""
    stripe_js_url: str = ""
    postgres: LocalPostgres | None = None
    nats: LocalNats | None = None
    stripe: LocalStripe | None = None  # the stand-in, when the suite started it
    stripe_webhook_url: str = ""  # the URL registered with the stand-in
    children: list[RunningChild] = field(default_factory=list)
    # Why the gateway serves no front end ("" when it does).
    web_unavailable: str = ""

    @property
    def log_dir(self) -> Path:
        return self.options.state_dir / "logs"

    def start(self) -> None:
        """Starts everything and returns once every part answers."""
        try:
            if self.options.serve_web:
                self.web_unavailable = web.ensure_built(WEB_DIR) or ""
                if self.web_unavailable:
                    log.warning("serving no front end: %s", self.web_unavailable)
            else:
                self.web_unavailable = "not asked for (SuiteOptions.serve_web)"
            self._start_servers()
            # The gateway's port is chosen first: services put the public URL
            # into what they answer (checkout links).
            self._http_port = self._choose_http_port()
            self.rest_url = f"http://127.0.0.1:{self._http_port}"
            for spec in SERVICES:
                upgrade_to_head(spec.migrations_dir, self.database_url)
            self._plan_addresses()
            for spec in SERVICES:
                self._start_service(spec)
            self._start_gateway()
            if self.stripe is not None:
                self.stripe_webhook_url = self.rest_url + STRIPE_WEBHOOK_PATH
                self.stripe.register_webhook(self.stripe_webhook_url)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stops everything this suite started, gateway first, servers last."""
        for child in reversed(self.children):
            stop_process(child.process, child.stop_signal)
        self.children.clear()
        if self.stripe is not None:
            self.stripe.stop()
            self.stripe = None
        if self.nats is not None:
            self.nats.stop()
            self.nats = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def dead_child(self) -> RunningChild | None:
        """A child that exited on its own, if any (the suite is then broken)."""
        for child in self.children:
            if child.process.poll() is not None:
                return child
        return None

    def _start_servers(self) -> None:
        options = self.options
        if options.database_url:
            self.database_url = options.database_url
        else:
            port = options.postgres_port if port_is_free(options.postgres_port) else 0
            self.postgres = LocalPostgres(
                options.state_dir / "postgres" / "data", port=port, durable=options.durable
            )
            self.database_url = self.postgres.start()
        if options.nats_url:
            self.nats_url = options.nats_url
        else:
            self.nats = LocalNats(options.state_dir / "nats" / "store")
            self.nats_url = self.nats.start()
        if options.stripe_secret_key:
            self.stripe_api_base = options.stripe_api_base or STRIPE_API_BASE
            self.stripe_secret_key = options.stripe_secret_key
            self.stripe_webhook_secret = options.stripe_webhook_secret or ""
            if self.stripe_api_base == STRIPE_API_BASE:
                self.stripe_publishable_key = options.stripe_publishable_key or os.environ.get(
                    "STRIPE_PUBLISHABLE_KEY", ""
                )
                self.stripe_js_url = STRIPE_JS_URL
            else:
                # A stand-in started elsewhere (a test session's localstripe).
                self.stripe_publishable_key = options.stripe_publishable_key or STAND_IN_KEY
                self.stripe_js_url = f"{self.stripe_api_base}/js.stripe.com/v3/"
        else:
            self.stripe = LocalStripe(self.log_dir)
            self.stripe_api_base = self.stripe.start()
            self.stripe_secret_key = self.stripe.secret_key
            self.stripe_webhook_secret = self.stripe.webhook_secret
            # The stand-in takes any publishable key and serves its own
            # Stripe.js (which talks to it, not to Stripe).
            self.stripe_publishable_key = STAND_IN_KEY
            self.stripe_js_url = f"{self.stripe_api_base}/js.stripe.com/v3/"

    def _plan_addresses(self) -> None:
        """Each service's address, chosen before any starts: every service is
        told where every other listens (as in a cluster, where each is a
        name), so one may ask a service the registry starts after it.

        Nothing listens on a planned port until its service starts, so the
        probe would offer it again: gRPC servers bind with SO_REUSEPORT, and
        two services on one port would split each other's calls. So no port
        is planned twice, a free pick is never a service's registry port (the
        port that service takes, here or in a `./billingos up` beside this
        suite) nor the gateway's HTTP port, and a clash is picked again."""
        registry = {spec.port for spec in SERVICES}
        planned: set[int] = {self._http_port} if self._http_port else set()
        for spec in SERVICES:
            if self.options.registry_ports and spec.port not in planned and port_is_free(spec.port):
                port = spec.port
            else:
                avoid = planned | registry | {DEFAULT_HTTP_PORT}
                for _ in range(100):
                    port = free_port()
                    if port not in avoid:
                        break
                else:
                    raise RuntimeError(f"no free port for {spec.name} outside the planned ones")
            planned.add(port)
            self._planned[spec.name] = f"127.0.0.1:{port}"

    def _start_service(self, spec: ServiceSpec) -> None:
        address = self._planned[spec.name]
        port = int(address.rsplit(":", 1)[1])
        prefix = f"BILLINGOS_{spec.name.upper()}_"
        env = dict(os.environ)
        env.update(
            {
                prefix + "DATABASE_URL": self.database_url,
                prefix + "NATS_URL": self.nats_url,
                prefix + "GRPC_LISTEN": f"127.0.0.1:{port}",
                "BILLINGOS_SERVICE_TOKEN": self.options.service_token,
                "BILLINGOS_GATEWAY_TOKEN": self.options.gateway_token,
            }
        )
        # Where the API keys of calls from outside are checked: the service
        # that owns them, which the registry starts first.
        # Where every service listens, for a service that asks another
        # (BILLINGOS_CATALOG_ADDRESS: the subscriptions service's
        # `catalog_address`, billingos_kit.settings' suite-wide layer).
        for name, planned in self._planned.items():
            env[f"BILLINGOS_{name.upper()}_ADDRESS"] = planned
        key_owner = self._planned.get(KEY_OWNER)
        if key_owner is not None:
            env["BILLINGOS_KEY_CHECK_ADDRESS"] = key_owner
        # Stripe's keys go to the service that talks to Stripe and to no other,
        # not even as inherited from the environment.
        for name in STRIPE_ENVIRONMENT:
            env.pop(name, None)
        if spec.name == STRIPE_SERVICE:
            env["STRIPE_SECRET_KEY"] = self.stripe_secret_key
            env["STRIPE_API_BASE"] = self.stripe_api_base
            env["STRIPE_WEBHOOK_SECRET"] = self.stripe_webhook_secret
            # What the customer portal's card page gives Stripe.js.
            env[prefix + "STRIPE_PUBLISHABLE_KEY"] = self.stripe_publishable_key
            env[prefix + "STRIPE_JS_URL"] = self.stripe_js_url
        if spec.name == WEBHOOK_SERVICE:
            # A suite on one machine is a development suite: an organization
            # in development mode may have webhooks posted to it (loopback, http).
            env[prefix + "WEBHOOK_DEVELOPMENT_MODE_ALLOWED"] = "true"
        if spec.name == KEY_OWNER:
            # The owner of the portal's credentials: its sign-in links point
            # at this suite, and (a development suite: no merchant emails
            # them) are written to its log as well.
            env[prefix + "PUBLIC_BASE_URL"] = self.rest_url
            env[prefix + "PORTAL_SIGN_IN_LOG_LINKS"] = "true"
        if spec.name == CHECKOUT_SERVICE:
            env[prefix + "PUBLIC_BASE_URL"] = self.rest_url
            # A development suite: a checkout may return to a local shop.
            env[prefix + "CHECKOUT_LOOPBACK_HTTP_ALLOWED"] = "true"
            env[prefix + "STRIPE_PUBLISHABLE_KEY"] = self.stripe_publishable_key
            env[prefix + "STRIPE_JS_URL"] = self.stripe_js_url
        log_file = self.log_dir / f"{spec.name}.log"
        process = spawn([sys.executable, "-m", spec.module, "serve"], log_file=log_file, env=env)
        child = RunningChild(spec.name, process, signal.SIGTERM, log_file)
        self.children.append(child)
        _wait_until_serving(address, child)
        self.grpc_addresses[spec.name] = address

    def _choose_http_port(self) -> int:
        wanted = self.options.http_port
        if wanted and port_is_free(wanted):
            return wanted
        if not self.options.registry_ports:
            # A test suite: never the well-known port, which Envoy (listening
            # with SO_REUSEPORT) would share with a `./billingos up` there.
            return free_port()
        return DEFAULT_HTTP_PORT if port_is_free(DEFAULT_HTTP_PORT) else free_port()

    def _start_gateway(self) -> None:
        options = self.options
        http_port = self._http_port
        admin_port = free_port()
        # From listing the build until Envoy has read it, no build may run.
        with web.reading_build(WEB_DIR):
            static_files = () if self.web_unavailable else web.served_files(WEB_DIST)
            target = GatewayTarget(
                listen=Endpoint("127.0.0.1", http_port),
                admin=Endpoint("127.0.0.1", admin_port),
                descriptor_path=str(DESCRIPTOR_SET),
                openapi_path=str(OPENAPI_FILE),
                static_files=static_files,
                # The checkout page loads Stripe.js from the Stripe this
                # suite uses: the local stand-in's address, or Stripe's own
                # (gateway.toml's) when a key for it was given.
                stripe_origins=StripeOrigins.of_api_base(self.stripe_api_base),
                upstreams={
                    name: Endpoint(*_split(address))
                    for name, address in self.grpc_addresses.items()
                },
                gateway_token=options.gateway_token,
            )
            config_file = options.state_dir / "run" / "envoy.yaml"
            config_file.parent.mkdir(parents=True, exist_ok=True)
            config_file.write_text(
                yaml.safe_dump(render(target, options.gateway_source), sort_keys=False)
            )
            config_file.chmod(0o600)
            log_file = self.log_dir / "envoy.log"
            command = [
                str(venv_binary("envoy")),
                "-c",
                str(config_file),
                "--use-dynamic-base-id",
                "--log-level",
                "warn",
            ]
            process = spawn(command, log_file=log_file)
            child = RunningChild("envoy", process, signal.SIGTERM, log_file)
            self.children.append(child)
            _wait_for_envoy(admin_port, child)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _wait_until_serving(address: str, child: RunningChild, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        # The typeshed stub of HealthStub lists no methods.
        health: Any = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            _fail_if_exited(child)
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{child.name} did not start serving; see {child.log_file}")


def _wait_for_envoy(admin_port: int, child: RunningChild, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _fail_if_exited(child)
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{admin_port}/ready", timeout=1
            ) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"envoy did not become ready; see {child.log_file}")


def _fail_if_exited(child: RunningChild) -> None:
    if child.process.poll() is not None:
        tail = child.log_file.read_text(errors="replace")[-2000:] if child.log_file.exists() else ""
        raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{tail}")
