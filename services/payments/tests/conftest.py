from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import stripe
from sqlalchemy import select

from billingos.customers.v1 import customers_pb2
from billingos.customers.v1 import events_pb2 as customer_events
from billingos.payments.v1 import (
    payment_methods_pb2,
    payment_methods_pb2_grpc,
    payments_pb2_grpc,
)
from billingos_kit.clock import FrozenClock
from billingos_kit.protoconv import timestamp
from billingos_kit.testing.db import scalar
from billingos_kit.testing.events import publish_event
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, running_service
from billingos_kit.testing.waiting import eventually
from billingos_payments.app import MIGRATIONS_DIR, build_app
from billingos_payments.models import customers
from billingos_payments.settings import PaymentsSettings

T = TypeVar("T")

# Stripe's test cards (localstripe knows them as Stripe documents them).
CARD_OK = "4242424242424242"
CARD_DECLINED_ON_CHARGE = "4000000000000341"
# The stand-in takes any publishable key (the portal's page sends one).
STAND_IN_PUBLISHABLE_KEY = "pk_test_localstripe"


@pytest.fixture(scope="session")
async def payments_service(
    servers: SessionServers, session_clock: FrozenClock
) -> AsyncIterator[RunningService]:
    async with running_service(
        PaymentsSettings,
        build_app,
        MIGRATIONS_DIR,
        servers,
        session_clock,
        stripe_api_base=servers.stripe_api_base,
        stripe_secret_key=servers.stripe_secret_key,
        stripe_webhook_secret=servers.stripe_webhook_secret,
        stripe_publishable_key=STAND_IN_PUBLISHABLE_KEY,
        stripe_js_url=f"{servers.stripe_api_base}/js.stripe.com/v3/",
    ) as service:
        yield service


@pytest.fixture(scope="session")
def stripe_client(servers: SessionServers) -> stripe.StripeClient:
    """Stripe as a browser's Stripe.js would reach it (confirming a
    SetupIntent), and as a test inspects it."""
    return stripe.StripeClient(
        servers.stripe_secret_key,
        base_addresses={"api": servers.stripe_api_base},
        http_client=stripe.HTTPXClient(),
    )


@dataclass
class Shop:
    """An organization with a customer payments has learnt of."""

    organization_id: uuid.UUID
    customer: customers_pb2.Customer
    service: RunningService

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.organization_id)

    def methods(self) -> Any:
        return payment_methods_pb2_grpc.PaymentMethodServiceStub(self.service.channel)

    def payments(self) -> Any:
        return payments_pb2_grpc.PaymentServiceStub(self.service.channel)

    def admin(self) -> Any:
        return payments_pb2_grpc.PaymentAdminServiceStub(self.service.channel)


async def announce_customer(
    servers: SessionServers,
    clock: FrozenClock,
    organization_id: uuid.UUID,
    *,
    email: str | None = None,
    name: str = "Ada",
) -> customers_pb2.Customer:
    customer_id = uuid.uuid4()
    customer = customers_pb2.Customer(
        id=str(customer_id),
        organization_id=str(organization_id),
        email=email or f"{customer_id.hex[:12]}@example.com",
        name=name,
        create_time=timestamp(clock.now()),
        update_time=timestamp(clock.now()),
    )
    await publish_event(
        servers.nats_url, customer_events.CustomerCreatedEvent(customer=customer), organization_id
    )
    return customer


@pytest.fixture
async def shop(
    payments_service: RunningService, servers: SessionServers, session_clock: FrozenClock
) -> Shop:
    organization_id = uuid.uuid4()
    customer = await announce_customer(servers, session_clock, organization_id)
    await stripe_customer_of(payments_service, uuid.UUID(customer.id))
    return Shop(organization_id, customer, payments_service)


async def stripe_customer_of(service: RunningService, customer_id: uuid.UUID) -> str:
    """The Stripe customer payments made for the customer, once made."""

    async def made() -> str | None:
        found = await scalar(
            service.app.database,
            select(customers.c.stripe_customer_id).where(customers.c.id == customer_id),
        )
        return found if isinstance(found, str) else None

    # A session that made many customers before payments started: each one
    # gets its Stripe customer first, in order.
    return await eventually(made, seconds=120.0)


async def saved_card(
    shop: Shop, stripe_client: stripe.StripeClient, number: str = CARD_OK
) -> payment_methods_pb2.PaymentMethod:
    """A card saved as a checkout page saves one: a SetupIntent, confirmed
    in the browser with Stripe, then synced."""
    intent = await shop.methods().CreateSetupIntent(
        payment_methods_pb2.CreateSetupIntentRequest(
            setup_intent=payment_methods_pb2.SetupIntent(customer_id=shop.customer.id)
        ),
        metadata=shop.metadata,
    )
    card = await stripe_client.v1.payment_methods.create_async(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    await stripe_client.v1.setup_intents.confirm_async(
        intent.stripe_setup_intent_id, params={"payment_method": card.id}
    )
    synced = await shop.methods().SyncSetupIntent(
        payment_methods_pb2.SyncSetupIntentRequest(id=intent.id), metadata=shop.metadata
    )
    assert synced.status == payment_methods_pb2.SETUP_INTENT_STATUS_SUCCEEDED
    method: payment_methods_pb2.PaymentMethod = await shop.methods().GetPaymentMethod(
        payment_methods_pb2.GetPaymentMethodRequest(id=synced.payment_method_id),
        metadata=shop.metadata,
    )
    return method
