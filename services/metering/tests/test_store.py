"""The event store suite: every store (Postgres; ClickHouse where it is
available) must pass it. The SQL of each store is held to the Python
reference (filters.matches, aggregates.aggregate_values) on random filters
and random events, and quantities over any split of a range add up to the
whole."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingos_kit.repository import OnConnection
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService
from billingos_metering.aggregates import Aggregate, aggregate_values, combine, quantity
from billingos_metering.buckets import bucket_bounds
from billingos_metering.clickhouse_store import ClickHouseEventStore
from billingos_metering.filters import Aggregation, Condition, EventValue, Filter, matches
from billingos_metering.models import MeterRow
from billingos_metering.partitions import ensure_partitions
from billingos_metering.pg_store import PostgresEventStore
from billingos_metering.store import Audience, Bucketed, EventStore, MeterSpec, NewEvent
from billingos_metering.vocabulary import Conjunction, Function, Interval, Operator

UTC = dt.UTC
BASE = dt.datetime(2025, 12, 1, tzinfo=UTC)
ALL = Filter(Conjunction.AND, ())
NAMES = ["api_call", "upload", "api_call_v2", "Tokens"]
KEYS = ["tokens", "model", "region", "ok"]


class Harness:
    """A store with one transaction per call, as the service uses it."""

    def __init__(self, service: RunningService, store: EventStore) -> None:
        self.database = service.app.database
        self.clock = service.app.clock
        self.store = store

    async def insert(self, organization_id: uuid.UUID, events: Sequence[NewEvent]) -> int:
        # As ingest does: not before the months exist (partitions.py).
        await ensure_partitions(self.database, self.clock.now(), dt.timedelta(days=60))
        async with self.database.transaction() as connection:
            return await self.store.insert(OnConnection(connection, organization_id), events, BASE)

    async def quantities(
        self,
        organization_id: uuid.UUID,
        spec: MeterSpec,
        bounds: Sequence[dt.datetime],
        audience: Audience | None = None,
    ) -> Bucketed:
        async with self.database.connection() as connection:
            return await self.store.quantities(
                OnConnection(connection, organization_id), spec, audience or Audience(), bounds
            )

    async def watermark(self) -> int:
        """The safe point once it is past every transaction begun before this
        call: another transaction on the cluster (the service's balance
        worker, its partition keeper) holds it back while it runs."""
        async with self.database.connection() as connection:
            began = int(await connection.fetchval("SELECT pg_current_xact_id()::text::bigint"))
            for _ in range(400):
                found = await self.store.watermark(OnConnection(connection))
                if found > began:
                    return found
                await asyncio.sleep(0.025)
        raise AssertionError(f"the safe point stayed at or below {began}")

    async def counted(
        self,
        organization_id: uuid.UUID,
        spec: MeterSpec,
        customer_id: uuid.UUID,
        period: tuple[dt.datetime, dt.datetime],
        marks: tuple[int, int],
    ) -> Aggregate:
        async with self.database.connection() as connection:
            return await self.store.counted(
                OnConnection(connection, organization_id), spec, customer_id, *period, marks
            )


@pytest.fixture(scope="session")
def clickhouse_store(tmp_path_factory: pytest.TempPathFactory) -> ClickHouseEventStore:
    """One in-process ClickHouse (chdb) for the session: chdb runs one engine per process."""
    return ClickHouseEventStore.from_url(f"chdb://{tmp_path_factory.mktemp('chdb')}")


@pytest.fixture(params=["postgres", "clickhouse"])
async def harness(
    request: pytest.FixtureRequest, metering_service: RunningService
) -> AsyncIterator[Harness]:
    if request.param == "postgres":
        yield Harness(metering_service, PostgresEventStore())
    else:
        yield Harness(metering_service, request.getfixturevalue("clickhouse_store"))


def event(
    *,
    name: str = "api_call",
    customer_id: uuid.UUID | None = None,
    external_customer_id: str | None = None,
    at: dt.datetime = BASE,
    metadata: dict[str, EventValue] | None = None,
    external_id: str | None = None,
) -> NewEvent:
    values = metadata or {}
    return NewEvent(
        id=uuid.uuid4(),
        name=name,
        customer_id=customer_id,
        external_customer_id=external_customer_id,
        timestamp=at,
        metadata=values,
        metadata_json=json.dumps(values, separators=(",", ":")),
        external_id=external_id,
    )


def count_meter(tree: Filter = ALL) -> MeterSpec:
    return MeterSpec(tree, Aggregation(Function.COUNT, None))


def whole(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    return [start, end]


async def test_an_external_id_is_stored_once_forever(harness: Harness) -> None:
    organization = uuid.uuid4()
    first = [event(external_id="a"), event(external_id="b"), event()]
    assert await harness.insert(organization, first) == 3
    later = [event(external_id="a", at=BASE + dt.timedelta(days=20)), event(external_id="c")]
    assert await harness.insert(organization, later) == 1
    # Another organization's ids are its own.
    assert await harness.insert(uuid.uuid4(), [event(external_id="a")]) == 1
    found = await harness.quantities(
        organization, count_meter(), whole(BASE, BASE + dt.timedelta(days=40))
    )
    assert quantity(Function.COUNT, found.total) == 4


async def test_buckets_and_totals_of_every_aggregation(harness: Harness) -> None:
    organization, customer = uuid.uuid4(), uuid.uuid4()
    berlin = ZoneInfo("Europe/Berlin")
    day = dt.datetime(2025, 12, 10, tzinfo=berlin).astimezone(UTC)
    rows = [
        event(
            customer_id=customer,
            at=day + dt.timedelta(hours=1),
            metadata={"tokens": 10, "model": "a"},
        ),
        event(
            customer_id=customer,
            at=day + dt.timedelta(hours=2),
            metadata={"tokens": 2.5, "model": "b"},
        ),
        event(
            customer_id=customer,
            at=day + dt.timedelta(hours=25),
            metadata={"tokens": 4, "model": "a"},
        ),
        event(customer_id=customer, at=day + dt.timedelta(hours=26), metadata={"model": "c"}),
        event(customer_id=uuid.uuid4(), at=day + dt.timedelta(hours=3), metadata={"tokens": 1000}),
    ]
    await harness.insert(organization, rows)
    bounds = bucket_bounds(day, day + dt.timedelta(days=2), Interval.DAY, berlin)
    expected = {
        Function.COUNT: (["2", "2"], "4"),
        Function.SUM: (["12.5", "4"], "16.5"),
        Function.MAX: (["10", "4"], "10"),
        Function.MIN: (["2.5", "4"], "2.5"),
        Function.AVG: (["6.25", "4"], "5.5"),
        Function.UNIQUE: (["2", "2"], "3"),
    }
    for function, (per_day, total) in expected.items():
        key = (
            None
            if function is Function.COUNT
            else ("model" if function is Function.UNIQUE else "tokens")
        )
        spec = MeterSpec(ALL, Aggregation(function, key))
        found = await harness.quantities(organization, spec, bounds, Audience(customer_id=customer))
        assert [quantity(function, b) for b in found.buckets] == [Decimal(v) for v in per_day], (
            function
        )
        assert quantity(function, found.total) == Decimal(total), function


async def test_sums_are_exact_decimals(harness: Harness) -> None:
    organization = uuid.uuid4()
    await harness.insert(
        organization,
        [event(metadata={"gb": 0.1}), event(metadata={"gb": 0.2}), event(metadata={"gb": 2**53})],
    )
    spec = MeterSpec(ALL, Aggregation(Function.SUM, "gb"))
    found = await harness.quantities(organization, spec, whole(BASE, BASE + dt.timedelta(hours=1)))
    assert found.total.total == Decimal("0.3") + Decimal(2**53)


async def test_watermarks_split_what_was_counted_from_what_came_later(harness: Harness) -> None:
    organization, customer = uuid.uuid4(), uuid.uuid4()
    period = (BASE, BASE + dt.timedelta(days=30))
    start = await harness.watermark()
    await harness.insert(
        organization, [event(customer_id=customer, at=BASE + dt.timedelta(days=1))] * 1
    )
    first_mark = await harness.watermark()
    first = await harness.counted(
        organization, count_meter(), customer, period, (start, first_mark)
    )
    assert first.count == 1
    # A late event of the same period, stored after the first count.
    await harness.insert(
        organization, [event(customer_id=customer, at=BASE + dt.timedelta(days=2))]
    )
    second_mark = await harness.watermark()
    again = await harness.counted(
        organization, count_meter(), customer, period, (start, first_mark)
    )
    late = await harness.counted(
        organization, count_meter(), customer, period, (first_mark, second_mark)
    )
    assert (again.count, late.count) == (1, 1)


async def test_events_sent_before_their_customer_existed_move_to_it(harness: Harness) -> None:
    organization, customer = uuid.uuid4(), uuid.uuid4()
    await harness.insert(organization, [event(external_customer_id="user_1")] * 1)
    await harness.insert(
        organization, [event(external_customer_id="user_1"), event(external_customer_id="user_2")]
    )
    window = whole(BASE, BASE + dt.timedelta(hours=1))
    waiting = await harness.quantities(
        organization, count_meter(), window, Audience(external_customer_id="user_1")
    )
    assert waiting.total.count == 2
    before = await harness.watermark()
    async with harness.database.transaction() as connection:
        moved = await harness.store.resolve_customer(
            OnConnection(connection, organization), "user_1", customer
        )
    assert moved == 2
    mine = await harness.quantities(
        organization, count_meter(), window, Audience(customer_id=customer)
    )
    assert mine.total.count == 2
    after = await harness.watermark()
    recounted = await harness.counted(
        organization, count_meter(), customer, (BASE, BASE + dt.timedelta(days=1)), (before, after)
    )
    assert recounted.count == 2


async def test_customer_aggregates_and_values_follow_windows(harness: Harness) -> None:
    organization, one, two = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    start = await harness.watermark()
    await harness.insert(
        organization,
        [
            event(customer_id=one, metadata={"n": 1, "m": "x"}),
            event(customer_id=two, metadata={"n": 5, "m": "y"}),
        ],
    )
    middle = await harness.watermark()
    await harness.insert(
        organization,
        [event(customer_id=one, metadata={"n": 2, "m": "z"}), event(metadata={"n": 100})],
    )
    end = await harness.watermark()
    spec = MeterSpec(ALL, Aggregation(Function.SUM, "n"))
    async with harness.database.connection() as connection:
        scope = OnConnection(connection, organization)
        everything = await harness.store.customer_aggregates(scope, spec, (start, end), {})
        windowed = await harness.store.customer_aggregates(scope, spec, (start, end), {one: middle})
        unique = MeterSpec(ALL, Aggregation(Function.UNIQUE, "m"))
        values = await harness.store.customer_values(scope, unique, (start, end), {one: middle})
        busy = await harness.store.organizations_with_events(scope, start, end)
    assert {c: a.total for c, a in everything.items()} == {one: 3, two: 5}
    assert {c: a.total for c, a in windowed.items()} == {one: 2, two: 5}
    assert {c: len(v) for c, v in values.items()} == {one: 1, two: 1}
    assert organization in busy


# ---- the SQL against the Python reference ----------------------------------

values_of = st.one_of(
    st.sampled_from(["a", "b", "abc", "a%c", "a_c", "", "B", "é"]),
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.5, 2.25]),
    st.booleans(),
)
conditions = st.builds(
    Condition,
    st.sampled_from(["name"] + [f"metadata.{k}" for k in KEYS]),
    st.sampled_from(list(Operator)),
    st.one_of(
        st.sampled_from(["a", "abc", "a%", "%c", "a\\%c", "_", "api_call", "api%"]),
        st.sampled_from([Decimal(0), Decimal(1), Decimal("-1.5"), Decimal("2.25")]),
        st.booleans(),
    ),
)


def _valid(condition: Condition) -> bool:
    from billingos_kit.validation import Violations
    from billingos_metering.filters import check_condition

    violations = Violations()
    check_condition(violations, "c", condition)
    return not violations.found


filters = st.recursive(
    st.builds(Filter, st.sampled_from(list(Conjunction)), st.tuples(conditions.filter(_valid))),
    lambda inner: st.builds(
        Filter,
        st.sampled_from(list(Conjunction)),
        st.lists(st.one_of(inner, conditions.filter(_valid)), max_size=3).map(tuple),
    ),
    max_leaves=6,
)


def random_events(seed: int, count: int) -> list[NewEvent]:
    rng = random.Random(seed)
    pool: list[Any] = [
        "a",
        "b",
        "abc",
        "a%c",
        "a_c",
        "",
        "B",
        "é",
        -3,
        0,
        1,
        2,
        0.5,
        -1.5,
        2.25,
        True,
        False,
    ]
    found = []
    for index in range(count):
        metadata = {key: rng.choice(pool) for key in KEYS if rng.random() < 0.7}
        found.append(
            event(
                name=rng.choice(NAMES),
                customer_id=None,
                at=BASE + dt.timedelta(minutes=index),
                metadata=metadata,
            )
        )
    return found


@pytest.fixture(scope="module")
def reference_events() -> list[NewEvent]:
    return random_events(7, 300)


async def _loaded(harness: Harness, events: list[NewEvent]) -> uuid.UUID:
    organization = uuid.uuid4()
    await harness.insert(organization, events)
    return organization


async def test_filters_match_as_the_reference_does(
    harness: Harness, reference_events: list[NewEvent]
) -> None:
    organization = await _loaded(harness, reference_events)
    window = whole(BASE, BASE + dt.timedelta(days=1))
    seen: list[int] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(tree=filters)
    async def check(tree: Filter) -> None:
        found = await harness.quantities(organization, count_meter(tree), window)
        expected = sum(1 for e in reference_events if matches(tree, e.name, e.metadata))
        assert found.total.count == expected, tree
        seen.append(expected)

    await _run(check)
    # The filters drawn both matched and missed events.
    assert len(seen) > 50
    assert any(0 < n < len(reference_events) for n in seen)


@pytest.mark.parametrize("function", [f for f in Function if f is not Function.COUNT])
async def test_aggregations_agree_with_the_reference(
    harness: Harness, reference_events: list[NewEvent], function: Function
) -> None:
    organization = await _loaded(harness, reference_events)
    window = whole(BASE, BASE + dt.timedelta(days=1))
    for key in KEYS:
        for tree in (ALL, Filter(Conjunction.AND, (Condition("name", Operator.LIKE, "api%"),))):
            aggregation = Aggregation(function, key)
            found = await harness.quantities(organization, MeterSpec(tree, aggregation), window)
            counted = [
                e.metadata.get(key) for e in reference_events if matches(tree, e.name, e.metadata)
            ]
            expected = aggregate_values(aggregation, counted)
            assert quantity(function, found.total) == quantity(function, expected), (key, tree)


async def test_quantities_over_any_split_add_up_to_the_whole(
    harness: Harness, reference_events: list[NewEvent]
) -> None:
    organization = await _loaded(harness, reference_events)
    start, end = BASE, BASE + dt.timedelta(minutes=300)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        cuts=st.lists(st.integers(1, 299), max_size=4, unique=True),
        function=st.sampled_from([Function.COUNT, Function.SUM, Function.MAX, Function.MIN]),
    )
    async def check(cuts: list[int], function: Function) -> None:
        spec = MeterSpec(
            ALL, Aggregation(function, None if function is Function.COUNT else "region")
        )
        bounds = [start, *(start + dt.timedelta(minutes=c) for c in sorted(cuts)), end]
        parts = []
        for a, b in itertools.pairwise(bounds):
            parts.append((await harness.quantities(organization, spec, [a, b])).total)
        entire = (await harness.quantities(organization, spec, [start, end])).total
        joined = combine(function, parts)
        assert quantity(function, joined) == quantity(function, entire)
        # And one query with those buckets gives the same parts.
        bucketed = await harness.quantities(organization, spec, bounds)
        assert [quantity(function, p) for p in bucketed.buckets] == [
            quantity(function, p) for p in parts
        ]

    await _run(check)


ROLLED_UP = [Function.COUNT, Function.SUM, Function.MAX, Function.MIN, Function.AVG]
ZONES = ["Europe/Berlin", "Asia/Kathmandu", "America/St_Johns", "UTC", "Australia/Eucla"]


@contextlib.asynccontextmanager
async def _rolled_up_meters(
    harness: Harness, organization: uuid.UUID, specs: Sequence[MeterSpec], until: int
) -> AsyncIterator[list[uuid.UUID]]:
    """A meter per spec, its rollups made up to `until` as the rollup keeper
    makes them. Archived (the balance worker leaves it), behind at `until`,
    and held by the lock the keeper takes before it rebuilds one, so the
    service's own keeper leaves it alone while the test runs."""
    from billingos_metering.filters import filter_to_json
    from billingos_metering.rollups import SPEC_KEY

    ids = [uuid.uuid4() for _ in specs]
    async with harness.database.connection() as holder:
        for meter_id in ids:
            await holder.execute(
                "SELECT pg_advisory_lock(hashtext('metering.rollups:' || $1::uuid::text))", meter_id
            )
        async with harness.database.transaction() as connection:
            for meter_id, spec in zip(ids, specs, strict=True):
                await connection.execute(
                    "INSERT INTO metering.meters (id, organization_id, name, filter,"
                    " aggregation_function, aggregation_property, archived_at, counted_watermark,"
                    " created_at, updated_at, rolled_to) VALUES ($1, $2, 'm', $3, $4, $5, $7,"
                    " $6, $7, $7, $6)",
                    meter_id,
                    organization,
                    filter_to_json(spec.filter),
                    spec.aggregation.function.value,
                    spec.aggregation.key,
                    until,
                    BASE,
                )
                await connection.execute(
                    f"UPDATE metering.meters m SET rolled_spec = {SPEC_KEY} WHERE id = $1",  # noqa: S608
                    meter_id,
                )
                await harness.store.roll_up(
                    OnConnection(connection, organization), meter_id, spec, (0, until)
                )
        try:
            yield ids
        finally:
            await holder.execute("SELECT pg_advisory_unlock_all()")


async def test_rollups_and_their_tail_give_what_the_events_give(harness: Harness) -> None:
    """One customer's quantities from the rollups below the counted point and
    the store's tail above it (and in the quarter-hours a bound cuts) are the
    quantities of the events, for every rolled-up aggregation, bucketing and
    time zone, with bounds on and off the quarter-hours."""
    from billingos_metering import rollups

    organization, customer = uuid.uuid4(), uuid.uuid4()
    rng = random.Random(11)
    span = dt.timedelta(hours=8)  # dense: every quarter-hour has events of both kinds

    def some(count: int, who: uuid.UUID | None) -> list[NewEvent]:
        return [
            event(
                name=rng.choice(["api_call", "api_call", "upload"]),
                customer_id=who,
                external_customer_id=None if who else "later",
                at=BASE + dt.timedelta(seconds=rng.randrange(int(span.total_seconds()))),
                metadata={"tokens": rng.choice([1, 2.5, -3, 40, 0.125])}
                if rng.random() < 0.9
                else {"model": "a"},
            )
            for _ in range(count)
        ]

    await harness.insert(organization, some(300, customer) + some(40, uuid.uuid4()))
    counted_to = await harness.watermark()
    # Stored above the counted point: the tail.
    await harness.insert(organization, some(150, customer) + some(5, None))
    calls = Filter(Conjunction.AND, (Condition("name", Operator.EQ, "api_call"),))
    specs = [
        MeterSpec(tree, Aggregation(f, None if f is Function.COUNT else "tokens"))
        for f in ROLLED_UP
        for tree in ((ALL, calls) if f in (Function.COUNT, Function.SUM) else (ALL,))
    ]
    audience = Audience(customer_id=customer)
    both: list[bool] = []

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        start=st.integers(0, 4 * 3600),
        length=st.integers(60, 4 * 3600),
        interval=st.sampled_from([Interval.HOUR, Interval.DAY]),
        zone=st.sampled_from(ZONES),
        aligned=st.booleans(),
    )
    async def check(start: int, length: int, interval: Interval, zone: str, aligned: bool) -> None:
        if aligned:
            start, length = start // 900 * 900, max(900, length // 900 * 900)
        bounds = bucket_bounds(
            BASE + dt.timedelta(seconds=start),
            BASE + dt.timedelta(seconds=start + length),
            interval,
            ZoneInfo(zone),
        )
        for meter_id, spec in zip(meter_ids, specs, strict=True):
            function = spec.aggregation.function
            expected = await harness.quantities(organization, spec, bounds, audience)
            async with harness.database.connection() as connection:
                scope = OnConnection(connection, organization)
                record = await connection.fetchrow(
                    "SELECT * FROM metering.meters WHERE id = $1", meter_id
                )
                assert record is not None
                meter = MeterRow(**record)
                found_rollups = await rollups.read(connection, meter, customer, bounds)
                assert found_rollups is not None
                rolled, tail = found_rollups
                rest = await harness.store.quantities(scope, spec, audience, bounds, tail)
            assert tail.since == counted_to
            found = rollups.add(function, rolled, rest)
            assert [quantity(function, b) for b in found.buckets] == [
                quantity(function, b) for b in expected.buckets
            ], function
            assert quantity(function, found.total) == quantity(function, expected.total)
            assert found.total.count == expected.total.count
            both.append(bool(rolled.total.count and rest.total.count and tail.quarters))

    async with _rolled_up_meters(harness, organization, specs, counted_to) as meter_ids:
        await _run(check)
    # Examples where the rollups, the tail and cut quarters all had a share.
    assert any(both)


async def _run(check: Any) -> None:
    """Runs a hypothesis test of async examples: hypothesis drives it in a
    worker thread, and each example runs on this event loop while that
    thread waits for it, so a failing example fails inside hypothesis (which
    then shrinks it) and the store's connections stay on their own loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    inner = check.hypothesis.inner_test
    ran = 0

    def example_on_the_loop(*args: Any, **kwargs: Any) -> None:
        nonlocal ran
        ran += 1
        asyncio.run_coroutine_threadsafe(inner(*args, **kwargs), loop).result()

    check.hypothesis.inner_test = example_on_the_loop
    await loop.run_in_executor(None, check)
    assert ran, "hypothesis generated no examples"


# ---- the ClickHouse store ---------------------------------------------------


def test_clickhouse_url_builds_a_clickhouse_connect_client_construction_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """METERING_CLICKHOUSE_URL with clickhouse:// makes the ClickHouse store,
    whose client is clickhouse-connect's HTTP client for that server. URL
    parsing and construction only: no server runs here, so the client's
    handshake (its first queries) is stubbed and nothing is sent."""
    from clickhouse_connect.driver.client import Client
    from clickhouse_connect.driver.httpclient import HttpClient

    from billingos_metering.app import event_store
    from billingos_metering.clickhouse_store import ClickHouseTarget
    from billingos_metering.settings import MeteringSettings

    monkeypatch.setenv(
        "METERING_CLICKHOUSE_URL", "clickhouse://meter:s%40cret@127.0.0.1:18123/usage"
    )
    settings = MeteringSettings(
        database_url="postgresql://unused", service_token="s" * 16, gateway_token="g" * 16
    )
    store = event_store(settings)
    assert isinstance(store, ClickHouseEventStore)
    target = store.target
    assert (target.host, target.port, target.username, target.password) == (
        "127.0.0.1",
        18123,
        "meter",
        "s@cret",
    )
    assert (target.database, target.secure, target.path) == ("usage", False, None)
    monkeypatch.setattr(Client, "_init_common_settings", lambda self, *args: None)
    client = target.server_client()
    assert isinstance(client, HttpClient)
    assert client.url == "http://127.0.0.1:18123"
    assert client.headers["Authorization"] == "Basic bWV0ZXI6c0BjcmV0"  # meter:s@cret
    # No session: one client serves every thread, a session one query at a time.
    assert "session_id" not in client._ch_settings

    secure = ClickHouseTarget.parse("clickhouses://clickhouse.internal")
    assert (secure.port, secure.secure, secure.database) == (8443, True, "metering")
    for bad in ("clickhouse://host/usage;drop", "postgresql://host/db", "chdb://"):
        with pytest.raises(ValueError, match=r"URL|identifier|folder"):
            ClickHouseTarget.parse(bad)


async def _current_xid(connection: Any) -> int:
    return int(await connection.fetchval("SELECT pg_current_xact_id()::text::bigint"))


async def test_clickhouse_reads_are_exact_over_unmerged_duplicates(
    metering_service: RunningService, clickhouse_store: ClickHouseEventStore
) -> None:
    """Two batches racing with one external id both write it (neither saw
    the other's in its check); the copy with the lower watermark wins from
    the start, before any merge, and after one."""
    harness = Harness(metering_service, clickhouse_store)
    organization, customer = uuid.uuid4(), uuid.uuid4()
    period = (BASE, BASE + dt.timedelta(days=30))
    first = event(customer_id=customer, external_id="raced", metadata={"n": 1})
    late = event(
        customer_id=customer, external_id="raced", at=BASE + dt.timedelta(days=3), metadata={"n": 7}
    )
    client = clickhouse_store._connected()
    stored = "SELECT count() FROM metering.events WHERE organization_id = {org:UUID}"
    sums = MeterSpec(ALL, Aggregation(Function.SUM, "n"))
    start = await harness.watermark()

    async def check(end: int, losing: tuple[int, int]) -> None:
        everything = await harness.quantities(organization, sums, list(period))
        assert (everything.total.count, everything.total.total) == (1, 1)
        # Only the losing copy's time: nothing.
        around_late = [BASE + dt.timedelta(days=2), BASE + dt.timedelta(days=4)]
        assert (await harness.quantities(organization, sums, around_late)).total.count == 0
        marks = (start, end)
        assert (await harness.counted(organization, sums, customer, period, marks)).count == 1
        assert (await harness.counted(organization, sums, customer, period, losing)).count == 0
        async with harness.database.connection() as connection:
            scope = OnConnection(connection, organization)
            assert await clickhouse_store.customer_aggregates(scope, sums, losing, {}) == {}
        # And the key is known: the next batch with it stores nothing.
        assert await harness.insert(organization, [event(external_id="raced")]) == 0

    # Merges stopped, so the two copies are still apart when read.
    client.command("SYSTEM STOP MERGES metering.events")
    try:
        async with harness.database.transaction() as one, harness.database.transaction() as two:
            mark_one, mark_two = await _current_xid(one), await _current_xid(two)
            # The later transaction writes first: the lower watermark still wins.
            clickhouse_store.write_rows(organization, [late], BASE, mark_two)
            clickhouse_store.write_rows(organization, [first], BASE, mark_one)
        end = await harness.watermark()
        assert client.query(stored, parameters={"org": organization}).result_rows[0][0] == 2
        await check(end, (mark_two, end))
    finally:
        client.command("SYSTEM START MERGES metering.events")
    client.command("OPTIMIZE TABLE metering.events FINAL")
    assert client.query(stored, parameters={"org": organization}).result_rows[0][0] == 1
    await check(end, (mark_two, end))


async def test_clickhouse_a_moved_event_is_read_once_before_any_merge(
    metering_service: RunningService, clickhouse_store: ClickHouseEventStore
) -> None:
    harness = Harness(metering_service, clickhouse_store)
    organization, customer = uuid.uuid4(), uuid.uuid4()
    await harness.insert(
        organization,
        [event(external_customer_id="u", external_id="e1"), event(external_customer_id="u")],
    )
    async with harness.database.transaction() as connection:
        scope = OnConnection(connection, organization)
        assert await clickhouse_store.resolve_customer(scope, "u", customer) == 2
        # Twice in a row: nothing is left to move.
        assert await clickhouse_store.resolve_customer(scope, "u", customer) == 0
    window = whole(BASE, BASE + dt.timedelta(hours=1))
    client = clickhouse_store._connected()
    stored = "SELECT count() FROM metering.events WHERE organization_id = {org:UUID}"
    assert client.query(stored, parameters={"org": organization}).result_rows[0][0] == 4
    waiting = Audience(external_customer_id="u")
    assert (await harness.quantities(organization, count_meter(), window, waiting)).total.count == 0
    mine = Audience(customer_id=customer)
    assert (await harness.quantities(organization, count_meter(), window, mine)).total.count == 2
    assert (await harness.quantities(organization, count_meter(), window)).total.count == 2


async def test_clickhouse_a_cancelled_write_runs_to_its_end_before_the_caller_lets_go() -> None:
    """The caller's transaction is the write's watermark: cancelling the
    caller must not end that transaction while the write is still landing."""
    import threading
    import time

    from billingos_metering.clickhouse_store import _finish

    landed = threading.Event()

    def slow_write() -> int:
        time.sleep(0.3)
        landed.set()
        return 1

    caller = asyncio.ensure_future(_finish(asyncio.ensure_future(asyncio.to_thread(slow_write))))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert landed.is_set()


# Numbers and strings where a store's SQL could go wrong: values at the ends
# of what ingest takes (ingest_rules: integers below 2^53, fractions from
# 1e-12), decimals no double holds, code points past ASCII; filter bounds
# anywhere in the double range and beyond.
EDGE_NUMBERS: list[EventValue] = [
    1e-12,
    -1e-12,
    0.1,
    0.30000000000000004,
    2**53 - 1,
    -(2**53 - 1),
    1e15 + 0.5,
    123456789.12345679,
    3,
    -2.5,
    0,
]
EDGE_BOUNDS = [
    Decimal("0.1"),
    Decimal("0.1000000000000000000001"),
    Decimal("0.09999999999999999999"),
    Decimal("5e-324"),
    Decimal("4.9e-324"),
    Decimal("1e-400"),
    Decimal("-1e-400"),
    Decimal("1e400"),
    Decimal("-1e400"),
    Decimal(2**53),
    Decimal(2**53) + Decimal("0.5"),
    Decimal(0),
    Decimal("-2.5"),
]
EDGE_STRINGS = ["a\nb", "ab", "a\\b", "100%", "1000", "é", "😀", "z", "ｚ", "A"]
EDGE_PATTERNS = ["a\\b", "a_b", "100\\%", "100%", "_", "\\_", "a\\\\b", "%\\n%"]


async def test_numbers_and_strings_at_the_edges_agree_with_the_reference(
    harness: Harness,
) -> None:
    rows = [
        event(metadata={"v": v}, at=BASE + dt.timedelta(seconds=i))
        for i, v in enumerate(EDGE_NUMBERS)
    ]
    rows += [
        event(metadata={"s": s}, at=BASE + dt.timedelta(seconds=i))
        for i, s in enumerate(EDGE_STRINGS)
    ]
    organization = await _loaded(harness, rows)
    window = whole(BASE, BASE + dt.timedelta(hours=1))
    conditions = [
        Condition("metadata.v", operator, bound)
        for bound in EDGE_BOUNDS
        for operator in (Operator.EQ, Operator.NE, *_ORDERINGS)
    ]
    conditions += [
        Condition("metadata.s", operator, text)
        for text in EDGE_STRINGS
        for operator in (Operator.EQ, Operator.NE, *_ORDERINGS)
    ]
    conditions += [
        Condition("metadata.s", operator, pattern)
        for pattern in EDGE_PATTERNS
        for operator in (Operator.LIKE, Operator.NOT_LIKE)
    ]
    for condition in conditions:
        tree = Filter(Conjunction.AND, (condition,))
        found = await harness.quantities(organization, count_meter(tree), window)
        expected = sum(1 for e in rows if matches(tree, e.name, e.metadata))
        assert found.total.count == expected, condition
    for function in (Function.SUM, Function.MAX, Function.MIN, Function.AVG, Function.UNIQUE):
        aggregation = Aggregation(function, "v")
        found = await harness.quantities(organization, MeterSpec(ALL, aggregation), window)
        expected = aggregate_values(aggregation, [e.metadata.get("v") for e in rows])
        assert quantity(function, found.total) == quantity(function, expected), function
        if function is Function.SUM:
            assert found.total.total == expected.total


_ORDERINGS = (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE)


async def test_another_applications_long_transaction_does_not_hold_the_safe_point(
    harness: Harness, servers: SessionServers
) -> None:
    """A transaction of another service on the same Postgres (waiting on
    Stripe, say) stores no events: counting goes past it. One of metering's
    own holds it back until it ends."""
    import asyncpg

    other = await asyncpg.connect(
        servers.database_url, server_settings={"application_name": "billingos-payments"}
    )
    try:
        async with other.transaction():
            held = int(await other.fetchval("SELECT pg_current_xact_id()::text::bigint"))
            organization = uuid.uuid4()
            await harness.insert(organization, [event()])
            assert await harness.watermark() > held
            async with harness.database.transaction() as own:
                mine = int(await own.fetchval("SELECT pg_current_xact_id()::text::bigint"))
                async with harness.database.connection() as reader:
                    assert await harness.store.watermark(OnConnection(reader)) <= mine
    finally:
        await other.close()


@pytest.mark.parametrize(
    ("next_xid", "running", "widened"),
    [
        (1000, 990, 990),  # epoch 0
        (2**32 + 755, 755, 2**32 + 755),  # epoch 1, same epoch as the next id
        (2**32 + 755, 700, 2**32 + 700),
        (2**32 + 5, 2**32 - 10, 2**32 - 10),  # assigned just before the counter wrapped
        (3 * 2**32 + 2**31, 2**31 - 1, 3 * 2**32 + 2**31 - 1),
    ],
)
async def test_a_running_transactions_32_bit_id_is_widened_with_the_right_epoch(
    metering_service: RunningService, next_xid: int, running: int, widened: int
) -> None:
    from billingos_metering.watermarks import WIDEN_XID

    async with metering_service.app.database.connection() as connection:
        found = await connection.fetchval(
            f"SELECT {WIDEN_XID} FROM (VALUES ($1::bigint)) AS n(next),"  # noqa: S608
            " (VALUES ($2::bigint)) AS a(xid)",
            next_xid,
            running % 2**32,
        )
    assert found == widened
