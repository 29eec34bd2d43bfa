"""Outbound webhooks: delivery throughput and end-to-end latency (event
committed → delivered) to a local receiver, also one that fails a fifth of
the attempts it gets, against a baseline measured in the same run: the
outbox relay's publish rate (customer.created events reaching NATS per
second).

Starts embedded Postgres and NATS and the customers service (its API, outbox
relay, webhook dispatchers and sender) the way `billingos_cli.suite.Suite`
starts them, in a temporary directory, on free ports (`--all-services`: the
whole suite, as `./billingos up`), and a receiver (aiohttp, in a process of
its own) on a free port of 127.0.0.1. Creates an organization in development
mode (as `./billingos org create --development` does), then runs:

1. relay: a burst of CreateCustomer calls with no endpoint, timing each
   customer.created as it reaches a plain NATS subscription;
2. warm-up: a few events to two endpoints that never fail (not reported);
3. healthy: E new endpoints, each taking customer.created, and a burst of N
   CreateCustomer calls; the receiver never fails;
4. paced: the same at a fixed rate (open loop), well below what the sender
   can do: the latency of a sender with no backlog;
5. failing: a burst to a receiver that answers 500 to 20 % of the attempts.

Each phase waits until every (endpoint, event) pair has been answered 2xx,
then reports deliveries per second, latency from the CreateCustomer call's
return to the receiver's first 2xx (p50/p99, first-attempt successes and
retried ones apart), where that time went, attempts per delivery, and
checks: every pair delivered, exactly once, signed, each endpoint in
`sequence` order with no gaps and one request at a time, the sender's
records agreeing. Figures only: no pass/fail on timings; the exit status is
1 when a check fails. See bench/README.md ("Webhooks").

    .venv/bin/python bench/webhooks.py                  # ~4 min on 2 cores
    .venv/bin/python bench/webhooks.py --events 400 --endpoints 16
    .venv/bin/python bench/webhooks.py --phases failing --failing-events 100 --failing-rate 0.5
    .venv/bin/python bench/webhooks.py --all-services
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import logging
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import grpc
from aiohttp import web
from benchkit import filesystem_of, machine, percentiles_ms, plain_postgres_url, unlimited_gateway
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from billingos.common.v1 import event_pb2
from billingos.customers.v1 import (
    customers_pb2,
    customers_pb2_grpc,
    webhook_endpoints_pb2,
    webhook_endpoints_pb2_grpc,
)
from billingos.customers.v1 import events_pb2 as customer_events
from billingos_cli.admin import create_organization
from billingos_cli.services import SERVICES
from billingos_cli.suite import WEBHOOK_SERVICE, Suite, SuiteOptions
from billingos_kit.headers import ORGANIZATION_HEADER, SERVICE_TOKEN_HEADER
from billingos_kit.local import free_port
from billingos_kit.migrations import upgrade_to_head

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCRIPT = str(Path(__file__).resolve())
EVENT_TYPE = "customer.created"
EVENT_SUBJECT = "billingos.customers.customer.created"
CALL_TIMEOUT_SECONDS = 30.0
ERROR_SAMPLES = 5
# Violations kept as samples per check (all of them are counted).
VIOLATION_SAMPLES = 5
# The receiver's path for endpoint KEY: /hooks/KEY.
HOOK_PATH = "/hooks/{key}"
PHASES = ("healthy", "paced", "failing")
# The dispatcher of customers' events (webhook_dispatch.py): a phase starts
# once it has caught up, so no earlier event reaches the phase's endpoints
# (an endpoint takes events published up to a minute before it was made).
DISPATCHER = ("BILLINGOS_CUSTOMERS", "customers-webhooks-customers")

DELIVERIES = """
SELECT d.endpoint_id, d.event_id, d.sequence, d.status, d.attempts, d.created_at,
       (SELECT min(a.attempted_at) FROM customers.webhook_delivery_attempts a
         WHERE a.delivery_id = d.id) AS first_attempt_at,
       (SELECT count(*) FROM customers.webhook_delivery_attempts a
         WHERE a.delivery_id = d.id) AS attempt_rows
FROM customers.webhook_deliveries d
WHERE d.endpoint_id = ANY($1::uuid[])
"""
BACKLOG = """
SELECT count(*) FILTER (WHERE status IN ('pending', 'retrying')) AS open,
       count(*) FILTER (WHERE status = 'retrying') AS retrying,
       count(*) AS enqueued
FROM customers.webhook_deliveries WHERE endpoint_id = ANY($1::uuid[])
"""

log = logging.getLogger("bench.webhooks")


# ---------------------------------------------------------------------------
# The receiver (a process of its own: `webhooks.py receiver`)
# ---------------------------------------------------------------------------


def fails(key: str, webhook_id: str, attempt: int, fail_rate: float) -> bool:
    """Whether the receiver answers 500 to this attempt: a draw from a hash of
    the endpoint, the event and the attempt's number, so it is the same
    whatever the timing, and an attempt's fate is independent of the last."""
    digest = hashlib.blake2b(f"{key}|{webhook_id}|{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fail_rate


@dataclass
class ReceiverEndpoint:
    key: str
    webhook: Webhook
    fail_rate: float
    max_failures: int
    attempts: Counter[str] = field(default_factory=Counter)  # webhook-id -> requests
    delivered: set[str] = field(default_factory=set)  # customer ids answered 2xx
    # [webhook-id, attempt, arrived, answered, status, sequence, timestamp,
    #  customer id, signature ok, event type], in arrival order.
    records: list[list[Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class Receiver:
    """Answers 500 to a deterministic `fail_rate` of attempts (each attempt
    drawn on its own, at most `max_failures` failures per delivery: the next
    attempt succeeds) and 200 to the rest; 400 to a bad signature. Records
    every request, verifying every signature (standardwebhooks, on the raw
    body, as docs/webhooks.md tells a receiver to)."""

    def __init__(self) -> None:
        self.endpoints: dict[str, ReceiverEndpoint] = {}
        self.unknown = 0
        self.requests = 0
        self.handler_seconds = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    async def hook(self, request: web.Request) -> web.Response:
        arrived = time.time()
        began = time.perf_counter()
        endpoint = self.endpoints.get(request.match_info["key"])
        if endpoint is None:
            self.unknown += 1
            return web.Response(status=404)
        self.requests += 1
        self.in_flight += 1
        endpoint.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        endpoint.max_in_flight = max(endpoint.max_in_flight, endpoint.in_flight)
        try:
            body = await request.read()
            webhook_id = request.headers.get("webhook-id", "")
            endpoint.attempts[webhook_id] += 1
            attempt = endpoint.attempts[webhook_id]
            signed = True
            try:
                payload = endpoint.webhook.verify(body, dict(request.headers))
            except WebhookVerificationError:
                signed = False
                payload = json.loads(body)
            if not signed:
                status = 400
            elif attempt <= endpoint.max_failures and fails(
                endpoint.key, webhook_id, attempt, endpoint.fail_rate
            ):
                status = 500
            else:
                status = 200
            customer = payload.get("data", {}).get("customer", {})
            if status == 200:
                endpoint.delivered.add(str(customer.get("id")))
            endpoint.records.append(
                [
                    webhook_id,
                    attempt,
                    arrived,
                    time.time(),
                    status,
                    payload.get("sequence"),
                    payload.get("timestamp"),
                    customer.get("id"),
                    signed,
                    payload.get("type"),
                ]
            )
        finally:
            endpoint.in_flight -= 1
            self.in_flight -= 1
            self.handler_seconds += time.perf_counter() - began
        return web.Response(status=status, text="failing on purpose" if status == 500 else "ok")

    async def add_endpoint(self, request: web.Request) -> web.Response:
        spec = await request.json()
        self.endpoints[spec["key"]] = ReceiverEndpoint(
            key=spec["key"],
            webhook=Webhook(spec["secret"]),
            fail_rate=float(spec["fail_rate"]),
            max_failures=int(spec["max_failures"]),
        )
        return web.json_response({"ok": True})

    async def counts(self, request: web.Request) -> web.Response:
        """Per endpoint, how many of the given customers' events it answered 2xx."""
        asked = await request.json()
        expected = set(asked["customers"])
        return web.json_response(
            {
                key: len(self.endpoints[key].delivered & expected) if key in self.endpoints else 0
                for key in asked["keys"]
            }
        )

    async def records(self, request: web.Request) -> web.Response:
        keys = request.query.get("keys", "").split(",")
        found = {
            key: {
                "records": self.endpoints[key].records,
                "max_in_flight": self.endpoints[key].max_in_flight,
            }
            for key in keys
            if key in self.endpoints
        }
        return web.json_response(
            {
                "endpoints": found,
                "unknown": self.unknown,
                "requests": self.requests,
                "handler_seconds": self.handler_seconds,
                "max_in_flight": self.max_in_flight,
            }
        )

    async def reset_peak(self, request: web.Request) -> web.Response:
        self.max_in_flight = self.in_flight
        return web.json_response({"ok": True})


async def receiver_main() -> None:
    """Serves on a free port of 127.0.0.1, says which on stdout, and stops
    when stdin closes (the bench ended) or on SIGTERM."""
    receiver = Receiver()
    app = web.Application(client_max_size=1024**2)
    app.router.add_post(HOOK_PATH, receiver.hook)
    app.router.add_post("/_control/endpoints", receiver.add_endpoint)
    app.router.add_post("/_control/counts", receiver.counts)
    app.router.add_get("/_control/records", receiver.records)
    app.router.add_post("/_control/reset-peak", receiver.reset_peak)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = int(runner.addresses[0][1])
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)

    def watch_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
    try:
        await done.wait()
    finally:
        await runner.cleanup()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it installs (the services run on it too)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


# ---------------------------------------------------------------------------
# CPU, from /proc (as in payments_webhooks.py)
# ---------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds (user + system, all threads) of each part of the suite with
    its descendants, of this process, of the receiver, and of the whole
    machine. Linux only; elsewhere it measures nothing."""

    def __init__(self, roots: dict[str, list[int]]) -> None:
        self.roots = roots
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    @staticmethod
    def _processes() -> dict[int, tuple[int, int]]:
        found: dict[int, tuple[int, int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            fields = raw.rpartition(")")[2].split()
            found[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        return found

    def snapshot(self) -> dict[str, float]:
        try:
            processes = self._processes()
            first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return {}
        children: dict[int, list[int]] = {}
        for pid, (parent, _) in processes.items():
            children.setdefault(parent, []).append(pid)
        seconds: dict[str, float] = {}
        for name, root_pids in self.roots.items():
            ticks, stack = 0, list(root_pids)
            while stack:
                pid = stack.pop()
                ticks += processes.get(pid, (0, 0))[1]
                stack += children.get(pid, [])
            seconds[name] = ticks / self.tick
        seconds["bench client"] = processes.get(os.getpid(), (0, 0))[1] / self.tick
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in first[:8])
        busy = user + nice + system + irq + softirq + steal
        seconds["machine_busy"] = busy / self.tick
        seconds["machine_total"] = (busy + idle + iowait) / self.tick
        return seconds

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """CPU seconds by part between two snapshots ("other": the rest of the
        machine's busy time), and the machine's busy share."""
        if not before or not after:
            return {}
        parts = {
            name: after[name] - before[name]
            for name in before
            if name not in ("machine_busy", "machine_total")
        }
        busy = after["machine_busy"] - before["machine_busy"]
        total = after["machine_total"] - before["machine_total"]
        parts["other"] = max(busy - sum(parts.values()), 0.0)
        parts["machine_busy_share"] = busy / total if total > 0 else float("nan")
        return parts


class WebhookSuite(Suite):
    """The suite with only what webhooks need: Postgres, NATS and the
    customers service (its API, outbox relay, dispatchers and sender), each
    started as `Suite` starts it (the same environment, development mode
    allowed). No other service, no gateway, no Stripe stand-in: every
    CreateCustomer makes payments ask the stand-in for a Stripe customer,
    and the stand-in's search by email grows with every customer it holds,
    so after a thousand creates it takes half a core for minutes, beside
    the sender being measured."""

    def start(self) -> None:
        try:
            self._start_servers()
            (spec,) = [spec for spec in SERVICES if spec.name == WEBHOOK_SERVICE]
            upgrade_to_head(spec.migrations_dir, self.database_url)
            self._start_service(spec)
        except BaseException:
            self.stop()
            raise


def suite_processes(suite: Suite) -> dict[str, list[int]]:
    roots = {child.name: [child.process.pid] for child in suite.children}
    if suite.postgres is not None and suite.postgres.process is not None:
        roots["postgres"] = [suite.postgres.process.pid]
    if suite.nats is not None and suite.nats.process is not None:
        roots["nats"] = [suite.nats.process.pid]
    if suite.stripe is not None:
        for process in (suite.stripe.process, suite.stripe.upstream):
            if process is not None:
                name = "localstripe" if process is suite.stripe.upstream else "stripe stand-in"
                roots[name] = [process.pid]
    return roots


# ---------------------------------------------------------------------------
# The bench's side
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseSpec:
    name: str
    fail_rate: float  # of the receiver's answers to attempts
    events: int
    rate: float  # events a second; 0: a burst, as fast as `concurrency` calls go


@dataclass(frozen=True)
class Parameters:
    phases: list[PhaseSpec]
    endpoints: int
    concurrency: int
    max_failures: int
    relay_events: int
    warmup_events: int
    drain_timeout_seconds: float
    settle_seconds: float


@dataclass(frozen=True)
class Created:
    """One CreateCustomer call: times are the wall clock (time.time), which
    the receiver's process and the services read too."""

    customer_id: str
    started: float
    returned: float
    create_time: float


@dataclass
class Load:
    created: list[Created]
    errors: int
    error_samples: list[str]
    started: float
    ended: float
    max_late_seconds: float  # paced: how late the latest call started


class ReceiverProcess:
    """`webhooks.py receiver` as a child process, and its control routes."""

    def __init__(self, log_file: Path) -> None:
        self.log_file = log_file
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.pid = 0
        self.http: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log_file.open("ab") as errors:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                SCRIPT,
                "receiver",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=30)
        if not line:
            raise RuntimeError(f"the receiver did not start; see {self.log_file}")
        said = json.loads(line)
        self.port, self.pid = int(said["port"]), int(said["pid"])
        self.http = aiohttp.ClientSession(
            base_url=self.base_url, timeout=aiohttp.ClientTimeout(total=60)
        )

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.process is not None and self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def url(self, key: str) -> str:
        return self.base_url + HOOK_PATH.format(key=key)

    async def add_endpoint(
        self, key: str, secret: str, fail_rate: float, max_failures: int
    ) -> None:
        assert self.http is not None
        spec = {"key": key, "secret": secret, "fail_rate": fail_rate, "max_failures": max_failures}
        async with self.http.post("/_control/endpoints", json=spec, raise_for_status=True):
            pass

    async def delivered(self, keys: Sequence[str], customers: Sequence[str]) -> dict[str, int]:
        """Per endpoint, how many of these customers' events it answered 2xx."""
        assert self.http is not None
        asked = {"keys": list(keys), "customers": list(customers)}
        async with self.http.post("/_control/counts", json=asked, raise_for_status=True) as answer:
            found: dict[str, int] = await answer.json()
        return found

    async def records(self, keys: Sequence[str]) -> dict[str, Any]:
        assert self.http is not None
        async with self.http.get(
            "/_control/records", params={"keys": ",".join(keys)}, raise_for_status=True
        ) as answer:
            found: dict[str, Any] = await answer.json()
        return found

    async def reset_peak(self) -> None:
        assert self.http is not None
        async with self.http.post("/_control/reset-peak", raise_for_status=True):
            pass


@dataclass
class Arrival:
    """A customer.created as the NATS subscription saw it."""

    arrived: float
    event_id: str
    customer_id: str
    occurred: float


class Workload:
    """The gRPC clients, the NATS subscription, the database connection and
    the receiver that the phases share."""

    def __init__(
        self,
        *,
        grpc_address: str,
        nats_url: str,
        database_url: str,
        service_token: str,
        organization_id: str,
        receiver: ReceiverProcess,
    ) -> None:
        self.grpc_address = grpc_address
        self.nats_url = nats_url
        self.database_url = database_url
        self.organization_id = organization_id
        self.metadata = (
            (SERVICE_TOKEN_HEADER, service_token),
            (ORGANIZATION_HEADER, organization_id),
        )
        self.receiver = receiver
        self.serial = 0
        self.raw_arrivals: list[tuple[float, bytes]] = []
        self.channel: grpc.aio.Channel | None = None
        self.nats: Any = None
        self.database: asyncpg.Connection | None = None

    async def open(self) -> None:
        import nats

        self.channel = grpc.aio.insecure_channel(self.grpc_address)
        self.customers = customers_pb2_grpc.CustomerServiceStub(self.channel)
        self.webhooks = webhook_endpoints_pb2_grpc.WebhookEndpointServiceStub(self.channel)
        self.database = await asyncpg.connect(self.database_url)
        self.nats = await nats.connect(self.nats_url)
        arrivals = self.raw_arrivals

        async def on_message(message: Any) -> None:
            # Parsed later: the callback only notes the time.
            arrivals.append((time.time(), message.data))

        await self.nats.subscribe(EVENT_SUBJECT, cb=on_message)
        await self.nats.flush()

    async def close(self) -> None:
        if self.nats is not None:
            await self.nats.close()
        if self.channel is not None:
            await self.channel.close()
        if self.database is not None:
            await self.database.close()

    async def postgres_version(self) -> str:
        assert self.database is not None
        return str(await self.database.fetchval("SHOW server_version"))

    def arrivals(self, since: int = 0) -> dict[str, Arrival]:
        """customer id -> the first arrival of its customer.created, of this
        organization, among the messages from index `since` on."""
        found: dict[str, Arrival] = {}
        for arrived, data in self.raw_arrivals[since:]:
            envelope = event_pb2.EventEnvelope.FromString(data)
            if envelope.organization_id != self.organization_id:
                continue
            event = customer_events.CustomerCreatedEvent()
            envelope.data.Unpack(event)
            if event.customer.id not in found:
                found[event.customer.id] = Arrival(
                    arrived,
                    envelope.event_id,
                    event.customer.id,
                    envelope.occur_time.ToDatetime(tzinfo=dt.UTC).timestamp(),
                )
        return found

    # Load ------------------------------------------------------------------

    async def create_customer(self, tag: str) -> Created:
        self.serial += 1
        started = time.time()
        made = await self.customers.CreateCustomer(
            customers_pb2.CreateCustomerRequest(
                customer=customers_pb2.Customer(
                    email=f"wh-{tag}-{self.serial}@example.com", name=f"Webhook Bench {self.serial}"
                )
            ),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        returned = time.time()
        return Created(
            made.id, started, returned, made.create_time.ToDatetime(tzinfo=dt.UTC).timestamp()
        )

    async def load(self, tag: str, count: int, rate: float, concurrency: int) -> Load:
        """`count` customers: at `rate` a second (open loop: a call starts on
        schedule whatever the others do, up to `concurrency` in flight), or,
        with rate 0, from `concurrency` workers as fast as they go."""
        created: list[Created] = []
        samples: list[str] = []
        errors = 0
        late = 0.0
        started = time.time()

        async def one() -> None:
            nonlocal errors
            try:
                created.append(await self.create_customer(tag))
            except Exception as error:
                errors += 1
                if len(samples) < ERROR_SAMPLES:
                    samples.append(f"{type(error).__name__}: {error}"[:300])

        if rate <= 0:
            issued = 0

            async def worker() -> None:
                nonlocal issued
                while issued < count:
                    issued += 1
                    await one()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            slots = asyncio.Semaphore(concurrency)
            tasks: list[asyncio.Task[None]] = []
            origin = time.perf_counter()

            async def paced() -> None:
                try:
                    await one()
                finally:
                    slots.release()

            for index in range(count):
                wait = origin + index / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                await slots.acquire()
                late = max(late, time.perf_counter() - (origin + index / rate))
                tasks.append(asyncio.create_task(paced()))
            await asyncio.gather(*tasks)
        return Load(created, errors, samples, started, time.time(), late)

    # Endpoints -------------------------------------------------------------

    async def create_endpoint(self, key: str, fail_rate: float, max_failures: int) -> str:
        made = await self.webhooks.CreateWebhookEndpoint(
            webhook_endpoints_pb2.CreateWebhookEndpointRequest(
                webhook_endpoint=webhook_endpoints_pb2.WebhookEndpoint(
                    url=self.receiver.url(key),
                    description=f"bench {key}",
                    event_types=[EVENT_TYPE],
                )
            ),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        await self.receiver.add_endpoint(key, made.secret, fail_rate, max_failures)
        return made.id

    async def delete_endpoint(self, endpoint_id: str) -> None:
        await self.webhooks.DeleteWebhookEndpoint(
            webhook_endpoints_pb2.DeleteWebhookEndpointRequest(id=endpoint_id),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )

    async def dispatcher_caught_up(self, limit_seconds: float) -> float:
        """Waits until the dispatcher of customers' events has handled every
        event so far (JetStream: nothing pending, nothing unacknowledged);
        how long that took."""
        js = self.nats.jetstream()
        began = time.perf_counter()
        while True:
            info = await js.consumer_info(*DISPATCHER)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return time.perf_counter() - began
            if time.perf_counter() - began > limit_seconds:
                log.warning(
                    "the dispatcher still has %d events pending after %.0f s",
                    info.num_pending + info.num_ack_pending,
                    limit_seconds,
                )
                return time.perf_counter() - began
            await asyncio.sleep(0.2)

    async def backlog(self, endpoint_ids: Sequence[str]) -> tuple[int, int, int]:
        assert self.database is not None
        row = await self.database.fetchrow(BACKLOG, [uuid.UUID(i) for i in endpoint_ids])
        assert row is not None
        return int(row["open"]), int(row["retrying"]), int(row["enqueued"])

    async def deliveries(self, endpoint_ids: Sequence[str]) -> list[dict[str, Any]]:
        assert self.database is not None
        rows = await self.database.fetch(DELIVERIES, [uuid.UUID(i) for i in endpoint_ids])
        return [
            {
                "endpoint_id": str(row["endpoint_id"]),
                "event_id": str(row["event_id"]),
                "sequence": int(row["sequence"]),
                "status": str(row["status"]),
                "attempts": int(row["attempts"]),
                "attempt_rows": int(row["attempt_rows"]),
                "created_at": row["created_at"].timestamp(),
                "first_attempt_at": (
                    row["first_attempt_at"].timestamp() if row["first_attempt_at"] else None
                ),
            }
            for row in rows
        ]


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def distribution_ms(values: Sequence[float]) -> dict[str, float | int]:
    """p50, p95, p99, mean and max in ms of durations in seconds, and how many."""
    p50, p95, p99, mean = percentiles_ms(values)
    return {
        "n": len(values),
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "mean_ms": mean,
        "max_ms": max(values) * 1000 if values else float("nan"),
    }


# Bounds (ms) of the turnaround histogram: a lost wake-up shows as ~1,000 ms
# (the sender's poll interval).
TURNAROUND_BUCKETS_MS = (50, 100, 250, 500, 900, 1100)
# Bounds of the open backlog for the throughput by backlog.
BACKLOG_BUCKETS = (100, 250, 500, 1000, 2000)


def histogram(values: Sequence[float], bounds: Sequence[float]) -> dict[str, int]:
    """How many values fall below each bound, between bounds, and above the last."""
    labels = [f"<{bounds[0]:g}"]
    labels += [f"{low:g}-{high:g}" for low, high in itertools.pairwise(bounds)]
    labels.append(f">={bounds[-1]:g}")
    found = dict.fromkeys(labels, 0)
    for value in values:
        index = sum(1 for bound in bounds if value >= bound)
        found[labels[index]] += 1
    return found


def throughput_by_backlog(samples: Sequence[tuple[float, int, int, int]]) -> dict[str, Any]:
    """Deliveries a second between consecutive backlog samples, by the open
    backlog at the first: how the sender's pace depends on what waits."""
    seconds: dict[str, float] = {}
    delivered: Counter[str] = Counter()
    labels = histogram([], BACKLOG_BUCKETS)
    for (t0, open0, _, enq0), (t1, open1, _, enq1) in itertools.pairwise(samples):
        if open0 == 0:
            continue
        index = sum(1 for bound in BACKLOG_BUCKETS if open0 >= bound)
        label = list(labels)[index]
        seconds[label] = seconds.get(label, 0.0) + t1 - t0
        delivered[label] += (enq1 - open1) - (enq0 - open0)
    return {
        label: {
            "seconds": round(seconds[label], 1),
            "deliveries_per_second": delivered[label] / seconds[label],
        }
        for label in labels
        if seconds.get(label, 0.0) > 0
    }


def parse_timestamp(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def relay_figures(load: Load, arrivals: dict[str, Arrival]) -> dict[str, Any]:
    """How fast customer.created reached NATS during a burst of creates."""
    reached = [arrivals[c.customer_id] for c in load.created if c.customer_id in arrivals]
    by_id = {c.customer_id: c for c in load.created}
    last = max((a.arrived for a in reached), default=float("nan"))
    seconds = last - load.started
    return {
        "events": len(load.created),
        "errors": load.errors,
        "error_samples": load.error_samples,
        "reached_nats": len(reached),
        "missing": len(load.created) - len(reached),
        "seconds_to_last_arrival": seconds,
        "events_per_second": len(reached) / seconds if seconds > 0 else float("nan"),
        "creates_per_second": len(load.created) / (load.ended - load.started),
        # Negative when the event reached NATS before the call's answer reached the client.
        "return_to_nats": distribution_ms(
            [a.arrived - by_id[a.customer_id].returned for a in reached]
        ),
        "occur_to_nats": distribution_ms([a.arrived - a.occurred for a in reached]),
    }


@dataclass
class PairRecord:
    """What the receiver saw of one (endpoint, event)."""

    key: str
    webhook_id: str
    customer_id: str
    sequence: int | None
    requests: list[list[Any]] = field(default_factory=list)


def check_order(key: str, records: Sequence[list[Any]]) -> dict[str, Any]:
    """One endpoint's requests (every event it got, the phase's or not) in
    arrival order: each must be of the lowest sequence not yet answered 2xx
    (or a repeat of one already answered), and none may arrive before the
    previous request was answered; the sequences answered must be 1, 2, …
    without a gap, one event each."""
    delivered_upto = 0
    answered_at = float("-inf")
    violations: list[str] = []
    out_of_order = overlaps = repeats = 0
    ids_of: dict[int, set[str]] = {}
    sequences_of: dict[str, set[int]] = {}
    for record in sorted(records, key=lambda r: r[2]):
        webhook_id, attempt, arrived, answered, status, sequence = record[:6]
        if sequence is not None:
            ids_of.setdefault(sequence, set()).add(webhook_id)
            sequences_of.setdefault(webhook_id, set()).add(sequence)
        if arrived < answered_at:
            overlaps += 1
            if len(violations) < VIOLATION_SAMPLES:
                violations.append(f"{key}: seq {sequence} arrived while the previous was open")
        answered_at = max(answered_at, answered)
        ok = 200 <= status < 300
        if sequence == delivered_upto + 1:
            if ok:
                delivered_upto = sequence
        elif sequence is not None and sequence <= delivered_upto:
            repeats += 1
        else:
            out_of_order += 1
            if len(violations) < VIOLATION_SAMPLES:
                violations.append(
                    f"{key}: seq {sequence} (attempt {attempt}) arrived before seq"
                    f" {delivered_upto + 1} was delivered"
                )
    conflicts = sum(len(ids) > 1 for ids in ids_of.values())
    conflicts += sum(len(found) > 1 for found in sequences_of.values())
    return {
        "events": len(sequences_of),
        "delivered_in_order_upto": delivered_upto,
        "out_of_order": out_of_order,
        "overlapping_requests": overlaps,
        "requests_for_already_delivered": repeats,
        "sequence_gaps": len(set(range(1, max(ids_of, default=0) + 1)) - set(ids_of)),
        "sequence_conflicts": conflicts,
        "samples": violations,
    }


def phase_figures(
    *,
    name: str,
    fail_rate: float,
    keys: dict[str, str],  # key -> endpoint id
    load: Load,
    received: dict[str, Any],
    deliveries: list[dict[str, Any]],
    arrivals: dict[str, Arrival],
    drained_at: float,
    drained: bool,
    cpu: dict[str, float],
    backlog: list[tuple[float, int, int, int]],
    relay_rate: float,
) -> dict[str, Any]:
    created = {c.customer_id: c for c in load.created}
    endpoints = len(keys)
    expected = len(created) * endpoints
    pairs: dict[tuple[str, str], PairRecord] = {}
    bad_signatures = 0
    foreign = 0  # requests for events this phase did not create
    foreign_samples: list[str] = []
    order: dict[str, dict[str, Any]] = {}
    max_in_flight_per_endpoint = 0
    for key in keys:
        seen = received["endpoints"].get(key, {"records": [], "max_in_flight": 0})
        max_in_flight_per_endpoint = max(max_in_flight_per_endpoint, seen["max_in_flight"])
        order[key] = check_order(key, seen["records"])
        for record in seen["records"]:
            webhook_id, sequence, customer_id, signed = (record[0], record[5], record[7], record[8])
            bad_signatures += not signed
            if customer_id not in created:
                foreign += 1
                if len(foreign_samples) < VIOLATION_SAMPLES:
                    foreign_samples.append(
                        f"{key}: {record[9]} of customer {customer_id}, seq {sequence},"
                        f" timestamp {record[6]}"
                    )
                continue
            pairs.setdefault(
                (key, customer_id), PairRecord(key, webhook_id, customer_id, sequence)
            ).requests.append(record)
    by_event = {(d["endpoint_id"], d["event_id"]): d for d in deliveries}
    latency: dict[str, list[float]] = {"all": [], "first_attempt": [], "retried": []}
    latency_from_occur: dict[str, list[float]] = {"all": [], "first_attempt": [], "retried": []}
    stages: dict[str, list[float]] = {
        "return_to_nats": [],
        "nats_to_enqueued": [],
        "enqueued_to_first_claim": [],
        "first_claim_to_first_arrival": [],
        "first_arrival_to_2xx": [],
        "turnaround_with_backlog": [],
    }
    # The sender's turnaround on an endpoint with work waiting: from the
    # receiver's 2xx to the first attempt of the endpoint's next delivery,
    # when that one was already enqueued.
    for key, endpoint_id in keys.items():
        seen_records = received["endpoints"].get(key, {"records": []})["records"]
        ordered = sorted(seen_records, key=lambda r: r[2])
        for previous, following in itertools.pairwise(ordered):
            if following[1] != 1 or not 200 <= previous[4] < 300:
                continue
            waiting = by_event.get((endpoint_id, following[0]))
            if waiting is not None and waiting["created_at"] < previous[3]:
                stages["turnaround_with_backlog"].append(following[2] - previous[3])
    attempts: Counter[int] = Counter()
    duplicates = 0
    undelivered = 0
    db_mismatches: list[str] = []
    db_attempts_disagree = 0
    first_oks: list[float] = []
    endpoint_seconds: list[float] = []  # from the first call to its last first 2xx
    for key, endpoint_id in keys.items():
        endpoint_last: float | None = None
        for customer_id, made in created.items():
            pair = pairs.get((key, customer_id))
            if pair is None:
                undelivered += 1
                continue
            requests = sorted(pair.requests, key=lambda r: r[2])
            oks = [r for r in requests if 200 <= r[4] < 300]
            if not oks:
                undelivered += 1
                continue
            duplicates += len(oks) - 1
            first_ok = oks[0]
            tries = requests.index(first_ok) + 1
            attempts[tries] += 1
            first_oks.append(first_ok[2])
            endpoint_last = max(first_ok[2], endpoint_last or first_ok[2])
            bucket = "first_attempt" if tries == 1 else "retried"
            for target, origin in (
                (latency, made.returned),
                (latency_from_occur, parse_timestamp(first_ok[6])),
            ):
                if origin is not None:
                    target["all"].append(first_ok[2] - origin)
                    target[bucket].append(first_ok[2] - origin)
            arrival = arrivals.get(customer_id)
            delivery = by_event.get((endpoint_id, pair.webhook_id))
            if arrival is not None:
                stages["return_to_nats"].append(arrival.arrived - made.returned)
            if delivery is not None:
                if arrival is not None:
                    stages["nats_to_enqueued"].append(delivery["created_at"] - arrival.arrived)
                if delivery["first_attempt_at"] is not None:
                    stages["enqueued_to_first_claim"].append(
                        delivery["first_attempt_at"] - delivery["created_at"]
                    )
                    stages["first_claim_to_first_arrival"].append(
                        requests[0][2] - delivery["first_attempt_at"]
                    )
                stages["first_arrival_to_2xx"].append(first_ok[2] - requests[0][2])
                if (
                    delivery["status"] != "succeeded"
                    or delivery["attempts"] != tries
                    or delivery["attempt_rows"] != tries
                ):
                    db_attempts_disagree += 1
                    if len(db_mismatches) < VIOLATION_SAMPLES:
                        db_mismatches.append(
                            f"{key} seq {pair.sequence}: database says {delivery['status']}"
                            f" after {delivery['attempts']} attempts"
                            f" ({delivery['attempt_rows']} attempt rows), the receiver saw {tries}"
                        )
        if endpoint_last is not None:
            endpoint_seconds.append(endpoint_last - load.started)
    db_not_succeeded = sum(1 for d in deliveries if d["status"] != "succeeded")
    delivered = len(first_oks)
    # How fast the dispatchers enqueued: the events over the time from the
    # first call to the last delivery row.
    last_enqueued = max((d["created_at"] for d in deliveries), default=float("nan"))
    dispatch_rate = len(created) / (last_enqueued - load.started) if deliveries else float("nan")
    last_ok = max(first_oks, default=float("nan"))
    seconds = last_ok - load.started
    per_second = delivered / seconds if seconds > 0 else float("nan")
    total_requests = sum(len(p.requests) for p in pairs.values())
    out_of_order = sum(o["out_of_order"] for o in order.values())
    overlaps = sum(o["overlapping_requests"] for o in order.values())
    gaps_total = sum(o["sequence_gaps"] for o in order.values())
    conflicts = sum(o["sequence_conflicts"] for o in order.values())
    checks = {
        "all_delivered": undelivered == 0 and drained,
        "no_duplicates": duplicates == 0,
        "signatures_verified": bad_signatures == 0,
        "in_sequence_order": out_of_order == 0 and gaps_total == 0 and conflicts == 0,
        "one_in_flight_per_endpoint": overlaps == 0 and max_in_flight_per_endpoint <= 1,
        "database_agrees": db_not_succeeded == 0
        and db_attempts_disagree == 0
        and len(deliveries) == expected,
        "no_foreign_events": foreign == 0,
    }
    busy_seconds = {k: v for k, v in cpu.items() if k != "machine_busy_share"}
    return {
        "name": name,
        "fail_rate": fail_rate,
        "endpoints": endpoints,
        "events": len(created),
        "create_errors": load.errors,
        "create_error_samples": load.error_samples,
        "creates_per_second": len(created) / (load.ended - load.started),
        "load_seconds": load.ended - load.started,
        "max_late_start_seconds": load.max_late_seconds,
        "drained": drained,
        "drain_seconds_after_load": drained_at - load.ended,
        "expected_deliveries": expected,
        "delivered": delivered,
        "undelivered": undelivered,
        "duplicates": duplicates,
        "requests": total_requests,
        "failed_requests": sum(
            1 for p in pairs.values() for r in p.requests if not 200 <= r[4] < 300
        ),
        "bad_signatures": bad_signatures,
        "foreign_requests": foreign,
        "seconds_to_last_delivery": seconds,
        "deliveries_per_second": per_second,
        "events_per_second_all_endpoints": per_second / endpoints if endpoints else float("nan"),
        # Each endpoint is served one delivery at a time: its own pace.
        "seconds_per_endpoint": {
            "min": min(endpoint_seconds, default=float("nan")),
            "median": statistics.median(endpoint_seconds) if endpoint_seconds else float("nan"),
            "max": max(endpoint_seconds, default=float("nan")),
        },
        "deliveries_per_second_per_endpoint_median": (
            len(created) / statistics.median(endpoint_seconds) if endpoint_seconds else float("nan")
        ),
        "ratio_to_relay": per_second / relay_rate if relay_rate > 0 else float("nan"),
        "attempts_histogram": {str(k): attempts[k] for k in sorted(attempts)},
        "attempts_per_delivery": (
            sum(k * v for k, v in attempts.items()) / delivered if delivered else float("nan")
        ),
        "latency_from_return": {k: distribution_ms(v) for k, v in latency.items()},
        "latency_from_occur_time": {k: distribution_ms(v) for k, v in latency_from_occur.items()},
        "stages": {k: distribution_ms(v) for k, v in stages.items()},
        "max_in_flight_per_endpoint": max_in_flight_per_endpoint,
        "max_in_flight_at_receiver": received.get("max_in_flight"),
        "max_open_backlog": max((b[1] for b in backlog), default=0),
        "throughput_by_open_backlog": throughput_by_backlog(backlog),
        "turnaround_histogram_ms": histogram(
            [t * 1000 for t in stages["turnaround_with_backlog"]], TURNAROUND_BUCKETS_MS
        ),
        "dispatch_events_per_second": dispatch_rate,
        "backlog": backlog,
        "order": order,
        "foreign_samples": foreign_samples,
        "database": {
            "rows": len(deliveries),
            "not_succeeded": db_not_succeeded,
            "attempts_disagree": db_attempts_disagree,
            "samples": db_mismatches,
        },
        "cpu_ms_per_delivery": {
            k: v * 1000 / delivered for k, v in busy_seconds.items() if delivered
        },
        "cpu_seconds": busy_seconds,
        "machine_busy_share": cpu.get("machine_busy_share"),
        "checks": checks,
        "passed": all(checks.values()),
    }


# ---------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------


async def relay_phase(
    workload: Workload, meter: CpuMeter, count: int, concurrency: int
) -> dict[str, Any]:
    """A burst of creates with no endpoint: the rate at which their events
    reach NATS (the outbox relay's publish rate under this load)."""
    mark = len(workload.raw_arrivals)
    before = meter.snapshot()
    load = await workload.load("relay", count, 0, concurrency)
    deadline = time.perf_counter() + 60
    while len(workload.raw_arrivals) - mark < len(load.created):
        if time.perf_counter() > deadline:
            log.warning("relay: not every event reached NATS within 60 s")
            break
        await asyncio.sleep(0.05)
    after = meter.snapshot()
    figures = relay_figures(load, workload.arrivals(mark))
    spent = CpuMeter.spent(before, after)
    figures["cpu_ms_per_event"] = {
        k: v * 1000 / max(len(load.created), 1)
        for k, v in spent.items()
        if k != "machine_busy_share"
    }
    figures["machine_busy_share"] = spent.get("machine_busy_share")
    return figures


async def webhook_phase(
    workload: Workload,
    meter: CpuMeter,
    parameters: Parameters,
    *,
    name: str,
    fail_rate: float,
    events: int,
    endpoints: int,
    rate: float,
    relay_rate: float,
) -> dict[str, Any]:
    """E new endpoints, N events, then wait until each endpoint has a 2xx
    for each event (or the drain timeout); the endpoints are deleted after."""
    catch_up = await workload.dispatcher_caught_up(parameters.drain_timeout_seconds)
    if catch_up > 1:
        log.info("%s: the dispatcher caught up with earlier events in %.1f s", name, catch_up)
    keys: dict[str, str] = {}
    for index in range(endpoints):
        key = f"{name}-{index}"
        keys[key] = await workload.create_endpoint(key, fail_rate, parameters.max_failures)
    ids = list(keys.values())
    await workload.receiver.reset_peak()
    mark = len(workload.raw_arrivals)
    backlog: list[tuple[float, int, int, int]] = []

    async def sample_backlog() -> None:
        while True:
            backlog.append((time.time(), *await workload.backlog(ids)))
            await asyncio.sleep(0.5)

    before = meter.snapshot()
    sampler = asyncio.create_task(sample_backlog())
    try:
        load = await workload.load(name, events, rate, parameters.concurrency)
        log.info(
            "%s: %d events created in %.1f s (%d errors); waiting for %d deliveries",
            name,
            len(load.created),
            load.ended - load.started,
            load.errors,
            len(load.created) * endpoints,
        )
        per_endpoint = len(load.created)
        customer_ids = [c.customer_id for c in load.created]
        began = time.perf_counter()
        deadline = began + parameters.drain_timeout_seconds
        next_note = began + 15
        drained = False
        while True:
            counts = await workload.receiver.delivered(list(keys), customer_ids)
            if all(counts.get(key, 0) >= per_endpoint for key in keys):
                drained = True
                break
            now = time.perf_counter()
            if now > deadline:
                log.warning(
                    "%s: %d of %d deliveries after the %.0f s drain timeout",
                    name,
                    sum(counts.values()),
                    per_endpoint * endpoints,
                    parameters.drain_timeout_seconds,
                )
                break
            if now > next_note:
                next_note = now + 15
                open_now = backlog[-1][1] if backlog else -1
                log.info(
                    "%s: %d of %d delivered, %d open",
                    name,
                    sum(counts.values()),
                    per_endpoint * endpoints,
                    open_now,
                )
            await asyncio.sleep(0.2)
        drained_at = time.time()
        after = meter.snapshot()
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    # Time for a duplicate to show up, were one coming.
    await asyncio.sleep(parameters.settle_seconds)
    received = await workload.receiver.records(list(keys))
    deliveries = await workload.deliveries(ids)
    arrivals = workload.arrivals(mark)
    for endpoint_id in ids:
        await workload.delete_endpoint(endpoint_id)
    figures = phase_figures(
        name=name,
        fail_rate=fail_rate,
        keys=keys,
        load=load,
        received=received,
        deliveries=deliveries,
        arrivals=arrivals,
        drained_at=drained_at,
        drained=drained,
        cpu=CpuMeter.spent(before, after),
        backlog=backlog,
        relay_rate=relay_rate,
    )
    figures["dispatcher_catch_up_seconds"] = catch_up
    return figures


async def bench(
    suite: Suite, parameters: Parameters, organization_id: str, log_dir: Path
) -> dict[str, Any]:
    receiver = ReceiverProcess(log_dir / "receiver.log")
    await receiver.start()
    workload = Workload(
        grpc_address=suite.grpc_addresses["customers"],
        nats_url=suite.nats_url,
        database_url=plain_postgres_url(suite.database_url),
        service_token=suite.options.service_token,
        organization_id=organization_id,
        receiver=receiver,
    )
    try:
        await workload.open()
        version = await workload.postgres_version()
        meter = CpuMeter(suite_processes(suite) | {"receiver": [receiver.pid]})
        relay = await relay_phase(workload, meter, parameters.relay_events, parameters.concurrency)
        log.info(
            "relay: %d events reached NATS at %.0f events/s (creates %.0f/s)",
            relay["reached_nats"],
            relay["events_per_second"],
            relay["creates_per_second"],
        )
        relay_rate = float(relay["events_per_second"])
        warmup = await webhook_phase(
            workload,
            meter,
            parameters,
            name="warmup",
            fail_rate=0.0,
            events=parameters.warmup_events,
            endpoints=2,
            rate=0,
            relay_rate=relay_rate,
        )
        if not warmup["drained"]:
            raise RuntimeError(
                "the warm-up's deliveries did not all arrive: is the sender running?"
            )
        phases = []
        for spec in parameters.phases:
            figures = await webhook_phase(
                workload,
                meter,
                parameters,
                name=spec.name,
                fail_rate=spec.fail_rate,
                events=spec.events,
                endpoints=parameters.endpoints,
                rate=spec.rate,
                relay_rate=relay_rate,
            )
            figures["rate"] = spec.rate
            log.info(
                "%s: %d/%d delivered, %.1f deliveries/s, checks %s",
                spec.name,
                figures["delivered"],
                figures["expected_deliveries"],
                figures["deliveries_per_second"],
                "passed" if figures["passed"] else "FAILED",
            )
            phases.append(figures)
    finally:
        await workload.close()
        await receiver.stop()
    return {
        "postgres_version": version,
        "relay": relay,
        "warmup": warmup,
        "phases": phases,
    }


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _ms(figures: dict[str, Any], name: str) -> str:
    value = figures.get(name, float("nan"))
    return "-" if value != value else f"{value:,.0f}"  # NaN: none


def _p50_p99(figures: dict[str, Any]) -> str:
    return f"{_ms(figures, 'p50_ms')} / {_ms(figures, 'p99_ms')}"


def render(result: dict[str, Any]) -> str:
    relay = result["relay"]
    lines = [
        f"relay (no endpoint): {relay['reached_nats']} of {relay['events']} customer.created"
        f" reached NATS in {relay['seconds_to_last_arrival']:.2f} s:"
        f" {relay['events_per_second']:,.0f} events/s"
        f" (creates {relay['creates_per_second']:,.0f}/s);"
        f" call return -> NATS p50 {relay['return_to_nats']['p50_ms']:.1f} ms,"
        f" p99 {relay['return_to_nats']['p99_ms']:.1f} ms",
        "",
        "| phase | fail | endpoints | events | delivered | deliveries/s | ÷ relay events/s"
        " | attempts/delivery | latency p50 / p99 ms | first attempt p50 / p99 | retried p50 / p99"
        " | duplicates | checks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for phase in result["phases"]:
        latency = phase["latency_from_return"]
        failed = [name for name, ok in phase["checks"].items() if not ok]
        verdict = "passed" if not failed else "FAILED: " + ", ".join(failed)

        lines.append(
            f"| {phase['name']} | {phase['fail_rate']:.0%} | {phase['endpoints']}"
            f" | {phase['events']} | {phase['delivered']}/{phase['expected_deliveries']}"
            f" | {phase['deliveries_per_second']:,.1f} | {phase['ratio_to_relay']:.3f}"
            f" | {phase['attempts_per_delivery']:.2f}"
            f" | {_p50_p99(latency['all'])} | {_p50_p99(latency['first_attempt'])}"
            f" | {_p50_p99(latency['retried'])}"
            f" | {phase['duplicates']} | {verdict} |"
        )
    lines += [
        "",
        "| phase | stage | p50 ms | p99 ms | max ms |",
        "|---|---|---:|---:|---:|",
    ]
    for phase in result["phases"]:
        for stage, figures in phase["stages"].items():
            lines.append(
                f"| {phase['name']} | {stage} | {_ms(figures, 'p50_ms')}"
                f" | {_ms(figures, 'p99_ms')} | {_ms(figures, 'max_ms')} |"
            )
    parts = sorted({part for phase in result["phases"] for part in phase["cpu_ms_per_delivery"]})
    lines += [
        "",
        "| phase | " + " | ".join(parts) + " | machine busy |",
        "|---|" + "---:|" * (len(parts) + 1),
    ]
    for phase in result["phases"]:
        cpu = phase["cpu_ms_per_delivery"]
        busy = phase["machine_busy_share"]
        lines.append(
            f"| {phase['name']} (CPU ms per delivery) | "
            + " | ".join(f"{cpu.get(part, 0.0):.2f}" for part in parts)
            + f" | {busy:.0%} |"
        )
    lines.append("")
    for phase in result["phases"]:
        by_backlog = ", ".join(
            f"{label}: {figures['deliveries_per_second']:.1f}/s ({figures['seconds']:.0f} s)"
            for label, figures in phase["throughput_by_open_backlog"].items()
        )
        turnaround = ", ".join(
            f"{label}: {count}" for label, count in phase["turnaround_histogram_ms"].items()
        )
        lines.append(
            f"{phase['name']}: dispatch {phase['dispatch_events_per_second']:.0f} events/s"
            f" ({phase['dispatch_events_per_second'] * phase['endpoints']:.0f} deliveries/s"
            f" enqueued); per endpoint: median {phase['seconds_per_endpoint']['median']:.1f} s"
            f" ({phase['deliveries_per_second_per_endpoint_median']:.1f} deliveries/s),"
            f" slowest {phase['seconds_per_endpoint']['max']:.1f} s;"
            f" max open backlog {phase['max_open_backlog']};"
            f" deliveries/s by open backlog: {by_backlog or '-'};"
            f" turnaround ms: {turnaround}"
        )
    for phase in result["phases"]:
        samples = [s for o in phase["order"].values() for s in o["samples"]]
        samples += phase["database"]["samples"]
        if samples:
            lines.append(f"\n{phase['name']}: " + "; ".join(samples[:10]))
    return "\n".join(lines)


def sender_settings() -> dict[str, Any]:
    """The customers service's webhook settings: their defaults, and any
    BILLINGOS_CUSTOMERS_WEBHOOK_* this environment sets (the suite passes its
    environment on)."""
    from billingos_customers.settings import CustomersSettings

    found: dict[str, Any] = {
        name: field.default
        for name, field in CustomersSettings.model_fields.items()
        if name.startswith("webhook_")
    }
    found["environment"] = {
        name: value
        for name, value in os.environ.items()
        if name.startswith("BILLINGOS_CUSTOMERS_WEBHOOK_")
    }
    return found


def engine_source() -> dict[str, Any]:
    """Which sender was measured: the commit, the files of the customers
    service and the kit changed since, and a digest of their source."""
    digest = hashlib.sha256()
    for root in (REPO / "services/customers/src", REPO / "kit/src"):
        for path in sorted(root.rglob("*.py")):
            digest.update(path.read_bytes())
    found: dict[str, Any] = {"source_sha256": digest.hexdigest()[:16]}
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found["commit"] = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        found["changed_since"] = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "services/customers", "kit"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    return found


def log_findings(log_file: Path) -> dict[str, Any]:
    """Warnings and errors the customers service logged during the run."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    flagged = [
        line
        for line in lines
        if any(word in line for word in ("Traceback", "ERROR", '"error"', "WARNING", '"warning"'))
    ]
    return {"lines": len(lines), "flagged": len(flagged), "samples": flagged[:20]}


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "mode", nargs="?", default="bench", choices=("bench", "receiver"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=PHASES,
        default=list(PHASES),
        help="phases to run, in this order: healthy (a burst of --events to a receiver that"
        " never fails), paced (--paced-events at --rate a second, same receiver), failing"
        " (--failing-events to a receiver failing --fail-rate of the attempts) (default: all)",
    )
    parser.add_argument(
        "--events", type=int, default=200, help="events of the healthy burst (default 200)"
    )
    parser.add_argument(
        "--paced-events", type=int, default=40, help="events of the paced phase (default 40)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=2.0,
        help="events a second in the paced phase (open loop; default 2)",
    )
    parser.add_argument(
        "--failing-events", type=int, default=60, help="events of the failing phase (default 60)"
    )
    parser.add_argument(
        "--failing-rate",
        type=float,
        default=0.0,
        help="events a second in the failing phase; 0: a burst (default 0)",
    )
    parser.add_argument(
        "--endpoints", type=int, default=8, help="endpoints per phase, each takes every event (8)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="CreateCustomer calls in flight (16)"
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.2,
        help="share of attempts the failing receiver answers 500, each attempt drawn"
        " on its own (default 0.2)",
    )
    parser.add_argument(
        "--max-failures",
        type=int,
        default=3,
        help="failures at most per delivery: the attempt after them succeeds (default 3;"
        " bounds a delivery's retries to 2.5-5 + 5-10 + 10-20 s)",
    )
    parser.add_argument(
        "--relay-events", type=int, default=1000, help="events of the relay baseline (1000)"
    )
    parser.add_argument(
        "--warmup-events", type=int, default=20, help="events of the warm-up (20, 2 endpoints)"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=240.0,
        help="seconds to wait for a phase's deliveries after its last event (240)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds to wait after the last delivery for duplicates (2)",
    )
    parser.add_argument(
        "--all-services",
        action="store_true",
        help="start the whole suite as `./billingos up` does (every service, Envoy, the Stripe"
        " stand-in) instead of Postgres, NATS and the customers service only",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON file (default bench/results/webhooks-<UTC timestamp>.json)",
    )
    arguments = parser.parse_args(argv)
    for name in (
        "events",
        "paced_events",
        "failing_events",
        "endpoints",
        "concurrency",
        "relay_events",
        "warmup_events",
    ):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= arguments.fail_rate < 1:
        parser.error("--fail-rate must be in [0, 1)")
    if arguments.max_failures < 0 or arguments.failing_rate < 0:
        parser.error("--max-failures and --failing-rate must not be negative")
    if arguments.rate <= 0:
        parser.error("--rate must be positive")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.mode == "receiver":
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(receiver_main())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("billingos_cli", "billingos_kit", "aiohttp", "nats"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    specs = {
        "healthy": PhaseSpec("healthy", 0.0, arguments.events, 0.0),
        "paced": PhaseSpec("paced", 0.0, arguments.paced_events, arguments.rate),
        "failing": PhaseSpec(
            "failing", arguments.fail_rate, arguments.failing_events, arguments.failing_rate
        ),
    }
    parameters = Parameters(
        phases=[specs[name] for name in arguments.phases],
        endpoints=arguments.endpoints,
        concurrency=arguments.concurrency,
        max_failures=arguments.max_failures,
        relay_events=arguments.relay_events,
        warmup_events=arguments.warmup_events,
        drain_timeout_seconds=arguments.drain_timeout,
        settle_seconds=arguments.settle,
    )
    started_at = dt.datetime.now(dt.UTC)
    engine = engine_source()
    began = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="billingos-bench-") as state_dir:
        options = SuiteOptions(
            state_dir=Path(state_dir),
            service_token=secrets.token_urlsafe(16),
            gateway_token=secrets.token_urlsafe(16),
            gateway_source=unlimited_gateway(),
            database_url=None,
            nats_url=None,
            # Free ports everywhere (Postgres, NATS and the services take free
            # ones already): not 8080, which a `./billingos up` or a test run
            # on this machine may want.
            http_port=free_port(),
            durable=True,
        )
        if not arguments.all_services:
            # No payments service runs to call it, so no stand-in is started.
            options.stripe_secret_key = "sk_test_bench_unused"
            options.stripe_api_base = "http://127.0.0.1:9"
        suite = Suite(options) if arguments.all_services else WebhookSuite(options)
        state_filesystem = filesystem_of(Path(state_dir))
        log.info("starting the suite in %s (%s)", state_dir, state_filesystem)
        suite.start()
        try:
            started_suite = time.perf_counter()
            log.info("suite up in %.1f s", started_suite - began)
            organization = create_organization(
                suite.grpc_addresses["customers"],
                suite.options.service_token,
                "Webhook Bench",
                development=True,
            )
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                result = runner.run(
                    bench(suite, parameters, organization.organization_id, suite.log_dir)
                )
            measured = time.perf_counter() - started_suite
            dead = suite.dead_child()
            services_started = [child.name for child in suite.children]
            findings = log_findings(suite.log_dir / "customers.log")
        finally:
            suite.stop()
    total = time.perf_counter() - began
    print(render(result))
    out = arguments.out or RESULTS_DIR / f"webhooks-{started_at:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "webhooks",
        "started_at": started_at.isoformat(),
        "machine": machine()
        | {
            "postgres_version": result["postgres_version"],
            "postgres_durable": True,
            "state_filesystem": state_filesystem,
            "event_loop": "uvloop" if loop_factory() else "asyncio",
            "services": services_started,
        },
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "engine": engine,
        "sender_settings": sender_settings(),
        "parameters": asdict(parameters),
        "seconds": {"total": total, "measuring": measured},
        "receiver": "aiohttp in a process of its own (`webhooks.py receiver`), uvloop if present",
        "latency_origin": "the CreateCustomer call's return at the client (after the commit);"
        " latency_from_occur_time: the envelope's timestamp (before the commit)",
        "dead_child": dead.name if dead else None,
        "customers_log": findings,
        **{k: v for k, v in result.items() if k != "postgres_version"},
    }
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwrote {out}; took {total:.0f} s ({measured:.0f} s measuring)")
    passed = all(phase["passed"] for phase in result["phases"])
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
