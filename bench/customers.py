"""Customer create and get, through Envoy's REST gateway and through gRPC directly,
against baselines measured in the same run: raw asyncpg (what Postgres alone does
for one create / one get) and the gRPC health Check (the RPC floor).

Starts the suite (embedded Postgres and NATS, the customers service, Envoy) in a
temporary directory, runs a warm-up round and then several measured rounds of
every scenario, interleaved so that the machine's drift hits all of them alike,
prints medians and ratios, and writes everything as JSON. Figures only: no
targets, no pass/fail.

    .venv/bin/python bench/customers.py [--requests N] [--concurrency C] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
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
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import grpc
from benchkit import filesystem_of, machine, percentiles_ms, plain_postgres_url, unlimited_gateway
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billingos.customers.v1 import customers_pb2, customers_pb2_grpc
from billingos_cli.admin import create_organization
from billingos_cli.suite import Suite, SuiteOptions
from billingos_kit.clock import SystemClock
from billingos_kit.headers import ORGANIZATION_HEADER, SERVICE_TOKEN_HEADER
from billingos_kit.ids import new_id

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CALL_TIMEOUT_SECONDS = 30.0
# Errors kept per round as samples (all of them are counted).
ERROR_SAMPLES = 3

# An operation of a scenario: (worker index, request index) -> one request.
Operation = Callable[[int, int], Awaitable[None]]

# (numerator, denominator, what the ratio says), all from the same run.
RATIOS: tuple[tuple[str, str, str], ...] = (
    ("grpc_create", "raw_insert", "service create vs Postgres alone"),
    ("grpc_get", "raw_select", "service get vs Postgres alone"),
    ("rest_create", "grpc_create", "gateway overhead on create"),
    ("rest_get", "grpc_get", "gateway overhead on get"),
    ("grpc_get", "rpc_floor", "service get vs the RPC floor"),
    ("grpc_create", "rpc_floor", "service create vs the RPC floor"),
)

# The raw baseline's scratch table: the columns and secondary indexes of
# customers.customers (no foreign key), so an insert maintains as much. It lives in
# the suite's throwaway database and is dropped when the run ends.
CREATE_SCRATCH = """
DROP TABLE IF EXISTS bench_customers_scratch;
CREATE TABLE bench_customers_scratch (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    email text NOT NULL,
    external_id text,
    name text NOT NULL,
    metadata jsonb NOT NULL,
    billing_address jsonb,
    stripe_customer_id text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE UNIQUE INDEX bench_customers_scratch_external_id
    ON bench_customers_scratch (organization_id, external_id)
    WHERE deleted_at IS NULL AND external_id IS NOT NULL;
CREATE INDEX bench_customers_scratch_email
    ON bench_customers_scratch (organization_id, lower(email));
CREATE INDEX bench_customers_scratch_organization_id
    ON bench_customers_scratch (organization_id, id);
"""
DROP_SCRATCH = "DROP TABLE IF EXISTS bench_customers_scratch"
INSERT_SCRATCH = """
INSERT INTO bench_customers_scratch (id, organization_id, email, external_id, name, metadata,
    billing_address, stripe_customer_id, created_at, updated_at, deleted_at)
VALUES ($1, $2, $3, NULL, $4, $5::jsonb, NULL, NULL, $6, $6, NULL)
"""
SELECT_SCRATCH = "SELECT * FROM bench_customers_scratch WHERE id = $1"

log = logging.getLogger("bench.customers")


@dataclass(frozen=True)
class Parameters:
    requests: int
    concurrency: int
    rounds: int
    warmup_requests: int
    min_round_seconds: float


@dataclass(frozen=True)
class RoundFigures:
    """One round of one scenario; `requests` counts the calls made, failed or not."""

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
    error_samples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Medians:
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests_per_round: float
    errors_total: int


@dataclass(frozen=True)
class Ratio:
    name: str
    meaning: str
    throughput: float  # numerator req/s / denominator req/s; < 1 is slower
    p50_latency: float  # numerator p50 / denominator p50; > 1 is slower
    p99_latency: float
    throughput_by_round: list[float]


@dataclass
class Scenario:
    name: str
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
        )


async def run_round(
    operation: Operation, *, number: int, requests: int, concurrency: int, min_seconds: float
) -> RoundFigures:
    """At least `requests` calls of `operation`, and for at least `min_seconds`, by
    `concurrency` workers pulling from one counter. The floor on time keeps the
    fast baselines' rounds long enough to mean something on a noisy machine."""
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


class Workload:
    """The clients and the ids the scenarios share."""

    def __init__(
        self,
        *,
        grpc_address: str,
        rest_url: str,
        database_url: str,
        service_token: str,
        organization_id: str,
        api_key: str,
        concurrency: int,
    ) -> None:
        self.grpc_address = grpc_address
        self.rest_url = rest_url
        self.database_url = database_url
        self.concurrency = concurrency
        self.organization_id = organization_id
        self.metadata = (
            (SERVICE_TOKEN_HEADER, service_token),
            (ORGANIZATION_HEADER, organization_id),
        )
        self.api_key = api_key
        self.clock = SystemClock()
        self.serial = itertools.count()
        # Customers made through the service (both paths; one organization).
        self.customer_ids: list[str] = []
        self.scratch_ids: list[uuid.UUID] = []
        self.connections: list[asyncpg.Connection] = []
        self.channel: grpc.aio.Channel | None = None
        self.http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.channel = grpc.aio.insecure_channel(self.grpc_address)
        self.customers = customers_pb2_grpc.CustomerServiceStub(self.channel)
        # The typeshed stub of HealthStub lists no methods.
        self.health: Any = health_pb2_grpc.HealthStub(self.channel)
        # aiohttp, not httpx: at these rates httpx's own per-request work
        # saturated the client's core (measured: ~200 req/s against ~850 from
        # h2load on the same gateway), so the gateway was never the limit.
        self.http = aiohttp.ClientSession(
            base_url=self.rest_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS),
            connector=aiohttp.TCPConnector(limit=self.concurrency),
        )
        for _ in range(self.concurrency):
            self.connections.append(await asyncpg.connect(self.database_url))
        await self.connections[0].execute(CREATE_SCRATCH)

    async def close(self) -> None:
        if self.connections:
            try:
                await self.connections[0].execute(DROP_SCRATCH)
            finally:
                for connection in self.connections:
                    await connection.close()
                self.connections.clear()
        if self.http is not None:
            await self.http.close()
        if self.channel is not None:
            await self.channel.close()

    async def postgres_version(self) -> str:
        return str(await self.connections[0].fetchval("SHOW server_version"))

    def _new_person(self) -> tuple[str, str]:
        serial = next(self.serial)
        return f"bench-{serial}@example.com", f"Bench Customer {serial}"

    # Scenarios -------------------------------------------------------------

    async def rpc_floor(self, worker: int, index: int) -> None:
        answer = await self.health.Check(
            health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_SECONDS
        )
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"health status {answer.status}")

    async def raw_insert(self, worker: int, index: int) -> None:
        email, name = self._new_person()
        row_id = new_id(self.clock)
        now = self.clock.now()
        # Outside a transaction block: the statement commits on its own.
        await self.connections[worker].execute(
            INSERT_SCRATCH,
            row_id,
            uuid.UUID(self.organization_id),
            email,
            name,
            "{}",
            now,
        )
        self.scratch_ids.append(row_id)

    async def raw_select(self, worker: int, index: int) -> None:
        row_id = self.scratch_ids[index % len(self.scratch_ids)]
        row = await self.connections[worker].fetchrow(SELECT_SCRATCH, row_id)
        if row is None:
            raise LookupError(str(row_id))

    async def grpc_create(self, worker: int, index: int) -> None:
        email, name = self._new_person()
        created = await self.customers.CreateCustomer(
            customers_pb2.CreateCustomerRequest(
                customer=customers_pb2.Customer(email=email, name=name)
            ),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        self.customer_ids.append(created.id)

    async def grpc_get(self, worker: int, index: int) -> None:
        customer_id = self.customer_ids[index % len(self.customer_ids)]
        await self.customers.GetCustomer(
            customers_pb2.GetCustomerRequest(id=customer_id),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )

    async def rest_create(self, worker: int, index: int) -> None:
        assert self.http is not None
        email, name = self._new_person()
        async with self.http.post(
            "/v1/customers", json={"email": email, "name": name}, raise_for_status=True
        ) as answer:
            created = await answer.json()
        self.customer_ids.append(str(created["id"]))

    async def rest_get(self, worker: int, index: int) -> None:
        assert self.http is not None
        customer_id = self.customer_ids[index % len(self.customer_ids)]
        async with self.http.get(f"/v1/customers/{customer_id}", raise_for_status=True) as answer:
            await answer.json()

    def scenarios(self) -> list[Scenario]:
        """In warm-up order: each get follows a create, so there are ids to get."""
        return [
            Scenario("rpc_floor", "gRPC health Check on the service (no DB)", self.rpc_floor),
            Scenario("raw_insert", "asyncpg single-row INSERT, autocommit", self.raw_insert),
            Scenario("raw_select", "asyncpg SELECT * by primary key", self.raw_select),
            Scenario("grpc_create", "CreateCustomer over gRPC", self.grpc_create),
            Scenario("grpc_get", "GetCustomer over gRPC", self.grpc_get),
            Scenario("rest_create", "POST /v1/customers via Envoy", self.rest_create),
            Scenario("rest_get", "GET /v1/customers/{id} via Envoy", self.rest_get),
        ]


async def measure(workload: Workload, parameters: Parameters) -> list[Scenario]:
    scenarios = workload.scenarios()
    for scenario in scenarios:
        warmup = await run_round(
            scenario.operation,
            number=0,
            requests=parameters.warmup_requests,
            concurrency=parameters.concurrency,
            min_seconds=parameters.min_round_seconds,
        )
        if warmup.errors:
            raise RuntimeError(
                f"{scenario.name} failed during warm-up ({warmup.errors} errors): "
                + "; ".join(warmup.error_samples)
            )
        log.info("warm-up %-12s %8.0f req/s", scenario.name, warmup.throughput_rps)
    for number in range(1, parameters.rounds + 1):
        # Rotate the order so that no scenario always runs right after the heaviest one.
        shift = (number - 1) % len(scenarios)
        for scenario in scenarios[shift:] + scenarios[:shift]:
            figures = await run_round(
                scenario.operation,
                number=number,
                requests=parameters.requests,
                concurrency=parameters.concurrency,
                min_seconds=parameters.min_round_seconds,
            )
            scenario.rounds.append(figures)
            log.info(
                "round %d/%d %-12s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms%s",
                number,
                parameters.rounds,
                scenario.name,
                figures.throughput_rps,
                figures.p50_ms,
                figures.p99_ms,
                f"  {figures.errors} errors" if figures.errors else "",
            )
    return scenarios


def ratios(scenarios: Sequence[Scenario]) -> list[Ratio]:
    by_name = {scenario.name: scenario for scenario in scenarios}
    found: list[Ratio] = []
    for numerator_name, denominator_name, meaning in RATIOS:
        numerator, denominator = by_name[numerator_name], by_name[denominator_name]
        top, bottom = numerator.medians(), denominator.medians()
        # Rounds are interleaved, so round k of both ran under the same conditions.
        per_round = [
            a.throughput_rps / b.throughput_rps
            for a, b in zip(numerator.rounds, denominator.rounds, strict=True)
        ]
        found.append(
            Ratio(
                name=f"{numerator_name} / {denominator_name}",
                meaning=meaning,
                throughput=top.throughput_rps / bottom.throughput_rps,
                p50_latency=top.p50_ms / bottom.p50_ms,
                p99_latency=top.p99_ms / bottom.p99_ms,
                throughput_by_round=per_round,
            )
        )
    return found


def render_table(scenarios: Sequence[Scenario], found: Sequence[Ratio]) -> str:
    lines = [
        f"{'scenario':<12} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        f" {'reqs/rnd':>8} {'errors':>6}   req/s by round",
    ]
    for scenario in scenarios:
        medians = scenario.medians()
        by_round = " ".join(f"{r.throughput_rps:.0f}" for r in scenario.rounds)
        lines.append(
            f"{scenario.name:<12} {medians.throughput_rps:>9.0f} {medians.p50_ms:>8.2f}"
            f" {medians.p95_ms:>8.2f} {medians.p99_ms:>8.2f}"
            f" {medians.requests_per_round:>8.0f} {medians.errors_total:>6}"
            f"   {by_round}"
        )
    lines.append("")
    lines.append(f"{'ratio':<28} {'req/s':>7} {'p50':>7} {'p99':>7}   meaning")
    for ratio in found:
        lines.append(
            f"{ratio.name:<28} {ratio.throughput:>6.2f}x {ratio.p50_latency:>6.2f}x"
            f" {ratio.p99_latency:>6.2f}x   {ratio.meaning}"
        )
    return "\n".join(lines)


async def bench(suite: Suite, parameters: Parameters) -> tuple[list[Scenario], str]:
    organization = create_organization(
        suite.grpc_addresses["customers"], suite.options.service_token, "Bench"
    )
    workload = Workload(
        grpc_address=suite.grpc_addresses["customers"],
        rest_url=suite.rest_url,
        database_url=plain_postgres_url(suite.database_url),
        service_token=suite.options.service_token,
        organization_id=organization.organization_id,
        api_key=organization.api_key,
        concurrency=parameters.concurrency,
    )
    try:
        await workload.open()
        version = await workload.postgres_version()
        scenarios = await measure(workload, parameters)
    finally:
        await workload.close()
    return scenarios, version


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=500, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent workers")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per scenario")
    parser.add_argument(
        "--min-round-seconds",
        type=float,
        default=1.0,
        help="a round also lasts at least this long (fast baselines do more requests)",
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="requests of the warm-up round (default: N)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON file to write (default: bench/results/customers-<UTC timestamp>.json)",
    )
    arguments = parser.parse_args(argv)
    for name in ("requests", "concurrency", "rounds"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if arguments.min_round_seconds < 0:
        parser.error("--min-round-seconds must not be negative")
    if arguments.warmup is not None and arguments.warmup < 1:
        parser.error("--warmup must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("billingos_cli").setLevel(logging.WARNING)
    logging.getLogger("billingos_kit").setLevel(logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    parameters = Parameters(
        requests=arguments.requests,
        concurrency=arguments.concurrency,
        rounds=arguments.rounds,
        warmup_requests=arguments.warmup or arguments.requests,
        min_round_seconds=arguments.min_round_seconds,
    )
    started_at = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="billingos-bench-") as state_dir:
        suite = Suite(
            SuiteOptions(
                state_dir=Path(state_dir),
                service_token=secrets.token_urlsafe(16),
                gateway_token=secrets.token_urlsafe(16),
                # Every client request comes from one address here: no per-address cap.
                gateway_source=unlimited_gateway(),
                database_url=None,
                nats_url=None,
                durable=True,
            )
        )
        state_filesystem = filesystem_of(Path(state_dir))
        log.info("starting the suite in %s (%s)", state_dir, state_filesystem)
        suite.start()
        try:
            started_suite = time.perf_counter()
            log.info("suite up in %.1f s; REST at %s", started_suite - began, suite.rest_url)
            scenarios, postgres_version = asyncio.run(bench(suite, parameters))
            measured = time.perf_counter() - started_suite
        finally:
            suite.stop()
    total = time.perf_counter() - began
    found = ratios(scenarios)
    print(render_table(scenarios, found))

    out = arguments.out or RESULTS_DIR / f"customers-{started_at:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "customers",
        "started_at": started_at.isoformat(),
        "machine": machine()
        | {
            "postgres_version": postgres_version,
            "postgres_durable": True,
            "state_filesystem": state_filesystem,
        },
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "parameters": asdict(parameters),
        "seconds": {"total": total, "measuring": measured},
        "scenarios": {
            scenario.name: {
                "description": scenario.description,
                "medians": asdict(scenario.medians()),
                "rounds": [asdict(figures) for figures in scenario.rounds],
            }
            for scenario in scenarios
        },
        "ratios": [asdict(ratio) for ratio in found],
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}; took {total:.0f} s ({measured:.0f} s measuring)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
