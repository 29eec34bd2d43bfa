"""The customer portal's cards, called as the gateway forwards a browser's
call with a customer session token: a SetupIntent confirmed as Stripe.js
confirms it (the publishable key and the client secret only), the card
recorded once, listed without Stripe ids, made the default, removed (the
next card then the default; the last one too, after which a charge fails
for want of a card). Another customer's card or SetupIntent is NOT_FOUND,
of the same organization or another; replays with an Idempotency-Key
answer the first call's answer, and one customer's key is not another's."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from billingos.common.v1 import money_pb2
from billingos.payments.v1 import (
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    payment_methods_pb2,
    payments_pb2,
)
from billingos_kit.clock import FrozenClock
from billingos_kit.errors import Unavailable
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, gateway_metadata
from billingos_kit.testing.sessions import KnownSessions
from billingos_payments.customer_portal import StripeJs

from .conftest import (
    CARD_OK,
    STAND_IN_PUBLISHABLE_KEY,
    Shop,
    announce_customer,
    stripe_customer_of,
)

NOTHING = customer_portal_pb2.ListPortalPaymentMethodsRequest()


@pytest.fixture
def sessions(payments_service: RunningService) -> KnownSessions:
    """Customer sessions this test issues (left in place after it: every
    test's tokens are its own)."""
    known = KnownSessions()
    payments_service.app.use_session_lookup(known)
    return known


@dataclass
class Browser:
    """One customer's portal page: its session token and the calls it makes."""

    customer_id: str
    token: str
    stub: Any
    stripe_api_base: str

    def metadata(self, idempotency_key: str | None = None) -> Any:
        return gateway_metadata(self.token, idempotency_key=idempotency_key)

    async def cards(self) -> list[customer_portal_pb2.PortalPaymentMethod]:
        found = await self.stub.ListPortalPaymentMethods(NOTHING, metadata=self.metadata())
        return list(found.payment_methods)

    async def start(self, idempotency_key: str | None = None) -> Any:
        return await self.stub.CreatePortalSetupIntent(
            customer_portal_pb2.CreatePortalSetupIntentRequest(),
            metadata=self.metadata(idempotency_key),
        )

    async def confirm(self, intent: customer_portal_pb2.PortalSetupIntent) -> None:
        """What Stripe.js's confirmCardSetup does: with the publishable key
        and the client secret only, never the platform's secret key."""
        stripe_id = intent.client_secret.split("_secret_")[0]
        async with httpx.AsyncClient(timeout=10) as stripe:
            confirmed = await stripe.post(
                f"{self.stripe_api_base}/v1/setup_intents/{stripe_id}/confirm",
                json={
                    "key": intent.publishable_key,
                    "client_secret": intent.client_secret,
                    "use_stripe_sdk": True,
                    "payment_method_data": {
                        "type": "card",
                        "card": {
                            "number": CARD_OK,
                            "exp_month": "12",
                            "exp_year": "2034",
                            "cvc": "123",
                        },
                    },
                },
            )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "succeeded", confirmed.text

    async def sync(self, intent_id: str, idempotency_key: str | None = None) -> Any:
        return await self.stub.SyncPortalSetupIntent(
            customer_portal_pb2.SyncPortalSetupIntentRequest(id=intent_id),
            metadata=self.metadata(idempotency_key),
        )

    async def save_card(self) -> customer_portal_pb2.PortalSetupIntent:
        intent = await self.start()
        await self.confirm(intent)
        synced: customer_portal_pb2.PortalSetupIntent = await self.sync(intent.id)
        assert synced.status == payment_methods_pb2.SETUP_INTENT_STATUS_SUCCEEDED
        assert synced.payment_method_id
        return synced

    async def set_default(self, card_id: str, idempotency_key: str | None = None) -> Any:
        return await self.stub.SetDefaultPortalPaymentMethod(
            customer_portal_pb2.SetDefaultPortalPaymentMethodRequest(id=card_id),
            metadata=self.metadata(idempotency_key),
        )

    async def detach(self, card_id: str, idempotency_key: str | None = None) -> Any:
        return await self.stub.DetachPortalPaymentMethod(
            customer_portal_pb2.DetachPortalPaymentMethodRequest(id=card_id),
            metadata=self.metadata(idempotency_key),
        )


def browser_of(
    shop: Shop, sessions: KnownSessions, servers: SessionServers, customer_id: str
) -> Browser:
    until = shop.service.app.clock.now() + dt.timedelta(hours=1)
    token = sessions.issue(shop.organization_id, uuid.UUID(customer_id), until)
    stub = customer_portal_pb2_grpc.CustomerPortalServiceStub(shop.service.channel)
    return Browser(customer_id, token, stub, servers.stripe_api_base)


async def another_customer(
    shop: Shop, servers: SessionServers, clock: FrozenClock, organization_id: uuid.UUID
) -> str:
    customer = await announce_customer(servers, clock, organization_id)
    await stripe_customer_of(shop.service, uuid.UUID(customer.id))
    return customer.id


async def refusal(call: Any) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


def charge(shop: Shop) -> payments_pb2.ChargeOrderRequest:
    """The charge the billing engine makes at a renewal."""
    return payments_pb2.ChargeOrderRequest(
        customer_id=shop.customer.id,
        order_id=str(uuid.uuid4()),
        attempt_number=1,
        amount=money_pb2.Money(amount_minor=1999, currency="USD"),
    )


async def test_a_customer_saves_a_card_and_the_page_gets_what_stripe_js_needs(
    shop: Shop, sessions: KnownSessions, servers: SessionServers
) -> None:
    browser = browser_of(shop, sessions, servers, shop.customer.id)
    assert await browser.cards() == []
    intent = await browser.start()
    assert intent.status == payment_methods_pb2.SETUP_INTENT_STATUS_REQUIRES_PAYMENT_METHOD
    assert intent.client_secret.startswith("seti_")
    assert intent.publishable_key == STAND_IN_PUBLISHABLE_KEY
    assert intent.stripe_js_url == f"{servers.stripe_api_base}/js.stripe.com/v3/"
    await browser.confirm(intent)
    synced = await browser.sync(intent.id)
    again = await browser.sync(intent.id)  # a second sync records nothing more
    assert synced.status == payment_methods_pb2.SETUP_INTENT_STATUS_SUCCEEDED
    assert again.payment_method_id == synced.payment_method_id
    [card] = await browser.cards()
    assert (card.id, card.brand, card.last4) == (synced.payment_method_id, "visa", "4242")
    assert (card.exp_month, card.exp_year, card.is_default) == (12, 2034, True)
    assert "pm_" not in str(card)
    assert "cus_" not in str(card)
    # The merchant sees the same card, with its Stripe id.
    merchants = await shop.methods().GetPaymentMethod(
        payment_methods_pb2.GetPaymentMethodRequest(id=card.id), metadata=shop.metadata
    )
    assert merchants.customer_id == shop.customer.id
    assert merchants.stripe_payment_method_id.startswith("pm_")


async def test_removing_the_default_makes_the_next_card_default_and_the_last_may_go_too(
    shop: Shop, sessions: KnownSessions, servers: SessionServers
) -> None:
    browser = browser_of(shop, sessions, servers, shop.customer.id)
    first = (await browser.save_card()).payment_method_id
    second = (await browser.save_card()).payment_method_id
    third = (await browser.save_card()).payment_method_id
    shown = {card.id: card.is_default for card in await browser.cards()}
    assert shown == {first: True, second: False, third: False}
    assert [card.id for card in await browser.cards()] == [third, second, first]  # newest first

    made = await browser.set_default(second)
    assert made.is_default
    shown = {card.id: card.is_default for card in await browser.cards()}
    assert shown == {first: False, second: True, third: False}

    # Removing the default: the newest other card takes its place.
    removed = await browser.detach(second)
    assert removed.HasField("detach_time")
    assert not removed.is_default
    assert {card.id: card.is_default for card in await browser.cards()} == {
        first: False,
        third: True,
    }
    # Removing a card that is not the default leaves the default alone.
    await browser.detach(first)
    assert {card.id: card.is_default for card in await browser.cards()} == {third: True}
    paid = await shop.admin().ChargeOrder(charge(shop), metadata=shop.metadata)
    assert (paid.status, paid.payment_method_id) == (payments_pb2.PAYMENT_STATUS_SUCCEEDED, third)

    # The last card may go too (as Stripe allows, whatever the customer's
    # subscriptions): the next renewal's charge fails for want of a card,
    # and dunning takes over until the customer saves another.
    gone = await browser.detach(third)
    assert await browser.cards() == []
    failed = await shop.admin().ChargeOrder(charge(shop), metadata=shop.metadata)
    assert (failed.status, failed.failure_code) == (
        payments_pb2.PAYMENT_STATUS_FAILED,
        "no_payment_method",
    )
    assert failed.retryable
    # A new card is the default at once (the engine then retries unpaid orders).
    renewed = (await browser.save_card()).payment_method_id
    assert {card.id: card.is_default for card in await browser.cards()} == {renewed: True}
    # A removed card cannot come back as the default; removing it again is once.
    refused = await refusal(browser.set_default(third))
    assert (refused.code, refused.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_METHOD_DETACHED",
    )
    assert (await browser.detach(third)).detach_time == gone.detach_time


async def test_another_customers_cards_and_setup_intents_are_not_found(
    shop: Shop, sessions: KnownSessions, servers: SessionServers, session_clock: FrozenClock
) -> None:
    mine = browser_of(shop, sessions, servers, shop.customer.id)
    neighbour_id = await another_customer(shop, servers, session_clock, shop.organization_id)
    neighbour = browser_of(shop, sessions, servers, neighbour_id)
    elsewhere_org = uuid.uuid4()
    stranger_id = await another_customer(shop, servers, session_clock, elsewhere_org)
    stranger_shop = Shop(elsewhere_org, shop.customer, shop.service)
    stranger = browser_of(stranger_shop, sessions, servers, stranger_id)

    card = (await mine.save_card()).payment_method_id
    pending = await mine.start()
    for other in (neighbour, stranger):
        assert await other.cards() == []
        for call in (
            other.sync(pending.id),
            other.set_default(card),
            other.detach(card),
        ):
            error = await refusal(call)
            assert error.code == grpc.StatusCode.NOT_FOUND, error
    unknown = await refusal(mine.detach(str(uuid.uuid4())))
    assert (unknown.code, unknown.reason) == (
        grpc.StatusCode.NOT_FOUND,
        "PAYMENT_METHOD_NOT_FOUND",
    )
    # Nothing of mine changed.
    [still] = await mine.cards()
    assert (still.id, still.is_default) == (card, True)


async def test_replays_answer_the_first_answer_and_keys_are_kept_per_customer(
    shop: Shop, sessions: KnownSessions, servers: SessionServers, session_clock: FrozenClock
) -> None:
    mine = browser_of(shop, sessions, servers, shop.customer.id)
    neighbour_id = await another_customer(shop, servers, session_clock, shop.organization_id)
    neighbour = browser_of(shop, sessions, servers, neighbour_id)
    key = f"portal-setup-{uuid.uuid4()}"
    first = await mine.start(key)
    replayed = await mine.start(key)
    assert replayed == first  # the client secret too: the page can go on
    # The same key from another customer is another customer's call.
    theirs = await neighbour.start(key)
    assert theirs.id != first.id
    await mine.confirm(first)
    synced = await mine.sync(first.id, key + "-sync")
    assert await mine.sync(first.id, key + "-sync") == synced
    card = synced.payment_method_id
    removed = await mine.detach(card, key + "-detach")
    assert await mine.detach(card, key + "-detach") == removed
    assert await mine.cards() == []


async def test_the_token_opens_no_merchant_method_and_no_key_opens_the_portal(
    shop: Shop, sessions: KnownSessions, servers: SessionServers
) -> None:
    browser = browser_of(shop, sessions, servers, shop.customer.id)
    card = (await browser.save_card()).payment_method_id
    on_merchant_route = await refusal(
        shop.methods().GetPaymentMethod(
            payment_methods_pb2.GetPaymentMethodRequest(id=card), metadata=browser.metadata()
        )
    )
    assert (on_merchant_route.code, on_merchant_route.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_NOT_ACCEPTED",
    )
    with_a_key = await refusal(
        browser.stub.ListPortalPaymentMethods(NOTHING, metadata=gateway_metadata("bos_x"))
    )
    assert (with_a_key.code, with_a_key.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_REQUIRED",
    )
    internal = await refusal(
        browser.stub.ListPortalPaymentMethods(NOTHING, metadata=call_metadata(shop.organization_id))
    )
    assert (internal.code, internal.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CUSTOMER_SESSION_REQUIRED",
    )


def test_without_a_publishable_key_no_setup_intent_is_made() -> None:
    with pytest.raises(Unavailable) as refused:
        StripeJs("", "https://js.stripe.com/v3/").require()
    assert refused.value.reason == "STRIPE_PUBLISHABLE_KEY_UNSET"
    StripeJs(STAND_IN_PUBLISHABLE_KEY, "https://js.stripe.com/v3/").require()
