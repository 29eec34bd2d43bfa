"""`./billingos up`: the whole suite in the foreground on a bare machine."""

from __future__ import annotations

import os
import signal
import sys
import threading

from billingos_cli.admin import api_key_works, create_organization
from billingos_cli.paths import STATE_DIR
from billingos_cli.state import SuiteState, write_env_file
from billingos_cli.suite import Suite, SuiteOptions

DEMO_ORGANIZATION_NAME = "Demo"


def run_up() -> int:
    state = SuiteState.load(STATE_DIR)
    options = SuiteOptions(
        state_dir=STATE_DIR,
        service_token=state.service_token,
        gateway_token=state.gateway_token,
        database_url=os.environ.get("DATABASE_URL") or None,
        nats_url=os.environ.get("NATS_URL") or None,
        http_port=int(os.environ.get("BILLINGOS_HTTP_PORT", "0")) or state.http_port,
        postgres_port=state.postgres_port,
        registry_ports=True,
        # Without a key, the suite runs the local Stripe stand-in.
        stripe_secret_key=os.environ.get("STRIPE_SECRET_KEY") or None,
        stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
        stripe_webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
    )
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())

    suite = Suite(options)
    print("Starting BillingOS…", flush=True)
    try:
        suite.start()
        if suite.postgres is not None:
            state.postgres_port = suite.postgres.port
        state.http_port = int(suite.rest_url.rsplit(":", 1)[1])
        if not api_key_works(suite.rest_url, state.demo_organization_id, state.demo_api_key):
            # In development mode: its webhooks can reach a receiver on
            # this machine (http, loopback).
            demo = create_organization(
                suite.grpc_addresses["customers"],
                state.service_token,
                DEMO_ORGANIZATION_NAME,
                development=True,
            )
            state.demo_organization_id, state.demo_api_key = demo.organization_id, demo.api_key
        state.rest_url = suite.rest_url
        state.database_url = suite.database_url
        state.grpc_addresses = dict(suite.grpc_addresses)
        state.supervisor_pid = os.getpid()
        state.save(STATE_DIR)
        env_file = write_env_file(
            STATE_DIR, suite.rest_url, state.demo_api_key, state.demo_organization_id
        )
        _print_banner(suite, state, str(env_file))
        while not stop_requested.wait(0.5):
            dead = suite.dead_child()
            if dead is not None:
                print(f"{dead.name} stopped unexpectedly; see {dead.log_file}", file=sys.stderr)
                return 1
        print("Stopping BillingOS…", flush=True)
        return 0
    finally:
        suite.stop()
        state.rest_url, state.grpc_addresses, state.supervisor_pid = "", {}, 0
        state.save(STATE_DIR)


def _print_banner(suite: Suite, state: SuiteState, env_file: str) -> None:
    database = "embedded Postgres" if suite.postgres else "DATABASE_URL"
    broker = "embedded NATS" if suite.nats else "NATS_URL"
    if suite.stripe is not None:
        stripe = f"local stand-in (localstripe) at {suite.stripe_api_base}, webhook registered"
    else:
        stripe = f"STRIPE_SECRET_KEY ({suite.stripe_api_base})"
    if suite.web_unavailable:
        pricing_table = f"not served: {suite.web_unavailable}"
    else:
        pricing_table = f"{suite.rest_url}/pricing-table.js (see README.md, Pricing table)"
    print(
        f"""
BillingOS is up ({database}, {broker}).

  REST URL:  {suite.rest_url}
  API key:   {state.demo_api_key}
  Organization: {state.demo_organization_id}
  (all in {env_file}; `set -a; . {env_file}; set +a` to load them)
  Stripe:    {stripe}
  Pricing table: {pricing_table}

  Try:  curl -H "Authorization: Bearer $BILLINGOS_API_KEY" $BILLINGOS_URL/v1/customers
  Logs: {suite.log_dir}/
  Stop: Ctrl-C
""",
        flush=True,
    )
