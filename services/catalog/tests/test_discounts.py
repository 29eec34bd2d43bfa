"""Discounts over gRPC against real Postgres and JetStream: effects and
durations, codes, updates, validation, redemptions (also concurrent ones)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2
from sqlalchemy import func, insert, select, text

from billingos.catalog.v1 import (
    discounts_pb2,
    discounts_pb2_grpc,
    events_pb2,
    products_pb2,
    products_pb2_grpc,
)
from billingos.common.v1 import money_pb2
from billingos_catalog import models
from billingos_kit.clock import FrozenClock
from billingos_kit.sql import Query
from billingos_kit.testing.db import execute, scalar
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.plugin import TEST_EPOCH
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

DiscountStub = discounts_pb2_grpc.DiscountServiceStub
ProductStub = products_pb2_grpc.ProductServiceStub
Message = discounts_pb2.Discount

ONCE = discounts_pb2.DISCOUNT_DURATION_ONCE
REPEATING = discounts_pb2.DISCOUNT_DURATION_REPEATING
FOREVER = discounts_pb2.DISCOUNT_DURATION_FOREVER


def percent_off(basis_points: int, duration: int = ONCE, **extra: object) -> Message:
    values: dict[str, object] = {
        "name": "Launch",
        "percent_off": Message.PercentOff(basis_points=basis_points),
        "duration": duration,
    }
    values.update(extra)
    return Message(**values)


def amount_off(*amounts: tuple[str, int], duration: int = ONCE, **extra: object) -> Message:
    values: dict[str, object] = {
        "name": "Five off",
        "amount_off": Message.AmountOff(
            amounts=[money_pb2.Money(currency=c, amount_minor=a) for c, a in amounts]
        ),
        "duration": duration,
    }
    values.update(extra)
    return Message(**values)


def at(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def create(discounts: DiscountStub, tenant, discount: Message) -> Message:
    return await discounts.CreateDiscount(
        discounts_pb2.CreateDiscountRequest(discount=discount), metadata=tenant.metadata()
    )


async def update(
    discounts: DiscountStub, tenant, discount: Message, *paths: str
) -> discounts_pb2.Discount:
    return await discounts.UpdateDiscount(
        discounts_pb2.UpdateDiscountRequest(
            discount=discount, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
        ),
        metadata=tenant.metadata(),
    )


async def get(discounts: DiscountStub, tenant, discount_id: str) -> Message:
    return await discounts.GetDiscount(
        discounts_pb2.GetDiscountRequest(id=discount_id), metadata=tenant.metadata()
    )


async def validate(
    discounts: DiscountStub,
    tenant,
    *,
    product_id: str,
    currency: str = "USD",
    code: str = "",
    discount_id: str = "",
    time: timestamp_pb2.Timestamp | None = None,
) -> discounts_pb2.ValidateDiscountResponse:
    return await discounts.ValidateDiscount(
        discounts_pb2.ValidateDiscountRequest(
            code=code, discount_id=discount_id, product_id=product_id, currency=currency, time=time
        ),
        metadata=tenant.metadata(),
    )


async def redeem(
    discounts: DiscountStub,
    tenant,
    discount_id: str,
    reference: str,
    *,
    product_id: str,
    currency: str = "USD",
    customer_id: str = "",
) -> discounts_pb2.DiscountRedemption:
    return await discounts.RedeemDiscount(
        discounts_pb2.RedeemDiscountRequest(
            id=discount_id,
            product_id=product_id,
            currency=currency,
            reference=reference,
            customer_id=customer_id,
        ),
        metadata=tenant.metadata(),
    )


async def new_product(products: ProductStub, tenant, name: str = "Plan") -> products_pb2.Product:
    return await products.CreateProduct(
        products_pb2.CreateProductRequest(product=products_pb2.Product(name=name)),
        metadata=tenant.metadata(),
    )


async def known_customer(service: RunningService, tenant, *, deleted: bool = False) -> str:
    """A customer the catalog's read copy knows, as the customers events leave
    it (test_read_copies.py drives the events themselves)."""
    customer_id = uuid.uuid4()
    values: dict[str, object] = {"id": customer_id, "organization_id": tenant.organization_id}
    if deleted:
        values["deleted_at"] = TEST_EPOCH
    await execute(service.app.database, insert(models.customers).values(values))
    return str(customer_id)


async def refusal(call: Awaitable[object]) -> CallError:
    """The error of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def discount_rows_and_events(
    service: RunningService, organization_id: uuid.UUID
) -> tuple[int, int]:
    """How many discounts (deleted ones too) and outbox events the organization has."""
    table, outbox = models.discounts, models.kit_tables.outbox
    database = service.app.database
    discounts = await scalar(
        database,
        select(func.count()).select_from(table).where(table.c.organization_id == organization_id),
    )
    events = await scalar(
        database,
        select(func.count()).select_from(outbox).where(outbox.c.organization_id == organization_id),
    )
    return int(discounts or 0), int(events or 0)


async def redemption_rows(service: RunningService, discount_id: str) -> int:
    table = models.discount_redemptions
    found = await scalar(
        service.app.database,
        select(func.count())
        .select_from(table)
        .where(table.c.discount_id == uuid.UUID(discount_id)),
    )
    return int(found or 0)


# ---- creating ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "months"),
    [(ONCE, 0), (REPEATING, 3), (FOREVER, 0)],
    ids=["once", "repeating", "forever"],
)
async def test_percentage_discount_with_each_duration(
    discounts: DiscountStub, tenant, session_clock: FrozenClock, duration: int, months: int
) -> None:
    created = await create(
        discounts, tenant, percent_off(2550, duration, duration_in_months=months)
    )
    assert created.WhichOneof("effect") == "percent_off"
    assert created.percent_off.basis_points == 2550
    assert created.duration == duration
    assert created.duration_in_months == months
    assert created.duration_in_intervals == 0
    assert created.redemption_count == 0
    assert not created.HasField("max_redemptions")
    assert created.organization_id == str(tenant.organization_id)
    assert created.create_time == at(session_clock.now())
    assert await get(discounts, tenant, created.id) == created


@pytest.mark.parametrize(
    ("duration", "months"),
    [(ONCE, 0), (REPEATING, 12), (FOREVER, 0)],
    ids=["once", "repeating", "forever"],
)
async def test_fixed_discount_per_currency_with_each_duration(
    discounts: DiscountStub, tenant, duration: int, months: int
) -> None:
    created = await create(
        discounts,
        tenant,
        amount_off(("usd", 500), ("EUR", 450), duration=duration, duration_in_months=months),
    )
    assert created.WhichOneof("effect") == "amount_off"
    assert list(created.amount_off.amounts) == [
        money_pb2.Money(currency="EUR", amount_minor=450),
        money_pb2.Money(currency="USD", amount_minor=500),
    ]
    assert created.duration == duration
    assert created.duration_in_months == months
    assert await get(discounts, tenant, created.id) == created


async def test_every_optional_field_is_read_back(
    discounts: DiscountStub, products: ProductStub, tenant, session_clock: FrozenClock
) -> None:
    product = await new_product(products, tenant)
    starts = session_clock.now() + dt.timedelta(days=1)
    ends = starts + dt.timedelta(days=30)
    created = await create(
        discounts,
        tenant,
        percent_off(
            1000,
            code="Spring-2026",
            max_redemptions=100,
            start_time=at(starts),
            end_time=at(ends),
            product_ids=[product.id],
            metadata={"campaign": struct_pb2.Value(string_value="spring")},
        ),
    )
    assert created.code == "Spring-2026"
    assert created.max_redemptions == 100
    assert created.start_time == at(starts)
    assert created.end_time == at(ends)
    assert list(created.product_ids) == [product.id]
    assert created.metadata["campaign"].string_value == "spring"
    assert await get(discounts, tenant, created.id) == created


# ---- codes -------------------------------------------------------------------


async def test_code_is_unique_per_organization_ignoring_case(
    discounts: DiscountStub, catalog_service: RunningService, tenant
) -> None:
    await create(discounts, tenant, percent_off(1000, code="SUMMER25"))
    before = await discount_rows_and_events(catalog_service, tenant.organization_id)
    error = await refusal(create(discounts, tenant, percent_off(2000, code="summer25")))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "DISCOUNT_CODE_ALREADY_EXISTS"
    assert error.fields == ["discount.code"]
    assert await discount_rows_and_events(catalog_service, tenant.organization_id) == before


async def test_a_deleted_discounts_code_is_free_again(discounts: DiscountStub, tenant) -> None:
    first = await create(discounts, tenant, percent_off(1000, code="WELCOME"))
    deleted = await discounts.DeleteDiscount(
        discounts_pb2.DeleteDiscountRequest(id=first.id), metadata=tenant.metadata()
    )
    assert deleted.id == first.id
    gone = await refusal(get(discounts, tenant, first.id))
    assert gone.code == grpc.StatusCode.NOT_FOUND
    second = await create(discounts, tenant, percent_off(1500, code="welcome"))
    assert second.code == "welcome"
    found = await validate(discounts, tenant, code="WELCOME", product_id=str(uuid.uuid4()))
    assert found.discount.id == second.id


async def test_another_organization_may_use_the_same_code(
    discounts: DiscountStub, tenant, other_tenant
) -> None:
    ours = await create(discounts, tenant, percent_off(1000, code="BLACKFRIDAY"))
    theirs = await create(discounts, other_tenant, percent_off(5000, code="BLACKFRIDAY"))
    assert ours.id != theirs.id
    ours_found = await validate(discounts, tenant, code="blackfriday", product_id=str(uuid.uuid4()))
    assert ours_found.discount.id == ours.id


async def test_changing_the_code_to_a_taken_one_is_refused(discounts: DiscountStub, tenant) -> None:
    await create(discounts, tenant, percent_off(1000, code="TAKEN"))
    other = await create(discounts, tenant, percent_off(1000, code="FREE"))
    error = await refusal(update(discounts, tenant, Message(id=other.id, code="taken"), "code"))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "DISCOUNT_CODE_ALREADY_EXISTS"
    assert (await get(discounts, tenant, other.id)).code == "FREE"


async def test_concurrent_creates_with_one_code_leave_one_discount(
    discounts: DiscountStub, catalog_service: RunningService, tenant
) -> None:
    async def attempt(index: int) -> Message | CallError:
        try:
            return await create(
                discounts, tenant, percent_off(1000, name=f"Race {index}", code="RACE")
            )
        except grpc.aio.AioRpcError as error:
            return call_error(error)

    outcomes = await asyncio.gather(*(attempt(index) for index in range(8)))
    created = [o for o in outcomes if isinstance(o, Message)]
    refused = [o for o in outcomes if isinstance(o, CallError)]
    assert len(created) == 1
    assert {e.code for e in refused} == {grpc.StatusCode.ALREADY_EXISTS}
    assert (await discount_rows_and_events(catalog_service, tenant.organization_id)) == (1, 1)


async def lock_waiters(service: RunningService) -> int:
    """How many of the database's sessions wait for a lock."""
    found = await scalar(
        service.app.database,
        text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ),
    )
    return int(found or 0)


async def test_a_create_that_loses_a_race_for_the_code_is_told_the_code_is_taken(
    discounts: DiscountStub, catalog_service: RunningService, tenant, session_clock: FrozenClock
) -> None:
    """Another create of the code is in flight (inserted, not committed): the
    call waits on the unique index, then must still say which field collided."""
    now = session_clock.now()
    in_flight = insert(models.discounts).values(
        id=uuid.uuid4(),
        organization_id=tenant.organization_id,
        name="In flight",
        code="RACE",
        basis_points=500,
        duration="once",
        redemption_count=0,
        product_ids=[],
        metadata={},
        created_at=now,
        updated_at=now,
    )
    async with catalog_service.app.database.transaction() as racing:
        await Query.of(in_flight).execute(racing)
        call = asyncio.ensure_future(create(discounts, tenant, percent_off(1000, code="race")))
        deadline = time.monotonic() + 15.0
        while await lock_waiters(catalog_service) == 0:
            assert not call.done(), "the create should wait for the racing insert"
            assert time.monotonic() < deadline, "the create never reached the unique index"
            await asyncio.sleep(0.05)
    error = await refusal(call)
    assert error.code == grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "DISCOUNT_CODE_ALREADY_EXISTS"
    assert error.fields == ["discount.code"]
    assert (await discount_rows_and_events(catalog_service, tenant.organization_id)) == (1, 0)


async def test_list_discounts_filters_by_code_and_pages_newest_first(
    discounts: DiscountStub, tenant
) -> None:
    first = await create(discounts, tenant, percent_off(1000, code="ALPHA"))
    second = await create(discounts, tenant, percent_off(1000))
    deleted = await create(discounts, tenant, percent_off(1000, code="GONE"))
    third = await create(discounts, tenant, amount_off(("USD", 100), code="GAMMA"))
    await discounts.DeleteDiscount(
        discounts_pb2.DeleteDiscountRequest(id=deleted.id), metadata=tenant.metadata()
    )

    async def listing(**request: object) -> discounts_pb2.ListDiscountsResponse:
        return await discounts.ListDiscounts(
            discounts_pb2.ListDiscountsRequest(**request), metadata=tenant.metadata()
        )

    assert [d.id for d in (await listing()).discounts] == [third.id, second.id, first.id]
    assert [d.id for d in (await listing(code="alpha")).discounts] == [first.id]
    assert (await listing(code="gone")).discounts == []
    page_one = await listing(page_size=2)
    page_two = await listing(page_size=2, page_token=page_one.next_page_token)
    assert [d.id for d in [*page_one.discounts, *page_two.discounts]] == [
        third.id,
        second.id,
        first.id,
    ]
    assert page_two.next_page_token == ""


async def test_listing_by_a_code_no_discount_could_have_is_refused(
    discounts: DiscountStub, tenant
) -> None:
    error = await refusal(
        discounts.ListDiscounts(
            discounts_pb2.ListDiscountsRequest(code="NOT A CODE"), metadata=tenant.metadata()
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["code"]


# ---- bad input ---------------------------------------------------------------

CREATE_REFUSALS = [
    (percent_off(0), "discount.percent_off.basis_points", "zero-percent"),
    (percent_off(10_001), "discount.percent_off.basis_points", "over-100-percent"),
    (Message(name="Nothing", duration=ONCE), "discount.effect", "no-effect"),
    (amount_off(), "discount.amount_off.amounts", "fixed-without-currencies"),
    (amount_off(("XXX", 500)), "discount.amount_off.amounts[0].currency", "unknown-currency"),
    (
        amount_off(("USD", 500), ("usd", 400)),
        "discount.amount_off.amounts[1].currency",
        "duplicate-currency",
    ),
    (amount_off(("USD", 0)), "discount.amount_off.amounts[0].amount_minor", "zero-amount"),
    (amount_off(("USD", -5)), "discount.amount_off.amounts[0].amount_minor", "negative-amount"),
    (percent_off(1000, REPEATING), "discount.duration_in_months", "repeating-no-months"),
    (
        percent_off(1000, REPEATING, duration_in_months=121),
        "discount.duration_in_months",
        "repeating-too-long",
    ),
    (
        percent_off(1000, ONCE, duration_in_months=3),
        "discount.duration_in_months",
        "months-on-once",
    ),
    # Repeating discounts count months, as Stripe and Polar do; a count of
    # billing periods is refused, never read as months.
    (
        percent_off(1000, REPEATING, duration_in_intervals=3, duration_in_months=3),
        "discount.duration_in_intervals",
        "periods-instead-of-months",
    ),
    (amount_off(("IQD", 5000)), "discount.amount_off.amounts[0].currency", "not-a-stripe-currency"),
    (
        percent_off(1000, discounts_pb2.DISCOUNT_DURATION_UNSPECIFIED),
        "discount.duration",
        "no-duration",
    ),
    (percent_off(1000, code="SUMMER 25"), "discount.code", "code-with-space"),
    (percent_off(1000, code="AB"), "discount.code", "code-too-short"),
    (percent_off(1000, code="X" * 65), "discount.code", "code-too-long"),
    (
        percent_off(
            1000,
            start_time=at(dt.datetime(2031, 6, 1, tzinfo=dt.UTC)),
            end_time=at(dt.datetime(2031, 5, 1, tzinfo=dt.UTC)),
        ),
        "discount.end_time",
        "end-before-start",
    ),
    (percent_off(1000, max_redemptions=0), "discount.max_redemptions", "max-redemptions-zero"),
    (percent_off(1000, name="  "), "discount.name", "blank-name"),
]


@pytest.mark.parametrize(
    ("discount", "field"),
    [(discount, field) for discount, field, _ in CREATE_REFUSALS],
    ids=[name for _, _, name in CREATE_REFUSALS],
)
async def test_bad_discount_names_the_field_and_leaves_nothing_behind(
    discounts: DiscountStub,
    catalog_service: RunningService,
    tenant,
    discount: Message,
    field: str,
) -> None:
    error = await refusal(create(discounts, tenant, discount))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]
    assert await discount_rows_and_events(catalog_service, tenant.organization_id) == (0, 0)


@pytest.mark.parametrize("whose", ["unknown", "other-organization", "malformed"])
async def test_discount_for_a_product_that_is_not_ours_is_refused(
    discounts: DiscountStub,
    products: ProductStub,
    catalog_service: RunningService,
    tenant,
    other_tenant,
    whose: str,
) -> None:
    ours = await new_product(products, tenant)
    if whose == "unknown":
        product_id = str(uuid.uuid4())
    elif whose == "other-organization":
        product_id = (await new_product(products, other_tenant)).id
    else:
        product_id = "product-1"
    before = await discount_rows_and_events(catalog_service, tenant.organization_id)
    error = await refusal(
        create(discounts, tenant, percent_off(1000, product_ids=[ours.id, product_id]))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["discount.product_ids[1]"]
    assert await discount_rows_and_events(catalog_service, tenant.organization_id) == before


# ---- updating ----------------------------------------------------------------


async def test_update_changes_name_code_limit_and_end_and_announces_the_mask(
    discounts: DiscountStub, tenant, session_clock: FrozenClock, servers: SessionServers
) -> None:
    created = await create(discounts, tenant, percent_off(1000, code="OLD", max_redemptions=10))
    ends = session_clock.now() + dt.timedelta(days=7)
    updated = await update(
        discounts,
        tenant,
        Message(id=created.id, name="Renamed", code="NEW", max_redemptions=20, end_time=at(ends)),
        "name",
        "code",
        "max_redemptions",
        "end_time",
    )
    assert (updated.name, updated.code, updated.max_redemptions) == ("Renamed", "NEW", 20)
    assert updated.end_time == at(ends)
    assert updated.percent_off.basis_points == 1000
    assert await get(discounts, tenant, created.id) == updated
    found = await published_events(
        servers.nats_url, "billingos.catalog.discount.updated", tenant.organization_id
    )
    payload = events_pb2.DiscountUpdatedEvent()
    assert found[0].data.Unpack(payload)
    assert payload.discount == updated
    assert list(payload.update_mask.paths) == ["name", "code", "max_redemptions", "end_time"]


async def test_update_without_a_mask_takes_the_updatable_fields_sent(
    discounts: DiscountStub, tenant
) -> None:
    created = await create(
        discounts, tenant, percent_off(1000, REPEATING, duration_in_months=3, code="ROUND")
    )
    edited = discounts_pb2.Discount()
    edited.CopyFrom(created)
    edited.name = "Round trip"
    updated = await discounts.UpdateDiscount(
        discounts_pb2.UpdateDiscountRequest(discount=edited), metadata=tenant.metadata()
    )
    assert updated.name == "Round trip"
    assert updated.code == "ROUND"
    assert updated.percent_off.basis_points == 1000
    assert updated.duration_in_months == 3


async def test_update_that_changes_nothing_announces_nothing(
    discounts: DiscountStub, catalog_service: RunningService, tenant
) -> None:
    created = await create(discounts, tenant, percent_off(1000, name="Same"))
    before = await discount_rows_and_events(catalog_service, tenant.organization_id)
    unchanged = await update(discounts, tenant, Message(id=created.id, name="Same"), "name")
    assert unchanged == created
    assert await discount_rows_and_events(catalog_service, tenant.organization_id) == before


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("percent_off", {"percent_off": Message.PercentOff(basis_points=5000)}),
        (
            "amount_off",
            {
                "amount_off": Message.AmountOff(
                    amounts=[money_pb2.Money(currency="USD", amount_minor=100)]
                )
            },
        ),
        ("duration", {"duration": FOREVER}),
        ("duration_in_intervals", {"duration_in_intervals": 6}),
        ("duration_in_months", {"duration_in_months": 6}),
    ],
)
async def test_what_a_discount_takes_off_cannot_change(
    discounts: DiscountStub,
    catalog_service: RunningService,
    tenant,
    path: str,
    change: dict[str, object],
) -> None:
    created = await create(discounts, tenant, percent_off(1000, REPEATING, duration_in_months=3))
    before = await discount_rows_and_events(catalog_service, tenant.organization_id)
    error = await refusal(update(discounts, tenant, Message(id=created.id, **change), path))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [f"discount.{path}"]
    assert await get(discounts, tenant, created.id) == created
    assert await discount_rows_and_events(catalog_service, tenant.organization_id) == before


async def test_max_redemptions_cannot_go_below_the_redemptions_so_far(
    discounts: DiscountStub, products: ProductStub, tenant
) -> None:
    created = await create(discounts, tenant, percent_off(1000, max_redemptions=5))
    product = await new_product(products, tenant)
    for reference in ("checkout-1", "checkout-2", "checkout-3"):
        await redeem(discounts, tenant, created.id, reference, product_id=product.id)
    error = await refusal(
        update(discounts, tenant, Message(id=created.id, max_redemptions=2), "max_redemptions")
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["discount.max_redemptions"]
    assert (await get(discounts, tenant, created.id)).max_redemptions == 5
    lowered = await update(
        discounts, tenant, Message(id=created.id, max_redemptions=3), "max_redemptions"
    )
    assert lowered.max_redemptions == 3


async def test_end_time_moved_before_the_start_is_refused(
    discounts: DiscountStub, tenant, session_clock: FrozenClock
) -> None:
    starts = session_clock.now() + dt.timedelta(days=10)
    created = await create(discounts, tenant, percent_off(1000, start_time=at(starts)))
    error = await refusal(
        update(
            discounts,
            tenant,
            Message(id=created.id, end_time=at(starts - dt.timedelta(days=1))),
            "end_time",
        )
    )
    assert error.fields == ["discount.end_time"]


async def test_another_organizations_discount_is_not_found(
    discounts: DiscountStub, tenant, other_tenant
) -> None:
    theirs = await create(discounts, other_tenant, percent_off(1000, code="THEIRS"))
    assert (await refusal(get(discounts, tenant, theirs.id))).code == grpc.StatusCode.NOT_FOUND
    renamed = update(discounts, tenant, Message(id=theirs.id, name="Mine"), "name")
    assert (await refusal(renamed)).code == grpc.StatusCode.NOT_FOUND
    deleted = discounts.DeleteDiscount(
        discounts_pb2.DeleteDiscountRequest(id=theirs.id), metadata=tenant.metadata()
    )
    assert (await refusal(deleted)).code == grpc.StatusCode.NOT_FOUND
    by_code = validate(discounts, tenant, code="THEIRS", product_id=str(uuid.uuid4()))
    assert (await refusal(by_code)).code == grpc.StatusCode.NOT_FOUND
    by_id = validate(discounts, tenant, discount_id=theirs.id, product_id=str(uuid.uuid4()))
    assert (await refusal(by_id)).code == grpc.StatusCode.NOT_FOUND
    redeemed = redeem(discounts, tenant, theirs.id, "checkout-1", product_id=str(uuid.uuid4()))
    assert (await refusal(redeemed)).code == grpc.StatusCode.NOT_FOUND
    assert await get(discounts, other_tenant, theirs.id) == theirs


# ---- validating --------------------------------------------------------------


async def test_validate_by_code_in_any_case_and_by_id(discounts: DiscountStub, tenant) -> None:
    created = await create(discounts, tenant, percent_off(1000, code="Partner-10"))
    product_id = str(uuid.uuid4())
    for found in (
        await validate(discounts, tenant, code="partner-10", product_id=product_id),
        await validate(discounts, tenant, code="PARTNER-10", product_id=product_id),
        await validate(discounts, tenant, discount_id=created.id, product_id=product_id),
    ):
        assert found.applicable
        assert found.ineligibility == discounts_pb2.DISCOUNT_INELIGIBILITY_UNSPECIFIED
        assert found.discount == created


async def test_an_unknown_code_is_not_found(discounts: DiscountStub, tenant) -> None:
    error = await refusal(validate(discounts, tenant, code="NOPE", product_id=str(uuid.uuid4())))
    assert error.code == grpc.StatusCode.NOT_FOUND


async def test_validate_needs_a_code_or_an_id(discounts: DiscountStub, tenant) -> None:
    error = await refusal(validate(discounts, tenant, product_id=str(uuid.uuid4())))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["code"]


async def test_a_discount_before_its_start_is_not_started(
    discounts: DiscountStub, tenant, session_clock: FrozenClock
) -> None:
    starts = session_clock.now() + dt.timedelta(days=1)
    created = await create(discounts, tenant, percent_off(1000, start_time=at(starts)))
    product_id = str(uuid.uuid4())
    now = await validate(discounts, tenant, discount_id=created.id, product_id=product_id)
    assert not now.applicable
    assert now.ineligibility == discounts_pb2.DISCOUNT_INELIGIBILITY_NOT_STARTED
    later = await validate(
        discounts, tenant, discount_id=created.id, product_id=product_id, time=at(starts)
    )
    assert later.applicable


async def test_a_discount_after_its_end_is_expired(
    discounts: DiscountStub, tenant, session_clock: FrozenClock
) -> None:
    ends = session_clock.now() + dt.timedelta(hours=1)
    created = await create(discounts, tenant, percent_off(1000, end_time=at(ends)))
    product_id = str(uuid.uuid4())
    before_end = await validate(discounts, tenant, discount_id=created.id, product_id=product_id)
    assert before_end.applicable
    session_clock.advance(dt.timedelta(hours=1))
    after_end = await validate(discounts, tenant, discount_id=created.id, product_id=product_id)
    assert not after_end.applicable
    assert after_end.ineligibility == discounts_pb2.DISCOUNT_INELIGIBILITY_EXPIRED


async def test_a_discount_limited_to_products_applies_only_to_them(
    discounts: DiscountStub, products: ProductStub, tenant
) -> None:
    eligible = await new_product(products, tenant, "Pro")
    other = await new_product(products, tenant, "Basic")
    created = await create(discounts, tenant, percent_off(1000, product_ids=[eligible.id]))
    for_eligible = await validate(discounts, tenant, discount_id=created.id, product_id=eligible.id)
    assert for_eligible.applicable
    for_other = await validate(discounts, tenant, discount_id=created.id, product_id=other.id)
    assert not for_other.applicable
    assert for_other.ineligibility == discounts_pb2.DISCOUNT_INELIGIBILITY_PRODUCT_NOT_ELIGIBLE


async def test_a_fixed_discount_without_the_prices_currency_is_not_supported(
    discounts: DiscountStub, tenant
) -> None:
    fixed = await create(discounts, tenant, amount_off(("USD", 500)))
    percentage = await create(discounts, tenant, percent_off(1000))
    product_id = str(uuid.uuid4())
    in_usd = await validate(
        discounts, tenant, discount_id=fixed.id, product_id=product_id, currency="usd"
    )
    assert in_usd.applicable
    in_eur = await validate(
        discounts, tenant, discount_id=fixed.id, product_id=product_id, currency="EUR"
    )
    assert not in_eur.applicable
    assert in_eur.ineligibility == discounts_pb2.DISCOUNT_INELIGIBILITY_CURRENCY_NOT_SUPPORTED
    percentage_in_eur = await validate(
        discounts, tenant, discount_id=percentage.id, product_id=product_id, currency="EUR"
    )
    assert percentage_in_eur.applicable


async def test_a_fully_redeemed_discount_has_reached_its_limit(
    discounts: DiscountStub, products: ProductStub, tenant
) -> None:
    created = await create(discounts, tenant, percent_off(1000, max_redemptions=1))
    product = await new_product(products, tenant)
    await redeem(discounts, tenant, created.id, "checkout-1", product_id=product.id)
    found = await validate(discounts, tenant, discount_id=created.id, product_id=str(uuid.uuid4()))
    assert not found.applicable
    assert found.ineligibility == discounts_pb2.DISCOUNT_INELIGIBILITY_MAX_REDEMPTIONS_REACHED
    assert found.discount.redemption_count == 1


# ---- redeeming ---------------------------------------------------------------


async def test_redeeming_counts_one_use_once_per_reference(
    discounts: DiscountStub,
    products: ProductStub,
    catalog_service: RunningService,
    tenant,
    session_clock: FrozenClock,
) -> None:
    created = await create(discounts, tenant, percent_off(1000, max_redemptions=10))
    product = await new_product(products, tenant)
    customer_id = await known_customer(catalog_service, tenant)
    first = await redeem(
        discounts, tenant, created.id, "checkout-42", product_id=product.id, customer_id=customer_id
    )
    assert first.discount_id == created.id
    assert first.reference == "checkout-42"
    assert first.customer_id == customer_id
    assert first.redeem_time == at(session_clock.now())
    assert (await get(discounts, tenant, created.id)).redemption_count == 1

    again = await redeem(
        discounts, tenant, created.id, "checkout-42", product_id=product.id, customer_id=customer_id
    )
    assert again == first
    assert (await get(discounts, tenant, created.id)).redemption_count == 1
    assert await redemption_rows(catalog_service, created.id) == 1


async def test_the_same_reference_returns_its_redemption_even_once_the_limit_is_reached(
    discounts: DiscountStub, products: ProductStub, tenant
) -> None:
    created = await create(discounts, tenant, percent_off(1000, max_redemptions=1))
    product = await new_product(products, tenant)
    first = await redeem(discounts, tenant, created.id, "subscription-1", product_id=product.id)
    again = await redeem(discounts, tenant, created.id, "subscription-1", product_id=product.id)
    assert again == first


async def test_ineligible_purchases_are_refused_with_the_reason(
    discounts: DiscountStub,
    products: ProductStub,
    catalog_service: RunningService,
    tenant,
    session_clock: FrozenClock,
) -> None:
    eligible = await new_product(products, tenant)
    later = session_clock.now() + dt.timedelta(days=3)
    limited = await create(
        discounts, tenant, amount_off(("USD", 500), max_redemptions=1, product_ids=[eligible.id])
    )
    await redeem(discounts, tenant, limited.id, "first", product_id=eligible.id)
    not_started = await create(discounts, tenant, percent_off(1000, start_time=at(later)))
    fixed_usd = await create(discounts, tenant, amount_off(("USD", 500)))
    for_product = await create(discounts, tenant, percent_off(1000, product_ids=[eligible.id]))
    other = await new_product(products, tenant, "Other plan")

    cases = [
        (limited.id, eligible.id, "USD", "DISCOUNT_MAX_REDEMPTIONS_REACHED"),
        (not_started.id, eligible.id, "USD", "DISCOUNT_NOT_STARTED"),
        (fixed_usd.id, eligible.id, "EUR", "DISCOUNT_CURRENCY_NOT_SUPPORTED"),
        (for_product.id, other.id, "USD", "DISCOUNT_PRODUCT_NOT_ELIGIBLE"),
    ]
    for discount_id, product_id, currency, reason in cases:
        error = await refusal(
            redeem(
                discounts,
                tenant,
                discount_id,
                "second",
                product_id=product_id,
                currency=currency,
            )
        )
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert error.reason == reason
        expected_count = 1 if discount_id == limited.id else 0
        assert (await get(discounts, tenant, discount_id)).redemption_count == expected_count
        assert await redemption_rows(catalog_service, discount_id) == expected_count


async def test_an_expired_discount_cannot_be_redeemed(
    discounts: DiscountStub, products: ProductStub, tenant, session_clock: FrozenClock
) -> None:
    ends = session_clock.now() + dt.timedelta(minutes=30)
    created = await create(discounts, tenant, percent_off(1000, end_time=at(ends)))
    product = await new_product(products, tenant)
    session_clock.advance(dt.timedelta(minutes=31))
    error = await refusal(
        redeem(discounts, tenant, created.id, "late-checkout", product_id=product.id)
    )
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "DISCOUNT_EXPIRED"


@pytest.mark.parametrize("reference", ["", "   ", "r" * 257])
async def test_redeeming_needs_a_reference(discounts: DiscountStub, tenant, reference: str) -> None:
    created = await create(discounts, tenant, percent_off(1000))
    error = await refusal(
        redeem(discounts, tenant, created.id, reference, product_id=str(uuid.uuid4()))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == ["reference"]


async def test_a_redemption_naming_an_unknown_product_or_customer_uses_nothing_up(
    discounts: DiscountStub,
    products: ProductStub,
    catalog_service: RunningService,
    tenant,
    other_tenant,
) -> None:
    created = await create(discounts, tenant, percent_off(1000, max_redemptions=1))
    ours = await new_product(products, tenant)
    theirs = await new_product(products, other_tenant)
    their_customer = await known_customer(catalog_service, other_tenant)
    cases = [
        ({"product_id": str(uuid.uuid4())}, "PRODUCT_NOT_FOUND"),
        ({"product_id": theirs.id}, "PRODUCT_NOT_FOUND"),
        ({"product_id": ours.id, "customer_id": str(uuid.uuid4())}, "CUSTOMER_NOT_FOUND"),
        ({"product_id": ours.id, "customer_id": their_customer}, "CUSTOMER_NOT_FOUND"),
    ]
    for index, (names, reason) in enumerate(cases):
        error = await refusal(redeem(discounts, tenant, created.id, f"try-{index}", **names))
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, reason)
    assert (await get(discounts, tenant, created.id)).redemption_count == 0
    assert await redemption_rows(catalog_service, created.id) == 0
    # The one use is still there for a real purchase.
    await redeem(discounts, tenant, created.id, "real", product_id=ours.id)
    assert (await get(discounts, tenant, created.id)).redemption_count == 1


async def test_a_deleted_customer_can_no_longer_redeem(
    discounts: DiscountStub, products: ProductStub, catalog_service: RunningService, tenant
) -> None:
    created = await create(discounts, tenant, percent_off(1000))
    product = await new_product(products, tenant)
    customer_id = await known_customer(catalog_service, tenant, deleted=True)
    error = await refusal(
        redeem(discounts, tenant, created.id, "c", product_id=product.id, customer_id=customer_id)
    )
    assert error.reason == "CUSTOMER_NOT_FOUND"


async def test_concurrent_redemptions_never_exceed_the_limit(
    discounts: DiscountStub, products: ProductStub, catalog_service: RunningService, tenant
) -> None:
    created = await create(discounts, tenant, percent_off(1000, max_redemptions=5))
    product_id = (await new_product(products, tenant)).id

    async def attempt(index: int) -> discounts_pb2.DiscountRedemption | CallError:
        try:
            return await redeem(
                discounts, tenant, created.id, f"checkout-{index}", product_id=product_id
            )
        except grpc.aio.AioRpcError as error:
            return call_error(error)

    outcomes = await asyncio.gather(*(attempt(index) for index in range(20)))

    redeemed = [o for o in outcomes if isinstance(o, discounts_pb2.DiscountRedemption)]
    refused = [o for o in outcomes if isinstance(o, CallError)]
    assert len(redeemed) == 5
    assert len({r.reference for r in redeemed}) == 5
    assert len(refused) == 15
    assert {(e.code, e.reason) for e in refused} == {
        (grpc.StatusCode.FAILED_PRECONDITION, "DISCOUNT_MAX_REDEMPTIONS_REACHED")
    }
    assert (await get(discounts, tenant, created.id)).redemption_count == 5
    assert await redemption_rows(catalog_service, created.id) == 5


# ---- events ------------------------------------------------------------------


async def test_create_update_and_delete_are_published(
    discounts: DiscountStub, tenant, servers: SessionServers
) -> None:
    created = await create(discounts, tenant, percent_off(1000, code="EVENTS"))
    updated = await update(discounts, tenant, Message(id=created.id, name="Events+"), "name")
    deleted = await discounts.DeleteDiscount(
        discounts_pb2.DeleteDiscountRequest(id=created.id), metadata=tenant.metadata()
    )

    created_events = await published_events(
        servers.nats_url, "billingos.catalog.discount.created", tenant.organization_id
    )
    created_payload = events_pb2.DiscountCreatedEvent()
    assert created_events[0].data.Unpack(created_payload)
    assert created_payload.discount == created

    updated_events = await published_events(
        servers.nats_url, "billingos.catalog.discount.updated", tenant.organization_id
    )
    updated_payload = events_pb2.DiscountUpdatedEvent()
    assert updated_events[0].data.Unpack(updated_payload)
    assert updated_payload.discount == updated
    assert list(updated_payload.update_mask.paths) == ["name"]

    deleted_events = await published_events(
        servers.nats_url, "billingos.catalog.discount.deleted", tenant.organization_id
    )
    deleted_payload = events_pb2.DiscountDeletedEvent()
    assert deleted_events[0].data.Unpack(deleted_payload)
    assert deleted_payload.discount == deleted
    assert [len(created_events), len(updated_events), len(deleted_events)] == [1, 1, 1]
