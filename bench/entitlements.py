"""The entitlement check: through Envoy's REST gateway at a fixed rate, over
gRPC at the highest rate a closed loop reaches (and per CPU-second of the
entitlements process), and how long a usage event takes to show in a
check's balance — against baselines measured in the same run: the gRPC
health Check of the entitlements service (the RPC floor) and a reply Envoy
makes itself at the same fixed rate (the gateway floor).

Starts the whole suite (embedded Postgres and NATS, every service, Envoy) in
a temporary directory. The set-up goes through the services' own APIs: a
meter, a feature-flag and a meter-credits benefit, a product listing both,
customers; each customer's subscription state is published onto JetStream
as the billing engine's relay would (so no card is charged), and metering
credits each customer. Figures only: no targets, no pass/fail.

    .venv/bin/python bench/entitlements.py [--rate 1000] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
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
import grpc
import native_load
from benchkit import machine, percentiles_ms, unlimited_gateway
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billingos.catalog.v1 import products_pb2, products_pb2_grpc
from billingos.customers.v1 import customers_pb2, customers_pb2_grpc
from billingos.entitlements.v1 import (
    benefits_pb2,
    benefits_pb2_grpc,
    entitlements_pb2,
    entitlements_pb2_grpc,
)
from billingos.metering.v1 import (
    customer_meters_pb2,
    customer_meters_pb2_grpc,
    meters_pb2,
    meters_pb2_grpc,
    usage_events_pb2,
    usage_events_pb2_grpc,
)
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_cli.admin import create_organization
from billingos_cli.suite import Suite, SuiteOptions
from billingos_kit.clock import SystemClock
from billingos_kit.headers import ORGANIZATION_HEADER, SERVICE_TOKEN_HEADER
from billingos_kit.ids import new_id
from billingos_kit.protoconv import timestamp
from billingos_kit.testing.events import publish_event

log = logging.getLogger("bench.entitlements")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TIMEOUT = 30.0
FLAG = "api"
CREDITS = "api_calls"
USAGE_EVENT = "api_call"
# wrk's connections: enough that one is free whenever a request falls due.
NATIVE_CONNECTIONS = 4


@dataclass
class Figures:
    """One round of one scenario."""

    requests: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_seconds: float = 0.0  # the entitlements process's, during the round
    error_samples: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    description: str
    rounds: list[Figures] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return float(statistics.median(float(getattr(r, attribute)) for r in self.rounds))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / float(os.sysconf("SC_CLK_TCK"))


def _figures(latencies: list[float], errors: list[str], seconds: float, cpu: float) -> Figures:
    p50, _, p99, _ = percentiles_ms(latencies)
    return Figures(
        requests=len(latencies) + len(errors),
        errors=len(errors),
        seconds=seconds,
        per_second=(len(latencies) + len(errors)) / seconds,
        p50_ms=p50,
        p99_ms=p99,
        max_ms=max(latencies) * 1000 if latencies else float("nan"),
        cpu_seconds=cpu,
        error_samples=errors[:3],
    )


class Workload:
    def __init__(self, suite: Suite, concurrency: int) -> None:
        self.suite = suite
        self.concurrency = concurrency
        organization = create_organization(
            suite.grpc_addresses["customers"], suite.options.service_token, "Bench"
        )
        self.organization_id = organization.organization_id
        self.api_key = organization.api_key
        self.metadata = (
            (SERVICE_TOKEN_HEADER, suite.options.service_token),
            (ORGANIZATION_HEADER, organization.organization_id),
        )
        self.pid = next(c.process.pid for c in suite.children if c.name == "entitlements")
        self.customers: list[str] = []
        self.meter_id = ""

    def channel(self, service: str) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.suite.grpc_addresses[service])

    async def prepare(self, customers: int) -> None:
        """A meter, two benefits, a product listing them, customers granted
        both (their subscriptions' states published as the engine's relay
        would) and credited; returns once every check answers allowed."""
        async with (
            self.channel("metering") as metering,
            self.channel("entitlements") as entitlements,
            self.channel("catalog") as catalog,
            self.channel("customers") as people,
        ):
            meter = await meters_pb2_grpc.MeterServiceStub(metering).CreateMeter(
                meters_pb2.CreateMeterRequest(
                    meter=meters_pb2.Meter(
                        name="API calls",
                        filter=meters_pb2.MeterFilter(
                            clauses=[
                                meters_pb2.FilterClause(
                                    condition=meters_pb2.FilterCondition(
                                        property="name",
                                        operator=meters_pb2.FILTER_OPERATOR_EQ,
                                        string_value=USAGE_EVENT,
                                    )
                                )
                            ]
                        ),
                        aggregation=meters_pb2.MeterAggregation(
                            function=meters_pb2.AGGREGATION_FUNCTION_COUNT
                        ),
                    )
                ),
                metadata=self.metadata,
            )
            self.meter_id = meter.id
            benefits = benefits_pb2_grpc.BenefitServiceStub(entitlements)
            flag = await benefits.CreateBenefit(
                benefits_pb2.CreateBenefitRequest(
                    benefit=benefits_pb2.Benefit(
                        type=benefits_pb2.BENEFIT_TYPE_FEATURE_FLAG,
                        key=FLAG,
                        description="API access",
                        feature_flag=benefits_pb2.FeatureFlagProperties(),
                    )
                ),
                metadata=self.metadata,
            )
            credits = await benefits.CreateBenefit(
                benefits_pb2.CreateBenefitRequest(
                    benefit=benefits_pb2.Benefit(
                        type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
                        key=CREDITS,
                        description="API calls",
                        meter_credits=benefits_pb2.MeterCreditsProperties(
                            meter_id=meter.id, units="1000000"
                        ),
                    )
                ),
                metadata=self.metadata,
            )
            products = products_pb2_grpc.ProductServiceStub(catalog)
            product = await products.CreateProduct(
                products_pb2.CreateProductRequest(
                    product=products_pb2.Product(
                        name="Pro",
                        recurring=products_pb2.Period(interval=products_pb2.INTERVAL_MONTH),
                        prices=[
                            products_pb2.Price(
                                currency="USD", fixed=products_pb2.FixedAmount(amount_minor=2000)
                            )
                        ],
                    )
                ),
                metadata=self.metadata,
            )
            for benefit in (flag, credits):
                await _attach_when_known(products, product.id, benefit.id, self.metadata)
            directory = customers_pb2_grpc.CustomerServiceStub(people)
            credit = customer_meters_pb2_grpc.CustomerMeterAdminServiceStub(metering)
            for index in range(customers):
                customer = await directory.CreateCustomer(
                    customers_pb2.CreateCustomerRequest(
                        customer=customers_pb2.Customer(email=f"bench-{index}@example.com")
                    ),
                    metadata=self.metadata,
                )
                self.customers.append(customer.id)
                await self._subscribed(customer.id, product.id, product.prices[0].id)
                await credit.CreditCustomerMeter(
                    customer_meters_pb2.CreditCustomerMeterRequest(
                        customer_id=customer.id,
                        meter_id=meter.id,
                        units="1000000",
                        mode=customer_meters_pb2.CREDIT_MODE_ADD,
                    ),
                    metadata=self.metadata,
                )
            checks = entitlements_pb2_grpc.EntitlementServiceStub(entitlements)
            deadline = time.monotonic() + 120
            for customer_id in self.customers:
                while True:
                    try:
                        found = await checks.BatchCheckEntitlements(
                            entitlements_pb2.BatchCheckEntitlementsRequest(
                                customer_id=customer_id, features=[FLAG, CREDITS]
                            ),
                            metadata=self.metadata,
                        )
                        if all(e.allowed for e in found.entitlements):
                            break
                    except grpc.aio.AioRpcError as error:
                        if error.code() is not grpc.StatusCode.NOT_FOUND:
                            raise
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"customer {customer_id} never became entitled")
                    await asyncio.sleep(0.05)

    async def _subscribed(self, customer_id: str, product_id: str, price_id: str) -> None:
        now = SystemClock().now()
        state = subscriptions_pb2.Subscription(
            id=str(new_id(SystemClock())),
            organization_id=self.organization_id,
            customer_id=customer_id,
            product_id=product_id,
            price_id=price_id,
            currency="USD",
            status=subscriptions_pb2.SUBSCRIPTION_STATUS_ACTIVE,
            current_period_start=timestamp(now),
            current_period_end=timestamp(now + dt.timedelta(days=31)),
            update_time=timestamp(now),
        )
        await publish_event(
            self.suite.nats_url,
            subscription_events.SubscriptionActivatedEvent(subscription=state),
            self.organization_id,
            event_id=str(new_id(SystemClock())),
        )

    # ---- scenarios ------------------------------------------------------------

    async def closed_loop(self, call: Callable[[int], Awaitable[None]], requests: int) -> Figures:
        """`requests` calls by `concurrency` workers, each as fast as it goes."""
        latencies: list[float] = []
        errors: list[str] = []
        counter = iter(range(requests))

        async def worker() -> None:
            for index in counter:
                began = time.perf_counter()
                try:
                    await call(index)
                    latencies.append(time.perf_counter() - began)
                except Exception as problem:  # counted, not raised
                    errors.append(repr(problem)[:300])

        cpu = _cpu_seconds(self.pid)
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        seconds = time.perf_counter() - began
        return _figures(latencies, errors, seconds, _cpu_seconds(self.pid) - cpu)

    async def open_loop(
        self, call: Callable[[int], Awaitable[None]], rate: float, seconds: float
    ) -> Figures:
        """Calls started at a fixed rate whatever the answers' pace (a slow
        answer delays no later call), for `seconds`."""
        latencies: list[float] = []
        errors: list[str] = []
        tasks: list[asyncio.Task[None]] = []

        async def one(index: int) -> None:
            began = time.perf_counter()
            try:
                await call(index)
                latencies.append(time.perf_counter() - began)
            except Exception as problem:
                errors.append(repr(problem)[:300])

        cpu = _cpu_seconds(self.pid)
        start = time.perf_counter()
        total = int(rate * seconds)
        for index in range(total):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        return _figures(latencies, errors, elapsed, _cpu_seconds(self.pid) - cpu)

    async def visibility_lags(self, samples: int) -> list[float]:
        """Seconds from a usage event's ingest (acknowledged) to the first
        check showing it in the customer's consumed units."""
        lags: list[float] = []
        async with self.channel("metering") as metering, self.channel("entitlements") as ents:
            ingest = usage_events_pb2_grpc.UsageEventServiceStub(metering)
            checks = entitlements_pb2_grpc.EntitlementServiceStub(ents)
            for index in range(samples):
                customer_id = self.customers[index % len(self.customers)]
                request = entitlements_pb2.CheckEntitlementRequest(
                    customer_id=customer_id, feature=CREDITS
                )
                before = (
                    await checks.CheckEntitlement(request, metadata=self.metadata)
                ).consumed_units
                await ingest.IngestEvents(
                    usage_events_pb2.IngestEventsRequest(
                        events=[
                            usage_events_pb2.UsageEventInput(
                                name=USAGE_EVENT,
                                customer_id=customer_id,
                                external_id=uuid.uuid4().hex,
                                timestamp=timestamp(SystemClock().now()),
                            )
                        ]
                    ),
                    metadata=self.metadata,
                )
                sent = time.perf_counter()
                while True:
                    found = await checks.CheckEntitlement(request, metadata=self.metadata)
                    if found.consumed_units != before:
                        lags.append(time.perf_counter() - sent)
                        break
                    if time.perf_counter() - sent > 30:
                        raise RuntimeError("a usage event never reached the check")
                    await asyncio.sleep(0.002)
        return lags


async def _attach_when_known(
    products: Any,
    product_id: str,
    benefit_id: str,
    metadata: Any,
) -> None:
    """The catalog learns benefits from their events: NOT_FOUND until then."""
    deadline = time.monotonic() + 30
    while True:
        try:
            await products.AttachProductBenefit(
                products_pb2.AttachProductBenefitRequest(
                    product_id=product_id, benefit_id=benefit_id
                ),
                metadata=metadata,
            )
            return
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def bench(suite: Suite, arguments: argparse.Namespace) -> dict[str, Any]:
    workload = Workload(suite, arguments.concurrency)
    log.info("preparing %d customers", arguments.customers)
    await workload.prepare(arguments.customers)
    customers = workload.customers
    async with (
        workload.channel("entitlements") as channel,
        aiohttp.ClientSession(
            base_url=suite.rest_url,
            headers={"Authorization": f"Bearer {workload.api_key}"},
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            connector=aiohttp.TCPConnector(limit=256),
        ) as http,
    ):
        health: Any = health_pb2_grpc.HealthStub(channel)
        checks = entitlements_pb2_grpc.EntitlementServiceStub(channel)

        async def rpc_floor(index: int) -> None:
            await health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)

        async def grpc_check(index: int) -> None:
            found = await checks.CheckEntitlement(
                entitlements_pb2.CheckEntitlementRequest(
                    customer_id=customers[index % len(customers)], feature=FLAG
                ),
                metadata=workload.metadata,
                timeout=TIMEOUT,
            )
            if not found.allowed:
                raise RuntimeError(f"not allowed: {found.reason}")

        async def rest_check(index: int) -> None:
            params = {"customer_id": customers[index % len(customers)], "feature": FLAG}
            async with http.get("/v1/entitlements/check", params=params) as answer:
                body = await answer.json()
                if answer.status != 200 or body.get("allowed") is not True:
                    raise RuntimeError(f"{answer.status}: {str(body)[:200]}")

        async def gateway_floor(index: int) -> None:
            # A path no route serves: Envoy answers it itself.
            async with http.get("/v1/no-such-route") as answer:
                await answer.read()
                if answer.status != 404:
                    raise RuntimeError(f"{answer.status}")

        scenarios = {
            "rpc_floor": Scenario("rpc_floor", "gRPC health Check on entitlements, closed loop"),
            "grpc_check": Scenario("grpc_check", "CheckEntitlement over gRPC, closed loop"),
            "gateway_floor": Scenario(
                "gateway_floor", f"Envoy's own 404 via REST at {arguments.rate:.0f}/s"
            ),
            "rest_check": Scenario(
                "rest_check", f"GET /v1/entitlements/check via Envoy at {arguments.rate:.0f}/s"
            ),
        }
        native = native_load.available()
        if native:
            scenarios["gateway_floor_wrk"] = Scenario(
                "gateway_floor_wrk", f"Envoy's own 404 from wrk, paced at {arguments.rate:.0f}/s"
            )
            scenarios["rest_check_wrk"] = Scenario(
                "rest_check_wrk",
                f"GET /v1/entitlements/check from wrk, paced at {arguments.rate:.0f}/s",
            )
        else:
            log.warning("wrk is not on PATH (Debian: apt-get install wrk): no native-client rounds")
        check_paths = [
            f"/v1/entitlements/check?customer_id={customer}&feature={FLAG}"
            for customer in customers
        ]

        async def native_round(paths: list[str], *, floor: bool) -> Figures:
            cpu = _cpu_seconds(workload.pid)
            found = await native_load.run_wrk(
                suite.rest_url,
                paths,
                headers={} if floor else {"Authorization": f"Bearer {workload.api_key}"},
                seconds=arguments.seconds,
                connections=NATIVE_CONNECTIONS,
                rate=arguments.rate,
                expected_status_errors=floor,
            )
            return Figures(
                requests=found.requests,
                errors=found.errors,
                seconds=found.seconds,
                per_second=found.per_second,
                p50_ms=found.p50_ms,
                p99_ms=found.p99_ms,
                max_ms=found.max_ms,
                # Envoy answers the floor by itself: no check to count CPU for.
                cpu_seconds=0.0 if floor else _cpu_seconds(workload.pid) - cpu,
            )

        # Warm-up, then interleaved rounds: the machine's drift hits all alike.
        await workload.closed_loop(grpc_check, 1000)
        await workload.open_loop(rest_check, arguments.rate, 1.0)
        for number in range(arguments.rounds):
            log.info("round %d", number + 1)
            scenarios["rpc_floor"].rounds.append(
                await workload.closed_loop(rpc_floor, arguments.requests)
            )
            scenarios["grpc_check"].rounds.append(
                await workload.closed_loop(grpc_check, arguments.requests)
            )
            scenarios["gateway_floor"].rounds.append(
                await workload.open_loop(gateway_floor, arguments.rate, arguments.seconds)
            )
            scenarios["rest_check"].rounds.append(
                await workload.open_loop(rest_check, arguments.rate, arguments.seconds)
            )
            if native:
                scenarios["gateway_floor_wrk"].rounds.append(
                    await native_round(["/v1/no-such-route"], floor=True)
                )
                scenarios["rest_check_wrk"].rounds.append(
                    await native_round(check_paths, floor=False)
                )
    log.info("measuring visibility lag (%d samples)", arguments.lag_samples)
    lags = await workload.visibility_lags(arguments.lag_samples)
    p50, _, p99, _ = percentiles_ms(lags)
    return {
        "scenarios": {
            name: {"description": s.description, "rounds": [asdict(r) for r in s.rounds]}
            for name, s in scenarios.items()
        },
        "medians": {
            name: {
                attribute: s.median(attribute)
                for attribute in ("per_second", "p50_ms", "p99_ms", "max_ms", "errors")
            }
            | {
                "checks_per_cpu_second": statistics.median(
                    r.requests / r.cpu_seconds for r in s.rounds if r.cpu_seconds > 0
                )
                if any(r.cpu_seconds > 0 for r in s.rounds)
                else float("nan")
            }
            for name, s in scenarios.items()
        },
        "visibility_lag_ms": {
            "samples": len(lags),
            "p50": p50,
            "p99": p99,
            "max": max(lags) * 1000,
        },
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        "| scenario | per second | p50 ms | p99 ms | max ms | errors"
        " | per CPU-second of entitlements |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in result["medians"].items():
        lines.append(
            f"| {name} | {figures['per_second']:,.0f} | {figures['p50_ms']:.2f} | "
            f"{figures['p99_ms']:.2f} | {figures['max_ms']:.1f} | {figures['errors']:.0f} | "
            f"{figures['checks_per_cpu_second']:,.0f} |"
        )
    lag = result["visibility_lag_ms"]
    lines.append(
        f"\nusage event → check: p50 {lag['p50']:.0f} ms, p99 {lag['p99']:.0f} ms, "
        f"max {lag['max']:.0f} ms ({lag['samples']} samples)"
    )
    return "\n".join(lines)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=1000.0, help="REST requests a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="each fixed-rate round")
    parser.add_argument("--requests", type=int, default=20_000, help="each gRPC round")
    parser.add_argument("--concurrency", type=int, default=32, help="gRPC closed-loop workers")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds")
    parser.add_argument("--customers", type=int, default=50, help="customers checked")
    parser.add_argument("--lag-samples", type=int, default=100, help="usage events timed")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    arguments = parser.parse_args(argv)
    for name in ("rate", "seconds", "requests", "concurrency", "rounds", "customers"):
        if getattr(arguments, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("billingos_cli", "billingos_kit", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started_at = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="billingos-bench-") as state_dir:
        suite = Suite(
            SuiteOptions(
                state_dir=Path(state_dir),
                service_token=secrets.token_urlsafe(16),
                gateway_token=secrets.token_urlsafe(16),
                gateway_source=unlimited_gateway(),
                database_url=None,
                nats_url=None,
                durable=True,
            )
        )
        suite.start()
        try:
            log.info("suite up in %.1f s; REST at %s", time.perf_counter() - began, suite.rest_url)
            result = asyncio.run(bench(suite, arguments))
        finally:
            suite.stop()
    total = time.perf_counter() - began
    print(render(result))
    out = arguments.out or RESULTS_DIR / f"entitlements-{started_at:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "entitlements",
        "started_at": started_at.isoformat(),
        "machine": machine(),
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "parameters": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(arguments).items()
        },
        "seconds": total,
        **result,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}; took {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
