"""The subscriptions service under test, and what its tests stand on.

Two ways in:
- `Shop` (fixture `shop`): an organization calling the running service's
  gRPC API as an internal caller, with the real catalog running beside it
  (the service asks it for prices it has not copied yet, records purchases
  and validates and redeems discounts there). Customers are seeded into both
  services' read copies, as the customers context's events would leave them.
- `Books` (fixture `books`): an organization whose subscriptions are seeded
  as rows, for driving the engine's classes (Billing, Scheduler, Charger)
  in-process against the service's database, on a FrozenClock of the test's
  own set years ahead of the session's, so no worker of the running service
  (or of a suite on the real clock) ever finds that work due.

Both fixtures take their organization's work off every worker when the test
ends (nothing left due, to be sent or retried), so one test's leftovers are
never another test's due rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from sqlalchemy import func, select, update

from billingos.catalog.v1 import (
    discounts_pb2,
    discounts_pb2_grpc,
    products_pb2,
    products_pb2_grpc,
)
from billingos.customers.v1 import customers_pb2
from billingos.subscriptions.v1 import (
    orders_pb2_grpc,
    seats_pb2_grpc,
    subscriptions_pb2,
    subscriptions_pb2_grpc,
    test_clocks_pb2_grpc,
)
from billingos_kit.clock import FrozenClock
from billingos_kit.customer_directory import CustomerDirectory
from billingos_kit.db import Database
from billingos_kit.ids import new_id
from billingos_kit.protoconv import timestamp
from billingos_kit.repository import OnConnection
from billingos_kit.testing.db import execute, rows, scalar
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.processes import service_process
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import (
    TEST_SERVICE_TOKEN,
    RunningService,
    call_metadata,
    running_service,
)
from billingos_kit.testing.waiting import eventually
from billingos_kit.workscope import OrganizationWork
from billingos_subscriptions import models
from billingos_subscriptions.app import MIGRATIONS_DIR, build_app
from billingos_subscriptions.billing import Billing, LineDraft, PaymentResult, period_billing_key
from billingos_subscriptions.catalog_copy import customer_copy, price_copy, product_copy
from billingos_subscriptions.clients import CatalogClient
from billingos_subscriptions.models import (
    Order,
    PaymentAttempt,
    Subscription,
    SubscriptionItem,
    kit_tables,
)
from billingos_subscriptions.periods import BillingInterval, IntervalUnit, boundary
from billingos_subscriptions.repository import (
    CustomerCopies,
    ItemRepository,
    PriceCopies,
    ProductCopies,
    SubscriptionRepository,
)
from billingos_subscriptions.scheduler import Scheduler
from billingos_subscriptions.settings import SubscriptionsSettings
from billingos_subscriptions.subscriptions import first_period_line
from billingos_subscriptions.vocabulary import AttemptStatus, BillingReason

UTC = dt.UTC
MONTH = products_pb2.Period(interval=products_pb2.INTERVAL_MONTH)
SOURCE = "subscriptions"
# Where the service under test says its checkout pages are.
PUBLIC_BASE_URL = "https://pay.example.test"


# ---- the services -----------------------------------------------------------


@dataclass
class Neighbour:
    """Another service of the suite, running as its own process
    (billingos_kit.testing.processes): its channel, and the shared database
    for reading or seeding its tables by plain SQL (never its code)."""

    address: str
    channel: grpc.aio.Channel
    database: Database


@asynccontextmanager
async def neighbour(
    name: str, servers: SessionServers, log_dir: Path, **settings: str
) -> AsyncIterator[Neighbour]:
    with service_process(name, servers, log_dir, **settings) as address:
        database = Database(servers.database_url, pool_size=2)
        async with grpc.aio.insecure_channel(address) as channel:
            try:
                yield Neighbour(address, channel, database)
            finally:
                await database.dispose()


@pytest.fixture(scope="session")
async def catalog_service(
    servers: SessionServers, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Neighbour]:
    async with neighbour("catalog", servers, tmp_path_factory.mktemp("catalog")) as found:
        yield found


@pytest.fixture(scope="session")
async def customers_service(
    servers: SessionServers, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Neighbour]:
    """The real customers service: where a seat's member is found or made."""
    async with neighbour("customers", servers, tmp_path_factory.mktemp("customers")) as found:
        yield found


@pytest.fixture(scope="session")
async def subscriptions_service(
    servers: SessionServers,
    session_clock: FrozenClock,
    catalog_service: Neighbour,
    customers_service: Neighbour,
) -> AsyncIterator[RunningService]:
    # No payments address: the service's charger finds payments unavailable,
    # so a first charge made through the API stays requested (in flight).
    async with running_service(
        SubscriptionsSettings,
        build_app,
        MIGRATIONS_DIR,
        servers,
        session_clock,
        catalog_address=catalog_service.address,
        customers_address=customers_service.address,
        public_base_url=PUBLIC_BASE_URL,
    ) as service:
        yield service


@pytest.fixture(scope="session")
async def payments_service(
    servers: SessionServers, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Neighbour]:
    """The real payments service on the session's Stripe stand-in (only the
    charger's tests start it)."""
    async with neighbour(
        "payments",
        servers,
        tmp_path_factory.mktemp("payments"),
        stripe_api_base=servers.stripe_api_base,
        stripe_secret_key=servers.stripe_secret_key,
        stripe_webhook_secret=servers.stripe_webhook_secret,
    ) as found:
        yield found


# ---- helpers ------------------------------------------------------------------


async def refused(call: Awaitable[object]) -> CallError:
    """The error of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return call_error(error.value)


async def take_off_the_workers(database: Database, organization_id: uuid.UUID) -> None:
    """Nothing of the organization is due, to retry or to send any more."""
    for table, column in (
        (models.subscriptions, "next_action_at"),
        (models.orders, "next_charge_at"),
        (models.payment_attempts, "send_at"),
    ):
        await execute(
            database,
            update(table).where(table.c.organization_id == organization_id).values({column: None}),
        )


async def outbox_types(database: Database, organization_id: uuid.UUID) -> list[str]:
    """The types of the events the organization's work wrote, in order."""
    outbox = kit_tables.outbox
    found = await rows(
        database,
        select(outbox.c.event_type)
        .where(outbox.c.organization_id == organization_id)
        .order_by(outbox.c.sequence),
    )
    return [str(row[0]) for row in found]


async def count(database: Database, table: Any, **equal: object) -> int:
    statement = select(func.count()).select_from(table)
    for name, value in equal.items():
        statement = statement.where(table.c[name] == value)
    return int(await scalar(database, statement))


def fixed_price(amount_minor: int = 2000, currency: str = "USD") -> products_pb2.Price:
    return products_pb2.Price(
        currency=currency, fixed=products_pb2.FixedAmount(amount_minor=amount_minor)
    )


def seat_price(minimum: int, maximum: int, per_seat: int = 1000) -> products_pb2.Price:
    return products_pb2.Price(
        currency="USD",
        seat_based=products_pb2.SeatBasedAmount(
            tier_mode=products_pb2.TIER_MODE_VOLUME,
            tiers=[products_pb2.SeatTier(from_seats=1, amount_per_seat_minor=per_seat)],
            minimum_seats=minimum,
            maximum_seats=maximum,
        ),
    )


def result(
    order_id: uuid.UUID,
    status: AttemptStatus = AttemptStatus.SUCCEEDED,
    *,
    attempt: int = 1,
    payment_id: uuid.UUID | None = None,
    retryable: bool = True,
) -> PaymentResult:
    """Payments' answer for one attempt."""
    failed = status is AttemptStatus.FAILED
    return PaymentResult(
        order_id=order_id,
        attempt_number=attempt,
        payment_id=payment_id,
        status=status,
        failure_code="card_declined" if failed else "",
        decline_code="insufficient_funds" if failed else "",
        failure_message="Your card has insufficient funds." if failed else "",
        retryable=retryable,
    )


# ---- through the API ------------------------------------------------------------


@dataclass
class Shop:
    """An organization calling the subscriptions service (and the catalog)."""

    organization_id: uuid.UUID
    service: RunningService
    catalog: Neighbour
    clock: FrozenClock

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.organization_id)

    @property
    def database(self) -> Database:
        return self.service.app.database

    def subscriptions(self) -> Any:
        return subscriptions_pb2_grpc.SubscriptionServiceStub(self.service.channel)

    def test_clocks(self) -> Any:
        return test_clocks_pb2_grpc.TestClockServiceStub(self.service.channel)

    def orders(self) -> Any:
        return orders_pb2_grpc.OrderServiceStub(self.service.channel)

    def products(self) -> Any:
        return products_pb2_grpc.ProductServiceStub(self.catalog.channel)

    def prices(self) -> Any:
        return products_pb2_grpc.PriceServiceStub(self.catalog.channel)

    def discounts(self) -> Any:
        return discounts_pb2_grpc.DiscountServiceStub(self.catalog.channel)

    def seats(self) -> Any:
        return seats_pb2_grpc.SubscriptionSeatServiceStub(self.service.channel)

    async def customer(self, *, test_clock_id: str = "", known_to_catalog: bool = True) -> str:
        """A live customer, in the engine's read copy (and the catalog's) as
        the customers context's events leave it."""
        customer_id = uuid.uuid4()
        message = customers_pb2.Customer(
            id=str(customer_id),
            organization_id=str(self.organization_id),
            email=f"{customer_id.hex[:12]}@example.com",
            name="Ada",
            test_clock_id=test_clock_id,
            create_time=timestamp(self.clock.now()),
            update_time=timestamp(self.clock.now()),
        )
        copy = customer_copy(message, self.organization_id)
        assert copy is not None
        async with self.database.transaction() as connection:
            assert await CustomerCopies(OnConnection(connection, self.organization_id)).remember(
                copy
            )
        if known_to_catalog:
            async with self.catalog.database.transaction() as connection:
                await connection.execute(
                    "INSERT INTO catalog.customers (id, organization_id) VALUES ($1, $2)",
                    customer_id,
                    self.organization_id,
                )
        return str(customer_id)

    async def product(
        self, *prices: products_pb2.Price, name: str = "Pro", trial: bool = False
    ) -> products_pb2.Product:
        """A monthly product made in the catalog."""
        product = products_pb2.Product(
            name=name, recurring=MONTH, prices=list(prices or [fixed_price()])
        )
        if trial:
            product.trial.CopyFrom(
                products_pb2.Period(interval=products_pb2.INTERVAL_DAY, count=14)
            )
        made: products_pb2.Product = await self.products().CreateProduct(
            products_pb2.CreateProductRequest(product=product), metadata=self.metadata
        )
        await self.copied(made)
        return made

    async def copied(self, product: products_pb2.Product) -> None:
        """Waits until the engine's read copies hold the product and its
        prices (the engine takes a product's prices from its copies only:
        test_read_copies.py)."""
        wanted = {uuid.UUID(price.id) for price in product.prices}

        async def arrived() -> bool | None:
            found = await rows(
                self.database,
                select(models.prices.c.id).where(
                    models.prices.c.product_id == uuid.UUID(product.id)
                ),
            )
            have_product = await count(self.database, models.products, id=uuid.UUID(product.id))
            return True if have_product and wanted <= {row[0] for row in found} else None

        await eventually(arrived)

    async def discount(self, discount: discounts_pb2.Discount) -> discounts_pb2.Discount:
        made: discounts_pb2.Discount = await self.discounts().CreateDiscount(
            discounts_pb2.CreateDiscountRequest(discount=discount), metadata=self.metadata
        )
        return made

    async def subscribe(self, **fields: Any) -> subscriptions_pb2.Subscription:
        request = subscriptions_pb2.CreateSubscriptionRequest(
            subscription=subscriptions_pb2.Subscription(**fields)
        )
        return await self.create(request)

    async def create(
        self, request: subscriptions_pb2.CreateSubscriptionRequest
    ) -> subscriptions_pb2.Subscription:
        made: subscriptions_pb2.Subscription = await self.subscriptions().CreateSubscription(
            request, metadata=self.metadata
        )
        return made

    async def subscriptions_of(self, customer_id: str) -> list[subscriptions_pb2.Subscription]:
        listed = await self.subscriptions().ListSubscriptions(
            subscriptions_pb2.ListSubscriptionsRequest(customer_id=customer_id),
            metadata=self.metadata,
        )
        return list(listed.subscriptions)


@pytest.fixture
async def shop(
    subscriptions_service: RunningService,
    catalog_service: Neighbour,
    session_clock: FrozenClock,
) -> AsyncIterator[Shop]:
    found = Shop(uuid.uuid4(), subscriptions_service, catalog_service, session_clock)
    yield found
    await take_off_the_workers(subscriptions_service.app.database, found.organization_id)


@pytest.fixture
async def other_shop(shop: Shop) -> AsyncIterator[Shop]:
    """A second organization."""
    found = Shop(uuid.uuid4(), shop.service, shop.catalog, shop.clock)
    yield found
    await take_off_the_workers(shop.database, found.organization_id)


# ---- in-process --------------------------------------------------------------


@dataclass
class Books:
    """An organization's subscriptions as seeded rows, and the engine's
    classes bound to the service's database on the test's own clock."""

    organization_id: uuid.UUID
    service: RunningService
    clock: FrozenClock
    product: products_pb2.Product
    price: products_pb2.Price
    databases: list[Database] = field(default_factory=list)

    @property
    def database(self) -> Database:
        return self.service.app.database

    def own_database(self) -> Database:
        """A pool of its own, as a second process of the service would have."""
        database = Database(self.database.url, pool_size=4)
        self.databases.append(database)
        return database

    def scheduler(
        self,
        kind: type[Scheduler] = Scheduler,
        *,
        database: Database | None = None,
        batch_size: int = 100,
        **options: Any,
    ) -> Any:
        """A scheduler as a process of the service runs one (the catalog and
        customers unreachable: what it needs is in the read copies)."""
        return kind(
            database or self.database,
            kit_tables,
            self.clock,
            CatalogClient("", TEST_SERVICE_TOKEN),
            CustomerDirectory("", TEST_SERVICE_TOKEN),
            batch_size=batch_size,
            poll_seconds=0.05,
            **options,
        )

    def work(self, connection: Any, clock: Any = None) -> OrganizationWork:
        return OrganizationWork(
            connection, self.organization_id, clock or self.clock, kit_tables, SOURCE
        )

    @asynccontextmanager
    async def billing(self) -> AsyncIterator[Billing]:
        """Billing in one transaction of its own (committed at the end)."""
        async with self.database.transaction() as connection:
            yield Billing(self.work(connection), self.clock)

    async def subscription(
        self,
        *,
        start: dt.datetime | None = None,
        status: str = "active",
        customer_id: uuid.UUID | None = None,
        test_clock_id: uuid.UUID | None = None,
    ) -> Subscription:
        """A subscription to the books' product, in its first monthly period
        from `start` (the clock's time by default), due at its end."""
        start = start or self.clock.now()
        end = boundary(start, BillingInterval(IntervalUnit.MONTH, 1), 1, ZoneInfo("UTC"))
        row = Subscription(
            id=new_id(self.clock),
            organization_id=self.organization_id,
            customer_id=customer_id or uuid.uuid4(),
            product_id=uuid.UUID(self.product.id),
            price_id=uuid.UUID(self.price.id),
            currency=self.price.currency,
            status=status,
            interval_unit=IntervalUnit.MONTH.value,
            interval_count=1,
            time_zone="",
            seats=0,
            payment_method_id=None,
            discount_id=None,
            promotion_code_id=None,
            discount_snapshot=None,
            discount_end_at=None,
            discount_remaining_orders=None,
            billing_anchor_at=start,
            period_number=0,
            current_period_start=start,
            current_period_end=end,
            trial_start=None,
            trial_end=None,
            trial_will_end_sent=False,
            cancel_at_period_end=False,
            canceled_at=None,
            ended_at=None,
            cancellation_reason=None,
            cancellation_comment=None,
            test_clock_id=test_clock_id,
            scheduled_price_id=None,
            scheduled_seats=None,
            next_action_at=end if status in ("active", "past_due") else None,
            next_retry_at=None,
            latest_order_id=None,
            metadata={},
            created_at=start,
            updated_at=start,
        )
        item = SubscriptionItem(
            id=new_id(self.clock),
            organization_id=self.organization_id,
            subscription_id=row.id,
            price_id=row.price_id,
            product_id=row.product_id,
            position=0,
            price_snapshot=self.price.SerializeToString(),
            meter_id=None,
            usage_start_at=start,
            usage_billed_to=start,
            usage_watermark=0,
            ended_at=None,
            final_billed=False,
            created_at=start,
        )
        async with self.database.transaction() as connection:
            scope = OnConnection(connection, self.organization_id)
            await SubscriptionRepository(scope).insert(row)
            await ItemRepository(scope).insert(item)
        return row

    @staticmethod
    def billing_key(row: Subscription, reason: BillingReason) -> str:
        return period_billing_key(row.id, row.current_period_start, reason)

    def lines(self, row: Subscription) -> list[LineDraft]:
        return [
            first_period_line(
                self.price,
                self.product,
                row.seats,
                row.current_period_start,
                row.current_period_end,
            )
        ]

    async def open_order(
        self, sub: Subscription, reason: BillingReason = BillingReason.SUBSCRIPTION_CREATE
    ) -> Order:
        """The order of the subscription's current period, final, its first
        attempt requested (to be sent at the books' time)."""
        async with self.billing() as billing:
            row = await billing.subscriptions.require(sub.id, for_update=True)
            order = await billing.open_order(
                row,
                reason,
                self.billing_key(row, reason),
                self.clock.now(),
                self.lines(row),
                period=(row.current_period_start, row.current_period_end),
            )
        assert order is not None
        return order

    async def apply(self, result: PaymentResult) -> bool:
        async with self.billing() as billing:
            return await billing.apply_payment(result)

    async def current(self, subscription_id: uuid.UUID) -> Subscription:
        async with self.database.connection() as connection:
            return await SubscriptionRepository(
                OnConnection(connection, self.organization_id)
            ).require(subscription_id)

    async def orders(self, subscription_id: uuid.UUID | None = None) -> list[Order]:
        table = models.orders
        statement = (
            select(table)
            .where(table.c.organization_id == self.organization_id)
            .order_by(table.c.created_at, table.c.id)
        )
        if subscription_id is not None:
            statement = statement.where(table.c.subscription_id == subscription_id)
        return [Order(**dict(found)) for found in await rows(self.database, statement)]

    async def attempts(self, order_id: uuid.UUID) -> list[PaymentAttempt]:
        table = models.payment_attempts
        found = await rows(
            self.database,
            select(table).where(table.c.order_id == order_id).order_by(table.c.attempt_number),
        )
        return [PaymentAttempt(**dict(record)) for record in found]


# Each test's books start on a day of their own, years after the session's
# clock (and the real one): nothing else's workers find them due.
_BOOK_DAYS = iter(range(10_000))
BOOKS_EPOCH = dt.datetime(2031, 1, 31, 10, tzinfo=UTC)


@asynccontextmanager
async def opened_books(service: RunningService, clock: FrozenClock) -> AsyncIterator[Books]:
    """A new organization's books on `clock`, selling one monthly product at
    one fixed price (in the engine's copies); its work is taken off the
    workers when the block ends."""
    organization_id = uuid.uuid4()
    product = products_pb2.Product(
        id=str(uuid.uuid4()),
        organization_id=str(organization_id),
        name="Pro",
        recurring=MONTH,
        create_time=timestamp(clock.now()),
    )
    price = fixed_price(2000)
    price.id = str(uuid.uuid4())
    price.product_id = product.id
    price.organization_id = str(organization_id)
    price.create_time.FromDatetime(clock.now())
    product.prices.append(price)
    database = service.app.database
    product_row = product_copy(product, organization_id)
    price_row = price_copy(price, organization_id)
    assert product_row is not None
    assert price_row is not None
    async with database.transaction() as connection:
        scope = OnConnection(connection, organization_id)
        await ProductCopies(scope).remember(product_row)
        await PriceCopies(scope).remember(price_row)
    found = Books(organization_id, service, clock, product, price)
    try:
        yield found
    finally:
        await take_off_the_workers(database, organization_id)
        for own in found.databases:
            await own.dispose()


def books_clock() -> FrozenClock:
    """A clock on a day of its own, years after the session's."""
    return FrozenClock(BOOKS_EPOCH + dt.timedelta(days=next(_BOOK_DAYS) * 400))


@pytest.fixture
async def books(subscriptions_service: RunningService) -> AsyncIterator[Books]:
    async with opened_books(subscriptions_service, books_clock()) as found:
        yield found
