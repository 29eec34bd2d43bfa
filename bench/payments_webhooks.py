"""Stripe webhook intake of the payments service (`POST /v1/stripe/webhook`
through Envoy), against baselines measured in the same run by the same client:
the cheapest REST call into the payments service through the same gateway, and
the gRPC health Check on the payments service (the RPC floor of
bench/customers.py).

Starts the suite (embedded Postgres and NATS, the Stripe stand-in, every
service, Envoy with the per-address rate limit lifted) in a temporary
directory, or on a scratch database of `--database-url`; sends signed Stripe
events, 80 % fresh and 20 % re-sent (an event already acknowledged, signed
again), at each concurrency asked for; runs a warm-up round and then several
measured rounds of every scenario, interleaved; prints medians, per-round
ratios and the issue's targets; checks in `payments.stripe_events` that every
event was stored exactly once; writes everything as JSON.

    .venv/bin/python bench/payments_webhooks.py [--requests N] [--concurrency 32 64] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import itertools
import json
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import grpc
from benchkit import filesystem_of, machine, percentiles_ms, plain_postgres_url, unlimited_gateway
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billingos_cli.admin import create_organization
from billingos_cli.suite import STRIPE_WEBHOOK_PATH, Suite, SuiteOptions
from billingos_kit.clock import SystemClock
from billingos_payments.signatures import sign

RESULTS_FILE = Path(__file__).resolve().parent / "results" / "payments_webhooks.json"
CALL_TIMEOUT_SECONDS = 30.0
ERROR_SAMPLES = 3  # errors kept per round as samples (all of them are counted)

# The targets, on 2 cores: intake rate and acknowledgement tail.
TARGET_EVENTS_PER_SECOND = 1000.0
TARGET_P99_MS = 50.0

# Every fifth webhook re-sends an event already acknowledged: 20 % duplicates.
DUPLICATE_EVERY = 5
# The fresh events' types, in turn: three the processor ignores without a
# query, one it looks up (a PaymentIntent no organization owns) and ignores.
FRESH_TYPES = (
    "invoice.created",
    "invoice.created",
    "payment_intent.succeeded",
    "invoice.created",
)
STRIPE_API_VERSION = "2024-06-20"
# The cheapest successful REST call into the payments service found: the key
# from the service's cache, one indexed read of an empty page, no transaction.
REST_FLOOR_PATH = "/v1/payments?page_size=1"

STORED_EVENTS = """
SELECT id, type, count(*) OVER (PARTITION BY id) AS copies
FROM payments.stripe_events WHERE id LIKE $1
"""
BACKLOG = "SELECT count(*) FROM payments.stripe_events WHERE processed_at IS NULL"
OUTCOMES = """
SELECT coalesce(outcome, '(unprocessed)') AS outcome, count(*) AS events
FROM payments.stripe_events WHERE id LIKE $1 GROUP BY 1 ORDER BY 1
"""

# An operation of a scenario: (worker index, request index) -> one request.
Operation = Callable[[int, int], Awaitable[None]]

log = logging.getLogger("bench.payments_webhooks")


@dataclass(frozen=True)
class Parameters:
    requests: int
    concurrency: list[int]
    rounds: int
    warmup_requests: int
    min_round_seconds: float
    drain_timeout_seconds: float


@dataclass(frozen=True)
class RoundFigures:
    """One round of one scenario; `requests` counts the calls made, failed or not.
    For webhook rounds, the processing backlog when the round ended and how long
    it then took to empty (the next round starts on an empty backlog)."""

    round: int
    requests: int
    ok: int
    errors: int
    seconds: float
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    backlog_at_end: int | None = None
    drain_seconds: float | None = None
    # CPU time each part of the suite (and this client) spent during the round,
    # per successful request, in ms; "other" is every other process of the
    # machine. machine_busy: the share of all cores busy during the round.
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    machine_busy: float | None = None
    error_samples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Medians:
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests_per_round: float
    errors_total: int
    cpu_ms_per_request: dict[str, float]
    machine_busy: float | None


@dataclass(frozen=True)
class Ratio:
    """Medians of the per-round ratios (round k of both ran side by side)."""

    name: str
    meaning: str
    throughput: float  # numerator req/s / denominator req/s; < 1 is slower
    p50_latency: float  # numerator p50 / denominator p50; > 1 is slower
    p99_latency: float
    throughput_by_round: list[float]
    throughput_range: list[float]


@dataclass
class Scenario:
    name: str
    kind: str  # "webhook", "rest_floor" or "rpc_floor"
    concurrency: int
    description: str
    operation: Operation
    rounds: list[RoundFigures] = field(default_factory=list)

    def medians(self) -> Medians:
        return Medians(
            throughput_rps=statistics.median(r.throughput_rps for r in self.rounds),
            p50_ms=statistics.median(r.p50_ms for r in self.rounds),
            p95_ms=statistics.median(r.p95_ms for r in self.rounds),
            p99_ms=statistics.median(r.p99_ms for r in self.rounds),
            requests_per_round=statistics.median(r.requests for r in self.rounds),
            errors_total=sum(r.errors for r in self.rounds),
            cpu_ms_per_request={
                name: statistics.median(r.cpu_ms_per_request.get(name, 0.0) for r in self.rounds)
                for name in self.rounds[0].cpu_ms_per_request
            },
            machine_busy=(
                statistics.median(r.machine_busy for r in self.rounds if r.machine_busy is not None)
                if any(r.machine_busy is not None for r in self.rounds)
                else None
            ),
        )


class CpuMeter:
    """CPU time (user + system, all threads) of the suite's processes, each
    with its descendants, of this process alone, and of the whole machine,
    from /proc. Linux only; elsewhere it measures nothing."""

    def __init__(self, roots: dict[str, list[int]]) -> None:
        self.roots = roots  # part -> its root processes
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _processes(self) -> dict[int, tuple[int, int]]:
        """pid -> (parent pid, CPU ticks)."""
        found: dict[int, tuple[int, int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            # The command name, in parentheses, may hold spaces: split after it.
            fields = raw.rpartition(")")[2].split()
            found[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        return found

    def snapshot(self) -> dict[str, float]:
        """Seconds of CPU so far, by part; `machine_busy` and `machine_total`
        count every core's busy and all time."""
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
    def spent(
        before: dict[str, float], after: dict[str, float], requests: int
    ) -> tuple[dict[str, float], float | None]:
        """CPU ms per request by part (and "other"), and the machine's busy share."""
        if not before or not after or requests < 1:
            return {}, None
        parts = {
            name: after[name] - before[name]
            for name in before
            if name not in ("machine_busy", "machine_total")
        }
        busy = after["machine_busy"] - before["machine_busy"]
        total = after["machine_total"] - before["machine_total"]
        parts["other"] = max(busy - sum(parts.values()), 0.0)
        per_request = {name: value * 1000 / requests for name, value in parts.items()}
        return per_request, busy / total if total > 0 else None


async def run_round(
    operation: Operation, *, number: int, requests: int, concurrency: int, min_seconds: float
) -> RoundFigures:
    """At least `requests` calls of `operation`, and for at least `min_seconds`,
    by `concurrency` workers pulling from one counter, each with one call in
    flight: `concurrency` is the number of requests in flight."""
    latencies: list[float] = []
    error_samples: list[str] = []
    errors = 0
    issued = 0
    started = time.perf_counter()

    async def worker(index: int) -> None:
        nonlocal issued, errors
        while issued < requests or time.perf_counter() - started < min_seconds:
            request_index = issued
            issued += 1
            began = time.perf_counter()
            try:
                await operation(index, request_index)
            except Exception as error:
                errors += 1
                if len(error_samples) < ERROR_SAMPLES:
                    error_samples.append(f"{type(error).__name__}: {error}"[:300])
                continue
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker(index) for index in range(concurrency)))
    seconds = time.perf_counter() - started
    p50, p95, p99, mean = percentiles_ms(latencies)
    return RoundFigures(
        round=number,
        requests=issued,
        ok=len(latencies),
        errors=errors,
        seconds=seconds,
        throughput_rps=len(latencies) / seconds if seconds > 0 else float("nan"),
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        mean_ms=mean,
        error_samples=error_samples,
    )


@dataclass
class Ledger:
    """What the client sent and what it was told, to check against the table."""

    fresh_acked: dict[str, str] = field(default_factory=dict)  # id -> type
    fresh_failed: set[str] = field(default_factory=set)
    duplicates_acked: Counter[str] = field(default_factory=Counter)  # id -> times
    duplicates_failed: int = 0
    # Answers whose `duplicate` flag was not what the client knew it to be.
    fresh_called_duplicate: int = 0
    duplicate_called_fresh: int = 0
    body_bytes: list[int] = field(default_factory=list)


def invoice_object(serial: int, tag: str, created: int) -> dict[str, Any]:
    return {
        "id": f"in_{tag}{serial}",
        "object": "invoice",
        "customer": f"cus_{tag}{serial % 97}",
        "status": "draft",
        "currency": "eur",
        "amount_due": 1999,
        "amount_paid": 0,
        "amount_remaining": 1999,
        "subtotal": 1999,
        "total": 1999,
        "created": created,
        "livemode": False,
        "metadata": {},
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": f"il_{tag}{serial}",
                    "object": "line_item",
                    "amount": 1999,
                    "currency": "eur",
                    "description": "1 × Bench plan",
                    "quantity": 1,
                }
            ],
            "has_more": False,
            "total_count": 1,
        },
    }


def payment_intent_object(serial: int, tag: str, created: int) -> dict[str, Any]:
    """A PaymentIntent no organization of the suite made (so: ignored)."""
    return {
        "id": f"pi_{tag}{serial}",
        "object": "payment_intent",
        "amount": 1999,
        "amount_received": 1999,
        "currency": "eur",
        "customer": f"cus_{tag}{serial % 97}",
        "status": "succeeded",
        "latest_charge": f"ch_{tag}{serial}",
        "payment_method": f"pm_{tag}{serial}",
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "created": created,
        "livemode": False,
        "metadata": {},
    }


def event_body(event_id: str, event_type: str, data_object: dict[str, Any], created: int) -> bytes:
    """A Stripe event as Stripe sends it (compact JSON, as the signature covers)."""
    event = {
        "id": event_id,
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": data_object},
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


class Workload:
    """The clients, the events sent and the ledger the scenarios share."""

    def __init__(
        self,
        *,
        rest_url: str,
        grpc_address: str,
        database_url: str,
        webhook_secret: str,
        api_key: str,
        connections: int,
    ) -> None:
        self.rest_url = rest_url
        self.grpc_address = grpc_address
        self.database_url = database_url
        self.webhook_secret = webhook_secret
        self.api_key = api_key
        self.connections = connections
        self.clock = SystemClock()
        # Every event id of this run starts with it, so the check reads only ours.
        self.tag = "bench" + secrets.token_hex(4)
        self.id_prefix = f"evt_{self.tag}_"
        self.serial = itertools.count()
        self.duplicate_serial = itertools.count()
        self.ledger = Ledger()
        self.bodies: dict[str, bytes] = {}  # acknowledged fresh events, to re-send
        self.acked_ids: list[str] = []
        self.database: asyncpg.Connection | None = None
        self.channel: grpc.aio.Channel | None = None
        self.anonymous: aiohttp.ClientSession | None = None
        self.keyed: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.channel = grpc.aio.insecure_channel(self.grpc_address)
        # The typeshed stub of HealthStub lists no methods.
        self.health: Any = health_pb2_grpc.HealthStub(self.channel)
        timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS)
        # Stripe presents no API key: the webhook route is anonymous.
        self.anonymous = aiohttp.ClientSession(
            base_url=self.rest_url,
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit=self.connections),
        )
        self.keyed = aiohttp.ClientSession(
            base_url=self.rest_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit=self.connections),
        )
        self.database = await asyncpg.connect(self.database_url)

    async def close(self) -> None:
        for session in (self.anonymous, self.keyed):
            if session is not None:
                await session.close()
        if self.channel is not None:
            await self.channel.close()
        if self.database is not None:
            await self.database.close()

    async def backend_pids(self) -> list[int]:
        """The server processes serving this database (other than ours)."""
        assert self.database is not None
        rows = await self.database.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [int(row["pid"]) for row in rows]

    async def postgres_version(self) -> str:
        assert self.database is not None
        return str(await self.database.fetchval("SHOW server_version"))

    # Scenarios -------------------------------------------------------------

    async def rpc_floor(self, worker: int, index: int) -> None:
        answer = await self.health.Check(
            health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_SECONDS
        )
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"health status {answer.status}")

    async def rest_floor(self, worker: int, index: int) -> None:
        assert self.keyed is not None
        async with self.keyed.get(REST_FLOOR_PATH) as answer:
            if answer.status != 200:
                raise RuntimeError(f"HTTP {answer.status}: {(await answer.text())[:200]}")
            await answer.json()

    def _fresh(self) -> tuple[str, str, bytes]:
        serial = next(self.serial)
        event_type = FRESH_TYPES[serial % len(FRESH_TYPES)]
        created = int(self.clock.now().timestamp())
        if event_type.startswith("payment_intent."):
            data_object = payment_intent_object(serial, self.tag, created)
        else:
            data_object = invoice_object(serial, self.tag, created)
        event_id = f"{self.id_prefix}{serial:08d}"
        return event_id, event_type, event_body(event_id, event_type, data_object, created)

    def _duplicate(self) -> tuple[str, bytes]:
        """An acknowledged event, old or recent (a multiplicative hash spreads
        the picks over everything sent so far), as it was first sent."""
        pick = (next(self.duplicate_serial) * 2654435761) % len(self.acked_ids)
        event_id = self.acked_ids[pick]
        return event_id, self.bodies[event_id]

    async def webhook(self, worker: int, index: int) -> None:
        assert self.anonymous is not None
        duplicate = index % DUPLICATE_EVERY == DUPLICATE_EVERY - 1 and bool(self.acked_ids)
        if duplicate:
            event_id, body = self._duplicate()
            event_type = ""
        else:
            event_id, event_type, body = self._fresh()
            self.ledger.body_bytes.append(len(body))
        headers = {
            "Content-Type": "application/json",
            # Signed now, by the real clock: a re-sent event is signed afresh too.
            "Stripe-Signature": sign(body, self.webhook_secret, self.clock.now()),
        }
        try:
            async with self.anonymous.post(
                STRIPE_WEBHOOK_PATH, data=body, headers=headers
            ) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"HTTP {answer.status}: {(await answer.text())[:200]}")
                reply = await answer.json()
        except BaseException:
            if duplicate:
                self.ledger.duplicates_failed += 1
            else:
                self.ledger.fresh_failed.add(event_id)
            raise
        if reply.get("event_id") != event_id:
            raise RuntimeError(f"acknowledged {reply.get('event_id')!r}, not {event_id!r}")
        said_duplicate = bool(reply.get("duplicate"))
        if duplicate:
            self.ledger.duplicates_acked[event_id] += 1
            self.ledger.duplicate_called_fresh += not said_duplicate
        else:
            self.ledger.fresh_acked[event_id] = event_type
            self.ledger.fresh_called_duplicate += said_duplicate
            self.bodies[event_id] = body
            self.acked_ids.append(event_id)

    def scenarios(self, concurrencies: Sequence[int]) -> list[Scenario]:
        found: list[Scenario] = []
        for concurrency in concurrencies:
            found += [
                Scenario(
                    f"rpc_floor_c{concurrency}",
                    "rpc_floor",
                    concurrency,
                    "gRPC health Check on payments, direct (no Envoy, no DB)",
                    self.rpc_floor,
                ),
                Scenario(
                    f"rest_floor_c{concurrency}",
                    "rest_floor",
                    concurrency,
                    f"GET {REST_FLOOR_PATH} via Envoy (API key, one read, no transaction)",
                    self.rest_floor,
                ),
                Scenario(
                    f"webhook_c{concurrency}",
                    "webhook",
                    concurrency,
                    "POST /v1/stripe/webhook via Envoy, signed, 20 % duplicates",
                    self.webhook,
                ),
            ]
        return found

    # The processing backlog ------------------------------------------------

    async def backlog(self) -> int:
        assert self.database is not None
        return int(await self.database.fetchval(BACKLOG))

    async def drain(self, limit_seconds: float) -> tuple[int, float]:
        """The backlog now, and how long it took to empty (processing runs in
        the service as events arrive; the next round should not pay for it)."""
        at_end = await self.backlog()
        began = time.perf_counter()
        left = at_end
        while left and time.perf_counter() - began < limit_seconds:
            await asyncio.sleep(0.1)
            left = await self.backlog()
        if left:
            log.warning("%d events still unprocessed after %.0f s", left, limit_seconds)
        return at_end, time.perf_counter() - began

    # The check -------------------------------------------------------------

    async def check(self) -> dict[str, Any]:
        """Every event acknowledged is stored, once; duplicates added no row;
        nothing is stored that was not sent; the answers said which was which."""
        assert self.database is not None
        rows = await self.database.fetch(STORED_EVENTS, self.id_prefix + "%")
        stored_types = {str(row["id"]): str(row["type"]) for row in rows}
        stored_twice = sorted({str(row["id"]) for row in rows if row["copies"] > 1})
        ledger = self.ledger
        acked = set(ledger.fresh_acked)
        missing = sorted(acked - set(stored_types))
        unknown = sorted(set(stored_types) - acked - ledger.fresh_failed)
        wrong_type = sorted(
            event_id
            for event_id, event_type in ledger.fresh_acked.items()
            if event_id in stored_types and stored_types[event_id] != event_type
        )
        duplicates_missing = sorted(set(ledger.duplicates_acked) - set(stored_types))
        sent_types = Counter(ledger.fresh_acked.values())
        outcomes = {
            str(row["outcome"]): int(row["events"])
            for row in await self.database.fetch(OUTCOMES, self.id_prefix + "%")
        }
        passed = not (
            stored_twice
            or missing
            or unknown
            or wrong_type
            or duplicates_missing
            or ledger.fresh_called_duplicate
            or ledger.duplicate_called_fresh
        )
        return {
            "passed": passed,
            "fresh_acknowledged": len(acked),
            "fresh_failed": len(ledger.fresh_failed),
            "fresh_failed_but_stored": len(ledger.fresh_failed & set(stored_types)),
            "duplicates_acknowledged": sum(ledger.duplicates_acked.values()),
            "duplicates_failed": ledger.duplicates_failed,
            "distinct_ids_duplicated": len(ledger.duplicates_acked),
            "rows": len(rows),
            "distinct_ids_stored": len(stored_types),
            "ids_stored_more_than_once": len(stored_twice),
            "acknowledged_but_missing": len(missing),
            "stored_but_never_acknowledged_or_tried": len(unknown),
            "stored_with_another_type": len(wrong_type),
            "duplicated_ids_missing": len(duplicates_missing),
            "fresh_answered_duplicate": ledger.fresh_called_duplicate,
            "duplicate_answered_fresh": ledger.duplicate_called_fresh,
            "acknowledged_by_type": dict(sorted(sent_types.items())),
            "processing_outcomes": outcomes,
            "samples": {
                "stored_more_than_once": stored_twice[:5],
                "missing": missing[:5],
                "unknown": unknown[:5],
                "wrong_type": wrong_type[:5],
            },
        }


async def measure(
    workload: Workload, parameters: Parameters, meter: CpuMeter, *, local_server: bool
) -> list[Scenario]:
    """`local_server`: a Postgres the suite did not start but on this machine,
    whose backends for the suite's database are then measured as "postgres"."""
    scenarios = workload.scenarios(parameters.concurrency)

    async def one_round(scenario: Scenario, number: int, requests: int) -> RoundFigures:
        if local_server:
            meter.roots["postgres"] = await workload.backend_pids()
        before = meter.snapshot()
        figures = await run_round(
            scenario.operation,
            number=number,
            requests=requests,
            concurrency=scenario.concurrency,
            min_seconds=parameters.min_round_seconds,
        )
        cpu, busy = CpuMeter.spent(before, meter.snapshot(), figures.ok)
        figures = dataclasses.replace(figures, cpu_ms_per_request=cpu, machine_busy=busy)
        if scenario.kind == "webhook":
            backlog, drained = await workload.drain(parameters.drain_timeout_seconds)
            figures = dataclasses.replace(figures, backlog_at_end=backlog, drain_seconds=drained)
        return figures

    for scenario in scenarios:
        warmup = await one_round(scenario, 0, parameters.warmup_requests)
        if warmup.errors:
            raise RuntimeError(
                f"{scenario.name} failed during warm-up ({warmup.errors} errors): "
                + "; ".join(warmup.error_samples)
            )
        log.info("warm-up %-16s %8.0f req/s", scenario.name, warmup.throughput_rps)
    for number in range(1, parameters.rounds + 1):
        # Rotate the order so that no scenario always runs right after the same one.
        shift = (number - 1) % len(scenarios)
        for scenario in scenarios[shift:] + scenarios[:shift]:
            figures = await one_round(scenario, number, parameters.requests)
            scenario.rounds.append(figures)
            backlog = (
                f"  backlog {figures.backlog_at_end} (drained in {figures.drain_seconds:.1f} s)"
                if figures.drain_seconds is not None
                else ""
            )
            log.info(
                "round %d/%d %-16s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms%s%s",
                number,
                parameters.rounds,
                scenario.name,
                figures.throughput_rps,
                figures.p50_ms,
                figures.p99_ms,
                f"  {figures.errors} errors" if figures.errors else "",
                backlog,
            )
    return scenarios


def ratios(scenarios: Sequence[Scenario]) -> list[Ratio]:
    by_name = {scenario.name: scenario for scenario in scenarios}
    found: list[Ratio] = []
    for scenario in scenarios:
        if scenario.kind != "webhook":
            continue
        for floor_kind, meaning in (
            ("rest_floor", "webhook intake vs the cheapest REST call, same gateway and service"),
            ("rpc_floor", "webhook intake vs the RPC floor (health Check, no gateway)"),
        ):
            floor = by_name[f"{floor_kind}_c{scenario.concurrency}"]
            pairs = list(zip(scenario.rounds, floor.rounds, strict=True))
            per_round = [a.throughput_rps / b.throughput_rps for a, b in pairs]
            found.append(
                Ratio(
                    name=f"{scenario.name} / {floor.name}",
                    meaning=meaning,
                    throughput=statistics.median(per_round),
                    p50_latency=statistics.median(a.p50_ms / b.p50_ms for a, b in pairs),
                    p99_latency=statistics.median(a.p99_ms / b.p99_ms for a, b in pairs),
                    throughput_by_round=per_round,
                    throughput_range=[min(per_round), max(per_round)],
                )
            )
    return found


def targets(scenarios: Sequence[Scenario]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for scenario in scenarios:
        if scenario.kind != "webhook":
            continue
        medians = scenario.medians()
        spent = medians.cpu_ms_per_request
        client_ms = spent.get("bench client", 0.0)
        suite_ms = sum(ms for name, ms in spent.items() if name not in ("bench client", "other"))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        found.append(
            {
                "scenario": scenario.name,
                "concurrency": scenario.concurrency,
                "events_per_second": medians.throughput_rps,
                "events_per_second_target": TARGET_EVENTS_PER_SECOND,
                "events_per_second_met": medians.throughput_rps >= TARGET_EVENTS_PER_SECOND,
                "p99_ms": medians.p99_ms,
                "p99_ms_target": TARGET_P99_MS,
                "p99_met": medians.p99_ms <= TARGET_P99_MS,
                "rounds_meeting_both": sum(
                    r.throughput_rps >= TARGET_EVENTS_PER_SECOND and r.p99_ms <= TARGET_P99_MS
                    for r in scenario.rounds
                ),
                "rounds": len(scenario.rounds),
                # What the CPU cost of one event allows on this machine's cores
                # were nothing else running: an estimate, not a measurement.
                "cores": cores,
                "cpu_ms_per_event_suite": suite_ms,
                "cpu_ms_per_event_client": client_ms,
                "cpu_ms_per_event_budget": (cores or 0) * 1000 / TARGET_EVENTS_PER_SECOND,
                "ceiling_events_per_second_with_client": (
                    (cores or 0) * 1000 / (suite_ms + client_ms) if suite_ms + client_ms else None
                ),
                "ceiling_events_per_second_suite_alone": (
                    (cores or 0) * 1000 / suite_ms if suite_ms else None
                ),
            }
        )
    return found


def yes(met: bool) -> str:
    return "met" if met else "NOT met"


def render_table(
    scenarios: Sequence[Scenario],
    found: Sequence[Ratio],
    goals: Sequence[dict[str, Any]],
    check: dict[str, Any],
) -> str:
    lines = [
        f"{'scenario':<16} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        f" {'reqs/rnd':>8} {'errors':>6}   req/s by round",
    ]
    for scenario in scenarios:
        medians = scenario.medians()
        by_round = " ".join(f"{r.throughput_rps:.0f}" for r in scenario.rounds)
        lines.append(
            f"{scenario.name:<16} {medians.throughput_rps:>8.0f} {medians.p50_ms:>8.2f}"
            f" {medians.p95_ms:>8.2f} {medians.p99_ms:>8.2f}"
            f" {medians.requests_per_round:>8.0f} {medians.errors_total:>6}   {by_round}"
        )
    lines += ["", "CPU ms per request (medians; parts under 0.02 ms left out), machine busy:"]
    for scenario in scenarios:
        medians = scenario.medians()
        spent = sorted(medians.cpu_ms_per_request.items(), key=lambda item: -item[1])
        parts = "  ".join(f"{name} {ms:.2f}" for name, ms in spent if ms >= 0.02)
        busy = f"{medians.machine_busy:.0%}" if medians.machine_busy is not None else "?"
        lines.append(f"{scenario.name:<16} {parts}  | busy {busy}")
    lines += ["", f"{'ratio (median of per-round)':<36} {'req/s':>6} {'p50':>7} {'p99':>7}   range"]
    for ratio in found:
        low, high = ratio.throughput_range
        lines.append(
            f"{ratio.name:<36} {ratio.throughput:>6.2f} {ratio.p50_latency:>6.2f}x"
            f" {ratio.p99_latency:>6.2f}x   {low:.2f}-{high:.2f}"
        )
    lines.append("")
    for goal in goals:
        lines.append(
            f"target {goal['scenario']}: {goal['events_per_second']:.0f} events/s"
            f" (>= {TARGET_EVENTS_PER_SECOND:.0f}: {yes(goal['events_per_second_met'])}),"
            f" p99 {goal['p99_ms']:.1f} ms (<= {TARGET_P99_MS:.0f}: {yes(goal['p99_met'])});"
            f" rounds meeting both: {goal['rounds_meeting_both']}/{goal['rounds']}"
        )
        if goal["ceiling_events_per_second_suite_alone"]:
            lines.append(
                f"  CPU per event: suite {goal['cpu_ms_per_event_suite']:.2f} ms"
                f" + client {goal['cpu_ms_per_event_client']:.2f} ms"
                f" (budget for the target on {goal['cores']} cores:"
                f" {goal['cpu_ms_per_event_budget']:.2f} ms); ceiling with the machine to itself:"
                f" {goal['ceiling_events_per_second_with_client']:.0f} events/s,"
                f" {goal['ceiling_events_per_second_suite_alone']:.0f} without the client"
            )
    backlogs = [
        (r.backlog_at_end, r.drain_seconds)
        for s in scenarios
        if s.kind == "webhook"
        for r in s.rounds
    ]
    if backlogs:
        worst = max(backlogs, key=lambda pair: pair[0] or 0)
        lines.append(
            f"processing: largest backlog at a round's end {worst[0]} events,"
            f" emptied in {worst[1] or 0:.1f} s; outcomes {check['processing_outcomes']}"
        )
    lines += [
        "",
        f"stored once: {'PASS' if check['passed'] else 'FAIL'}:"
        f" {check['fresh_acknowledged']} fresh events acknowledged,"
        f" {check['duplicates_acknowledged']} duplicates acknowledged"
        f" (of {check['distinct_ids_duplicated']} ids);"
        f" {check['rows']} rows, {check['distinct_ids_stored']} distinct ids,"
        f" {check['ids_stored_more_than_once']} stored twice,"
        f" {check['acknowledged_but_missing']} missing,"
        f" {check['stored_but_never_acknowledged_or_tried']} unknown;"
        f" answers with a wrong duplicate flag:"
        f" {check['fresh_answered_duplicate'] + check['duplicate_answered_fresh']}",
    ]
    return "\n".join(lines)


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


async def create_scratch_database(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(plain_postgres_url(server_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_scratch_database(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(plain_postgres_url(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def suite_processes(suite: Suite) -> dict[str, list[int]]:
    """The root processes of every part of the suite, by name. A Postgres the
    suite did not start is measured by its backends (Workload.backend_pids)."""
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


async def bench(
    suite: Suite, parameters: Parameters
) -> tuple[list[Scenario], dict[str, Any], str, list[int]]:
    organization = create_organization(
        suite.grpc_addresses["customers"], suite.options.service_token, "Bench"
    )
    workload = Workload(
        rest_url=suite.rest_url,
        grpc_address=suite.grpc_addresses["payments"],
        database_url=plain_postgres_url(suite.database_url),
        webhook_secret=suite.stripe_webhook_secret,
        api_key=organization.api_key,
        connections=max(parameters.concurrency),
    )
    try:
        await workload.open()
        version = await workload.postgres_version()
        meter = CpuMeter(suite_processes(suite))
        host = urllib.parse.urlsplit(workload.database_url).hostname or ""
        local_server = suite.postgres is None and host in ("127.0.0.1", "::1", "localhost")
        scenarios = await measure(workload, parameters, meter, local_server=local_server)
        check = await workload.check()
    finally:
        await workload.close()
    return scenarios, check, version, workload.ledger.body_bytes


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[32, 64],
        help="requests in flight; every scenario runs at each (default: 32 64)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per scenario")
    parser.add_argument(
        "--min-round-seconds",
        type=float,
        default=2.0,
        help="a round also lasts at least this long (fast baselines do more requests)",
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="requests of the warm-up round (default: N)"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="seconds to wait after a webhook round for the processing backlog to empty",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a Postgres server (postgresql://user@host:port/db) on which to create, use and"
        " drop a scratch database; default: the suite's embedded Postgres, fsync on",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_FILE,
        help=f"JSON file to write (default: {RESULTS_FILE})",
    )
    arguments = parser.parse_args(argv)
    for name in ("requests", "rounds"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if min(arguments.concurrency) < 1:
        parser.error("--concurrency must be at least 1")
    if arguments.min_round_seconds < 0 or arguments.drain_timeout < 0:
        parser.error("--min-round-seconds and --drain-timeout must not be negative")
    if arguments.warmup is not None and arguments.warmup < 1:
        parser.error("--warmup must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("billingos_cli", "billingos_kit", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parameters = Parameters(
        requests=arguments.requests,
        concurrency=sorted(set(arguments.concurrency)),
        rounds=arguments.rounds,
        warmup_requests=arguments.warmup or arguments.requests,
        min_round_seconds=arguments.min_round_seconds,
        drain_timeout_seconds=arguments.drain_timeout,
    )
    started_at = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    load_before = os.getloadavg()
    scratch = f"bench_payments_webhooks_{secrets.token_hex(4)}"
    database_url: str | None = None
    if arguments.database_url:
        asyncio.run(create_scratch_database(arguments.database_url, scratch))
        database_url = with_database(plain_postgres_url(arguments.database_url), scratch)
        log.info("scratch database %s", scratch)
    try:
        with tempfile.TemporaryDirectory(prefix="billingos-bench-") as state_dir:
            suite = Suite(
                SuiteOptions(
                    state_dir=Path(state_dir),
                    service_token=secrets.token_urlsafe(16),
                    gateway_token=secrets.token_urlsafe(16),
                    # Every client request comes from one address here: no per-address cap.
                    gateway_source=unlimited_gateway(),
                    database_url=database_url,
                    nats_url=None,
                    durable=True,
                    # No Stripe key: the suite starts its stand-in, whose webhook
                    # signing secret it gives payments (suite.stripe_webhook_secret).
                )
            )
            state_filesystem = filesystem_of(Path(state_dir)) if database_url is None else "?"
            log.info("starting the suite in %s (%s)", state_dir, state_filesystem)
            suite.start()
            try:
                started_suite = time.perf_counter()
                log.info("suite up in %.1f s; REST at %s", started_suite - began, suite.rest_url)
                scenarios, check, postgres_version, body_bytes = asyncio.run(
                    bench(suite, parameters)
                )
                measured = time.perf_counter() - started_suite
            finally:
                suite.stop()
    finally:
        if arguments.database_url:
            asyncio.run(drop_scratch_database(arguments.database_url, scratch))
    total = time.perf_counter() - began
    found = ratios(scenarios)
    goals = targets(scenarios)
    print(render_table(scenarios, found, goals, check))

    out: Path = arguments.out
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "payments_webhooks",
        "started_at": started_at.isoformat(),
        "machine": machine()
        | {
            "postgres_version": postgres_version,
            "postgres": "embedded" if database_url is None else "scratch database on a server",
            "postgres_durable": True if database_url is None else None,
            "state_filesystem": state_filesystem,
        },
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "parameters": asdict(parameters)
        | {
            "duplicate_share": 1 / DUPLICATE_EVERY,
            "fresh_types": list(FRESH_TYPES),
            "rest_floor": f"GET {REST_FLOOR_PATH}",
            "event_body_bytes_median": statistics.median(body_bytes) if body_bytes else None,
        },
        "seconds": {"total": total, "measuring": measured},
        "scenarios": {
            scenario.name: {
                "description": scenario.description,
                "concurrency": scenario.concurrency,
                "medians": asdict(scenario.medians()),
                "rounds": [asdict(figures) for figures in scenario.rounds],
            }
            for scenario in scenarios
        },
        "ratios": [asdict(ratio) for ratio in found],
        "targets": goals,
        "stored_once_check": check,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}; took {total:.0f} s ({measured:.0f} s measuring)")
    return 0 if check["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
