"""Meters over gRPC: create, read, list, update with their rules and
events; quantities by local calendar with their bad inputs; tenancy."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2

from billingos.metering.v1 import meters_pb2
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata

from .conftest import Stubs, announce_customer, ingest, refused, usage_event

COUNT = meters_pb2.AGGREGATION_FUNCTION_COUNT
SUM = meters_pb2.AGGREGATION_FUNCTION_SUM
EQ = meters_pb2.FILTER_OPERATOR_EQ


def condition(prop: str, op: int, **value: object) -> meters_pb2.FilterClause:
    return meters_pb2.FilterClause(
        condition=meters_pb2.FilterCondition(property=prop, operator=op, **value)  # type: ignore[arg-type]
    )


def meter_of(
    name: str = "API calls",
    clauses: list[meters_pb2.FilterClause] | None = None,
    function: int = COUNT,
    prop: str = "",
) -> meters_pb2.Meter:
    return meters_pb2.Meter(
        name=name,
        filter=meters_pb2.MeterFilter(
            conjunction=meters_pb2.FILTER_CONJUNCTION_AND,
            clauses=clauses
            if clauses is not None
            else [condition("name", EQ, string_value="api_call")],
        ),
        aggregation=meters_pb2.MeterAggregation(function=function, property=prop),  # type: ignore[arg-type]
    )


async def create_meter(
    stubs: Stubs, organization: uuid.UUID, meter: meters_pb2.Meter
) -> meters_pb2.Meter:
    created: meters_pb2.Meter = await stubs.meters.CreateMeter(
        meters_pb2.CreateMeterRequest(meter=meter),
        metadata=call_metadata(organization, idempotency_key=str(uuid.uuid4())),
    )
    return created


async def outbox_types(service: RunningService, organization: uuid.UUID) -> list[str]:
    async with service.app.database.connection() as connection:
        rows = await connection.fetch(
            "SELECT event_type FROM metering.outbox_events WHERE organization_id = $1"
            " ORDER BY sequence",
            organization,
        )
    return [row[0] for row in rows]


async def test_a_meter_is_created_read_listed_and_announced(
    stubs: Stubs, metering_service: RunningService
) -> None:
    organization = uuid.uuid4()
    meter = await create_meter(stubs, organization, meter_of(function=SUM, prop="metadata.tokens"))
    assert meter.id
    assert meter.organization_id == str(organization)
    assert meter.aggregation.property == "metadata.tokens"
    got = await stubs.meters.GetMeter(
        meters_pb2.GetMeterRequest(id=meter.id), metadata=call_metadata(organization)
    )
    assert got == meter
    listed = await stubs.meters.ListMeters(
        meters_pb2.ListMetersRequest(query="api"), metadata=call_metadata(organization)
    )
    assert [m.id for m in listed.meters] == [meter.id]
    assert await outbox_types(metering_service, organization) == ["meter.created"]


async def test_another_organizations_meter_is_not_found(stubs: Stubs) -> None:
    meter = await create_meter(stubs, uuid.uuid4(), meter_of())
    other = uuid.uuid4()
    error = await refused(
        stubs.meters.GetMeter(
            meters_pb2.GetMeterRequest(id=meter.id), metadata=call_metadata(other)
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    start = timestamp_pb2.Timestamp(seconds=1_700_000_000)
    end = timestamp_pb2.Timestamp(seconds=1_700_086_400)
    error = await refused(
        stubs.meters.GetMeterQuantities(
            meters_pb2.GetMeterQuantitiesRequest(id=meter.id, start=start, end=end, interval="day"),
            metadata=call_metadata(other),
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    listed = await stubs.meters.ListMeters(
        meters_pb2.ListMetersRequest(), metadata=call_metadata(other)
    )
    assert list(listed.meters) == []


async def test_bad_meters_name_their_fields(stubs: Stubs) -> None:
    organization = uuid.uuid4()
    deep = meters_pb2.MeterFilter(clauses=[condition("name", EQ, string_value="x")])
    for _ in range(5):
        deep = meters_pb2.MeterFilter(clauses=[meters_pb2.FilterClause(filter=deep)])
    cases = {
        "unknown operator": (
            meter_of(clauses=[condition("name", 99, string_value="x")]),
            ["meter.filter.clauses[0].condition.operator"],
        ),
        "no operator": (
            meter_of(clauses=[condition("name", 0, string_value="x")]),
            ["meter.filter.clauses[0].condition.operator"],
        ),
        "aggregation without a key": (meter_of(function=SUM), ["meter.aggregation.property"]),
        "count with a key": (meter_of(prop="metadata.x"), ["meter.aggregation.property"]),
        "too deep": (
            meters_pb2.Meter(
                name="x", filter=deep, aggregation=meters_pb2.MeterAggregation(function=COUNT)
            ),
            ["meter.filter" + ".clauses[0].filter" * 5],
        ),
        "no name, no filter": (
            meters_pb2.Meter(aggregation=meters_pb2.MeterAggregation(function=COUNT)),
            ["meter.name", "meter.filter"],
        ),
        "a bad property": (
            meter_of(clauses=[condition("customer", EQ, string_value="x")]),
            ["meter.filter.clauses[0].condition.property"],
        ),
        "a number against the name": (
            meter_of(clauses=[condition("name", EQ, number_value=3)]),
            ["meter.filter.clauses[0].condition.number_value"],
        ),
        "like with a number": (
            meter_of(
                clauses=[condition("metadata.x", meters_pb2.FILTER_OPERATOR_LIKE, number_value=3)]
            ),
            ["meter.filter.clauses[0].condition.operator"],
        ),
        "a clause with nothing": (
            meter_of(clauses=[meters_pb2.FilterClause()]),
            ["meter.filter.clauses[0]"],
        ),
        "a pattern ending in an escape": (
            meter_of(
                clauses=[condition("name", meters_pb2.FILTER_OPERATOR_LIKE, string_value="a\\")]
            ),
            ["meter.filter.clauses[0].condition.string_value"],
        ),
    }
    for label, (meter, fields) in cases.items():
        error = await refused(create_meter(stubs, organization, meter))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, label
        assert error.fields == fields, label


async def test_updates_archive_rename_and_refilter(
    stubs: Stubs, metering_service: RunningService
) -> None:
    organization = uuid.uuid4()
    meter = await create_meter(stubs, organization, meter_of())

    async def update(change: meters_pb2.Meter, paths: list[str]) -> meters_pb2.Meter:
        change.id = meter.id
        updated: meters_pb2.Meter = await stubs.meters.UpdateMeter(
            meters_pb2.UpdateMeterRequest(
                meter=change, update_mask=field_mask_pb2.FieldMask(paths=paths)
            ),
            metadata=call_metadata(organization, idempotency_key=str(uuid.uuid4())),
        )
        return updated

    renamed = await update(meters_pb2.Meter(name="Calls"), ["name"])
    assert renamed.name == "Calls"
    refiltered = await update(
        meters_pb2.Meter(
            filter=meters_pb2.MeterFilter(conjunction=meters_pb2.FILTER_CONJUNCTION_OR)
        ),
        ["filter"],
    )
    assert refiltered.filter.conjunction == meters_pb2.FILTER_CONJUNCTION_OR
    archived = await update(meters_pb2.Meter(archived=True), ["archived"])
    assert archived.archived
    unchanged = await update(meters_pb2.Meter(archived=True), ["archived"])
    assert unchanged.update_time == archived.update_time
    error = await refused(
        update(meters_pb2.Meter(organization_id=str(uuid.uuid4())), ["organization_id"])
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert await outbox_types(metering_service, organization) == [
        "meter.created",
        "meter.updated",
        "meter.updated",
        "meter.archived",
    ]


def ts(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    found = timestamp_pb2.Timestamp()
    found.FromDatetime(moment)
    return found


async def test_quantities_by_berlin_day_with_a_meter_made_after_the_events(
    stubs: Stubs,
    metering_service: RunningService,
    servers: SessionServers,
    session_clock: FrozenClock,
) -> None:
    organization = uuid.uuid4()
    customer = await announce_customer(metering_service, servers, organization, external_id="u1")
    berlin = ZoneInfo("Europe/Berlin")
    now = session_clock.now()
    day = dt.datetime.combine(
        (now - dt.timedelta(days=3)).astimezone(berlin).date(), dt.time(), berlin
    )
    at = day.astimezone(dt.UTC)
    await ingest(
        stubs,
        organization,
        [
            # 23:30 Berlin: the first day, though UTC says the same day or the next.
            usage_event(
                customer_id=customer,
                at=at + dt.timedelta(hours=23, minutes=30),
                metadata={"tokens": 5},
            ),
            usage_event(
                customer_id=customer,
                at=at + dt.timedelta(hours=24, minutes=30),
                metadata={"tokens": 7},
            ),
            usage_event(
                customer_id=customer, at=at + dt.timedelta(hours=25), metadata={"tokens": 1}
            ),
            usage_event(
                "upload",
                customer_id=customer,
                at=at + dt.timedelta(hours=25),
                metadata={"tokens": 100},
            ),
            usage_event(
                external_customer_id="someone",
                at=at + dt.timedelta(hours=1),
                metadata={"tokens": 1000},
            ),
        ],
    )
    meter = await create_meter(stubs, organization, meter_of(function=SUM, prop="metadata.tokens"))

    async def quantities(**who: str) -> meters_pb2.MeterQuantities:
        found: meters_pb2.MeterQuantities = await stubs.meters.GetMeterQuantities(
            meters_pb2.GetMeterQuantitiesRequest(
                id=meter.id,
                start=ts(at),
                end=ts(at + dt.timedelta(days=2)),
                interval="day",
                timezone="Europe/Berlin",
                **who,
            ),
            metadata=call_metadata(organization),
        )
        return found

    mine = await quantities(customer_id=str(customer))
    assert [q.quantity for q in mine.quantities] == ["5", "8"]
    assert mine.total == "13"
    assert [q.start.ToDatetime(tzinfo=dt.UTC).astimezone(berlin).hour for q in mine.quantities] == [
        0,
        0,
    ]
    by_external = await quantities(external_customer_id="u1")
    assert by_external.total == "13"
    everyone = await quantities()
    assert Decimal(everyone.total) == 1013
    waiting = await quantities(external_customer_id="someone")
    assert waiting.total == "1000"


async def test_bad_quantity_requests_name_their_fields(stubs: Stubs) -> None:
    organization = uuid.uuid4()
    meter = await create_meter(stubs, organization, meter_of())
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cases = {
        "end before start": (
            dict(start=ts(start), end=ts(start - dt.timedelta(days=1)), interval="day"),
            ["end"],
        ),
        "no start": (dict(end=ts(start), interval="day"), ["start"]),
        "unknown interval": (
            dict(start=ts(start), end=ts(start + dt.timedelta(days=1)), interval="fortnight"),
            ["interval"],
        ),
        "unknown zone": (
            dict(
                start=ts(start),
                end=ts(start + dt.timedelta(days=1)),
                interval="day",
                timezone="Mars/Olympus",
            ),
            ["timezone"],
        ),
        "too many buckets": (
            dict(start=ts(start), end=ts(start + dt.timedelta(days=60)), interval="hour"),
            ["interval"],
        ),
        "both customers": (
            dict(
                start=ts(start),
                end=ts(start + dt.timedelta(days=1)),
                interval="day",
                customer_id=str(uuid.uuid4()),
                external_customer_id="x",
            ),
            ["customer_id"],
        ),
    }
    for label, (fields, expected) in cases.items():
        error = await refused(
            stubs.meters.GetMeterQuantities(
                meters_pb2.GetMeterQuantitiesRequest(id=meter.id, **fields),  # type: ignore[arg-type]
                metadata=call_metadata(organization),
            )
        )
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, label
        assert error.fields == expected, label


async def test_lists_filter_by_archived(stubs: Stubs) -> None:
    from google.protobuf import wrappers_pb2

    organization = uuid.uuid4()
    kept = await create_meter(stubs, organization, meter_of())
    gone = await create_meter(
        stubs,
        organization,
        meters_pb2.Meter(
            name="old",
            filter=meters_pb2.MeterFilter(),
            archived=True,
            aggregation=meters_pb2.MeterAggregation(function=COUNT),
        ),
    )
    for archived, expected in ((True, [gone.id]), (False, [kept.id]), (None, [gone.id, kept.id])):
        request = meters_pb2.ListMetersRequest()
        if archived is not None:
            request.archived.CopyFrom(wrappers_pb2.BoolValue(value=archived))
        listed = await stubs.meters.ListMeters(request, metadata=call_metadata(organization))
        assert [m.id for m in listed.meters] == expected, archived


async def test_an_organization_has_a_bounded_number_of_live_meters(
    stubs: Stubs, metering_service: RunningService
) -> None:
    organization = uuid.uuid4()
    limit = 100
    async with metering_service.app.database.transaction() as connection:
        for index in range(limit - 1):
            await connection.execute(
                "INSERT INTO metering.meters (id, organization_id, name, filter,"
                " aggregation_function, aggregation_property, archived_at, counted_watermark,"
                " created_at, updated_at) VALUES ($1, $2, $3, $4, 'count', NULL, NULL, NULL,"
                " now(), now())",
                uuid.uuid4(),
                organization,
                f"m{index}",
                {"conjunction": "and", "clauses": []},
            )
    last = await create_meter(stubs, organization, meter_of())
    error = await refused(create_meter(stubs, organization, meter_of()))
    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "METER_LIMIT_REACHED",
    )
    archived = meter_of()
    archived.archived = True
    await create_meter(stubs, organization, archived)  # an archived one takes no place
    del last


async def test_more_bad_meters(stubs: Stubs) -> None:
    organization = uuid.uuid4()
    odd = meter_of()
    odd.filter.conjunction = 77  # type: ignore[assignment]
    error = await refused(create_meter(stubs, organization, odd))
    assert error.fields == ["meter.filter.conjunction"]
    error = await refused(create_meter(stubs, organization, meter_of(name="Calls\u202e")))
    assert error.fields == ["meter.name"]
    many = meter_of(clauses=[condition("name", EQ, string_value="x")] * 51)
    error = await refused(create_meter(stubs, organization, many))
    assert error.fields == ["meter.filter"]


async def test_quantities_far_from_now_are_refused_not_failed(stubs: Stubs) -> None:
    organization = uuid.uuid4()
    meter = await create_meter(stubs, organization, meter_of())
    far = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
    error = await refused(
        stubs.meters.GetMeterQuantities(
            meters_pb2.GetMeterQuantitiesRequest(
                id=meter.id, start=ts(far - dt.timedelta(days=1)), end=ts(far), interval="day"
            ),
            metadata=call_metadata(organization),
        )
    )
    assert error.fields == ["start", "end"]
    ancient = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    error = await refused(
        stubs.meters.GetMeterQuantities(
            meters_pb2.GetMeterQuantitiesRequest(
                id=meter.id,
                start=ts(ancient),
                end=ts(ancient + dt.timedelta(days=1)),
                interval="day",
                timezone="America/New_York",
            ),
            metadata=call_metadata(organization),
        )
    )
    assert error.fields == ["start", "end"]
