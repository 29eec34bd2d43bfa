"""The Stripe stand-in (localstripe behind `billingos_kit.stripe_standin`),
driven with the official stripe SDK as the payments service drives Stripe."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
import stripe
from aiohttp import web

from billingos_kit.local import LocalStripe, free_port

# The SDK's HTTPXClient hands httpx its body in a way httpx now warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def plain(value: object) -> Any:
    """A StripeObject as the dict it was sent as."""
    assert isinstance(value, stripe.StripeObject)
    return value.to_dict()


def error_of(refused: stripe.StripeError) -> Any:
    """The `error` object of a refusal's JSON body."""
    return cast(dict[str, Any], refused.json_body)["error"]


@dataclass
class Delivery:
    body: bytes
    signature: str


@dataclass
class Receiver:
    """A webhook endpoint of the test's own; what arrives waits in `queue`."""

    url: str
    queue: asyncio.Queue[Delivery]

    async def next_event(self, event_type: str, object_id: str) -> Delivery:
        """The next delivery of `event_type` about `object_id` (others are
        skipped), within ten seconds."""
        async with asyncio.timeout(10):
            while True:
                delivery = await self.queue.get()
                event = json.loads(delivery.body)
                if event["type"] == event_type and event["data"]["object"]["id"] == object_id:
                    return delivery


@pytest.fixture(scope="module")
def local_stripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    server = LocalStripe(tmp_path_factory.mktemp("stripe"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def receiver(local_stripe: LocalStripe) -> AsyncIterator[Receiver]:
    queue: asyncio.Queue[Delivery] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        queue.put_nowait(Delivery(await request.read(), request.headers["Stripe-Signature"]))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/webhook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    url = f"http://127.0.0.1:{port}/webhook"
    local_stripe.register_webhook(url)
    try:
        yield Receiver(url, queue)
    finally:
        await runner.cleanup()


@pytest.fixture
def client(local_stripe: LocalStripe) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_x",
        base_addresses={"api": local_stripe.api_base},
        http_client=stripe.HTTPXClient(),
        max_network_retries=0,
    )


async def express_account(client: stripe.StripeClient, **extra: Any) -> stripe.Account:
    params: Any = {
        "type": "express",
        "country": "US",
        "email": "owner@example.com",
        "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
        **extra,
    }
    return await client.v1.accounts.create_async(params)


async def onboarded(local_stripe: LocalStripe, client: stripe.StripeClient) -> str:
    account = await express_account(client)
    await asyncio.to_thread(local_stripe.complete_onboarding, account.id)
    return account.id


async def test_express_account_onboarding_sends_a_signed_account_updated(
    client: stripe.StripeClient, local_stripe: LocalStripe, receiver: Receiver
) -> None:
    account = await express_account(
        client, business_type="individual", metadata={"organization_id": "org_1"}
    )
    assert account.id.startswith("acct_")
    assert account.object == "account"
    assert account.type == "express"
    assert account.country == "US"
    assert account.default_currency == "usd"
    assert account.email == "owner@example.com"
    assert plain(account.metadata) == {"organization_id": "org_1"}
    assert account.charges_enabled is False
    assert account.payouts_enabled is False
    assert account.details_submitted is False
    assert plain(account.capabilities) == {"card_payments": "inactive", "transfers": "inactive"}
    assert account.requirements is not None
    assert "individual.first_name" in (account.requirements.currently_due or [])
    assert account.requirements.disabled_reason == "requirements.past_due"

    link = await client.v1.account_links.create_async(
        {
            "account": account.id,
            "refresh_url": "https://merchant.example/refresh",
            "return_url": "https://merchant.example/return",
            "type": "account_onboarding",
        }
    )
    assert link.object == "account_link"
    assert link.url.startswith(local_stripe.api_base)
    assert link.expires_at == link.created + 300
    with pytest.raises(stripe.InvalidRequestError):  # not onboarded yet
        await client.v1.accounts.login_links.create_async(account.id)

    await asyncio.to_thread(local_stripe.complete_onboarding, account.id)

    delivery = await receiver.next_event("account.updated", account.id)
    event = stripe.Webhook.construct_event(
        delivery.body.decode(), delivery.signature, local_stripe.webhook_secret
    )
    assert event.type == "account.updated"
    assert event.id.startswith("evt_")
    assert event.livemode is False
    assert event.api_version
    raw = json.loads(delivery.body)  # as sent, not as the SDK wraps it
    assert raw["object"] == "event"
    assert raw["pending_webhooks"] >= 1
    assert raw["request"] == {"id": None, "idempotency_key": None}
    assert raw["account"] == account.id
    updated = raw["data"]["object"]
    assert updated["id"] == account.id
    assert updated["object"] == "account"
    assert updated["charges_enabled"] is True
    assert updated["payouts_enabled"] is True
    assert updated["details_submitted"] is True
    assert updated["requirements"]["currently_due"] == []
    assert updated["requirements"]["disabled_reason"] is None
    assert updated["capabilities"] == {"card_payments": "active", "transfers": "active"}
    assert raw["data"]["previous_attributes"]["charges_enabled"] is False
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            delivery.body.decode(), delivery.signature, "whsec_not_the_secret"
        )

    retrieved = await client.v1.accounts.retrieve_async(account.id)
    assert retrieved.charges_enabled is True
    login = await client.v1.accounts.login_links.create_async(account.id)
    assert login.object == "login_link"
    assert login.url.startswith(local_stripe.api_base)


async def test_onboarding_with_requirements_left_keeps_charges_off(
    client: stripe.StripeClient, local_stripe: LocalStripe
) -> None:
    account = await express_account(client)
    updated = await asyncio.to_thread(
        local_stripe.complete_onboarding,
        account.id,
        charges_enabled=False,
        payouts_enabled=False,
        currently_due=("external_account",),
    )
    assert updated["details_submitted"] is True
    assert updated["charges_enabled"] is False
    assert updated["requirements"]["currently_due"] == ["external_account"]
    assert updated["requirements"]["past_due"] == ["external_account"]
    assert updated["requirements"]["disabled_reason"] == "requirements.past_due"


async def test_an_account_link_page_completes_onboarding(
    client: stripe.StripeClient, receiver: Receiver
) -> None:
    account = await express_account(client)
    link = await client.v1.account_links.create_async(
        {
            "account": account.id,
            "refresh_url": "https://merchant.example/refresh",
            "return_url": "https://merchant.example/return",
            "type": "account_onboarding",
        }
    )
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link.url)
        assert page.status_code == 200
        assert account.id in page.text
        done = await browser.post(link.url)
        assert done.status_code == 303
        assert done.headers["Location"] == "https://merchant.example/return"
        again = await browser.get(link.url)  # a link is used once
        assert again.status_code == 302
        assert again.headers["Location"] == "https://merchant.example/refresh"
    await receiver.next_event("account.updated", account.id)
    assert (await client.v1.accounts.retrieve_async(account.id)).charges_enabled is True


async def test_account_update_changes_metadata_and_email(client: stripe.StripeClient) -> None:
    account = await express_account(client, metadata={"a": "1", "b": "2"})
    updated = await client.v1.accounts.update_async(
        account.id, {"email": "new@example.com", "metadata": {"a": "", "c": "3"}}
    )
    assert updated.email == "new@example.com"
    assert plain(updated.metadata) == {"b": "2", "c": "3"}
    retrieved = await client.v1.accounts.retrieve_async(account.id)
    assert plain(retrieved.metadata) == {"b": "2", "c": "3"}


async def test_account_links_are_checked(client: stripe.StripeClient) -> None:
    account = await express_account(client)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await client.v1.account_links.create_async(
            {
                "account": account.id,
                "refresh_url": "https://x.example",
                "type": "account_onboarding",
            }
        )
    assert missing.value.param == "return_url"
    with pytest.raises(stripe.InvalidRequestError) as update:  # Express: Stripe collects
        await client.v1.account_links.create_async(
            {
                "account": account.id,
                "refresh_url": "https://x.example",
                "return_url": "https://x.example",
                "type": "account_update",
            }
        )
    assert update.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await client.v1.account_links.create_async(
            {
                "account": "acct_doesnotexist",
                "refresh_url": "https://x.example",
                "return_url": "https://x.example",
                "type": "account_onboarding",
            }
        )
    assert unknown.value.code == "resource_missing"
    with pytest.raises(stripe.PermissionError) as absent:
        await client.v1.accounts.retrieve_async("acct_doesnotexist")
    assert absent.value.http_status == 403
    assert error_of(absent.value)["code"] == "account_invalid"


async def test_requests_it_does_not_serve_reach_localstripe(client: stripe.StripeClient) -> None:
    customer = await client.v1.customers.create_async(
        {"email": "payer@example.com", "metadata": {"organization_id": "org_1"}}
    )
    assert customer.id.startswith("cus_")
    assert customer.email == "payer@example.com"
    assert (await client.v1.customers.retrieve_async(customer.id)).email == "payer@example.com"


async def test_destination_payment_intent_keeps_transfer_data_and_fee(
    client: stripe.StripeClient, local_stripe: LocalStripe, receiver: Receiver
) -> None:
    destination = await onboarded(local_stripe, client)
    customer = await client.v1.customers.create_async({"email": "payer@example.com"})
    method = await client.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    await client.v1.payment_methods.attach_async(method.id, {"customer": customer.id})

    created = await client.v1.payment_intents.create_async(
        {
            "amount": 5000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": method.id,
            "confirm": True,
            "off_session": True,
            "transfer_data": {"destination": destination},
            "application_fee_amount": 250,
        }
    )
    assert created.status == "succeeded"
    assert created.transfer_data is not None
    assert created.transfer_data.destination == destination
    assert created.application_fee_amount == 250

    retrieved = await client.v1.payment_intents.retrieve_async(created.id)
    assert retrieved.transfer_data is not None
    assert retrieved.transfer_data.destination == destination
    assert retrieved.application_fee_amount == 250

    # localstripe's own events reach the webhook registered through the stand-in.
    delivery = await receiver.next_event("payment_intent.succeeded", created.id)
    event = stripe.Webhook.construct_event(
        delivery.body.decode(), delivery.signature, local_stripe.webhook_secret
    )
    assert event.data.object["amount"] == 5000

    plain = await client.v1.payment_intents.create_async({"amount": 700, "currency": "usd"})
    assert plain.transfer_data is None
    assert plain.application_fee_amount is None


async def test_a_refund_is_announced_as_stripe_announces_it(
    client: stripe.StripeClient, local_stripe: LocalStripe, receiver: Receiver
) -> None:
    customer = await client.v1.customers.create_async({"email": "refunded@example.com"})
    method = await client.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    await client.v1.payment_methods.attach_async(method.id, {"customer": customer.id})
    paid = await client.v1.payment_intents.create_async(
        {
            "amount": 3000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": method.id,
            "confirm": True,
        }
    )
    refund = await client.v1.refunds.create_async(
        {"payment_intent": paid.id, "amount": 1000, "metadata": {"ours": "r1"}}
    )
    delivery = await receiver.next_event("refund.created", refund.id)
    event = stripe.Webhook.construct_event(
        delivery.body.decode(), delivery.signature, local_stripe.webhook_secret
    )
    announced = event.data.object
    assert (announced["amount"], announced["payment_intent"]) == (1000, paid.id)
    assert announced["metadata"]["ours"] == "r1"


async def test_destination_must_be_an_account_that_takes_charges(
    client: stripe.StripeClient, local_stripe: LocalStripe
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await client.v1.payment_intents.create_async(
            {"amount": 5000, "currency": "usd", "transfer_data": {"destination": "acct_nope"}}
        )
    assert unknown.value.param == "transfer_data[destination]"
    assert unknown.value.code == "resource_missing"

    pending = await express_account(client)
    with pytest.raises(stripe.InvalidRequestError) as not_enabled:
        await client.v1.payment_intents.create_async(
            {"amount": 5000, "currency": "usd", "transfer_data": {"destination": pending.id}}
        )
    assert not_enabled.value.param == "transfer_data[destination]"

    with pytest.raises(stripe.InvalidRequestError) as fee_alone:
        await client.v1.payment_intents.create_async(
            {"amount": 5000, "currency": "usd", "application_fee_amount": 100}
        )
    assert fee_alone.value.param == "application_fee_amount"

    destination = await onboarded(local_stripe, client)
    with pytest.raises(stripe.InvalidRequestError) as too_big:
        await client.v1.payment_intents.create_async(
            {
                "amount": 500,
                "currency": "usd",
                "transfer_data": {"destination": destination},
                "application_fee_amount": 501,
            }
        )
    assert too_big.value.param == "application_fee_amount"


async def test_unknown_parameters_are_refused_in_stripes_shape(
    client: stripe.StripeClient,
) -> None:
    unknown: Any = {"type": "express", "colour": "blue"}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await client.v1.accounts.create_async(unknown)
    assert refused.value.http_status == 400
    assert refused.value.param == "colour"
    assert refused.value.code == "parameter_unknown"
    assert error_of(refused.value)["type"] == "invalid_request_error"
    assert "colour" in error_of(refused.value)["message"]

    nested_unknown: Any = {"type": "express", "capabilities": {"card_payments": {"wanted": True}}}
    with pytest.raises(stripe.InvalidRequestError) as nested:
        await client.v1.accounts.create_async(nested_unknown)
    assert nested.value.param == "capabilities[card_payments][wanted]"


async def test_a_bad_key_is_refused_in_stripes_shape(local_stripe: LocalStripe) -> None:
    for key in ("pk_test_publishable", "not-a-key"):
        client = stripe.StripeClient(
            key,
            base_addresses={"api": local_stripe.api_base},
            http_client=stripe.HTTPXClient(),
            max_network_retries=0,
        )
        with pytest.raises(stripe.AuthenticationError) as refused:
            await client.v1.accounts.create_async({"type": "express"})
        assert refused.value.http_status == 401
        assert error_of(refused.value)["type"] == "invalid_request_error"
        with pytest.raises(stripe.AuthenticationError):  # localstripe's own routes too
            await client.v1.customers.create_async({"email": "payer@example.com"})
    async with httpx.AsyncClient(base_url=local_stripe.api_base) as bare:
        missing = await bare.post("/v1/accounts", data={"type": "express"})
    assert missing.status_code == 401
    assert "did not provide an API key" in missing.json()["error"]["message"]


async def test_idempotency_keys_are_ignored_as_localstripe_ignores_them(
    client: stripe.StripeClient,
) -> None:
    """BillingOS must never double-charge without Stripe's dedup: the
    stand-in gives it none unless started with --honour-idempotency-keys."""
    params: Any = {"type": "express", "email": "once@example.com"}
    first = await client.v1.accounts.create_async(params, {"idempotency_key": "acct-once"})
    second = await client.v1.accounts.create_async(params, {"idempotency_key": "acct-once"})
    assert second.id != first.id
