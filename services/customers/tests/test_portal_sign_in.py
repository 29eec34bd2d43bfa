"""Signing in to the customer portal by email: anyone asks for links for an
address and gets the same answer whoever has it; each live customer of the
organization with the address gets one link (announced for the merchant's
webhook, logged in development), which exchanges once, within 15 minutes,
for a customer session; unknown, used and expired tokens are refused alike;
requests and exchanges are limited per client network and per address."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
import uuid

import grpc
import pytest
from sqlalchemy import func, select

from billingos.common.v1 import event_pb2
from billingos.customers.v1 import (
    customer_sessions_pb2,
    customer_sessions_pb2_grpc,
    customers_pb2,
    events_pb2,
    portal_sign_in_pb2,
    portal_sign_in_pb2_grpc,
)
from billingos_customers.models import customer_sessions, kit_tables, portal_sign_ins
from billingos_customers.portal_sign_in_retention import PortalSignInRetention
from billingos_customers.settings import CustomersSettings
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import rows, scalar
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.service import RunningService, call_metadata, gateway_metadata

EVENT_TYPE = "customer.portal_sign_in_requested"
LINK = re.compile(
    r"(?P<base>.*)/portal/(?P<organization>[0-9a-f-]{36})/sign-in#token=(?P<token>.*)"
)
Stub = portal_sign_in_pb2_grpc.PublicPortalSignInServiceStub


@pytest.fixture
def sign_in(customers_service: RunningService) -> Stub:
    return portal_sign_in_pb2_grpc.PublicPortalSignInServiceStub(customers_service.channel)


@pytest.fixture
def session_check(
    customers_service: RunningService,
) -> customer_sessions_pb2_grpc.CustomerSessionAdminServiceStub:
    return customer_sessions_pb2_grpc.CustomerSessionAdminServiceStub(customers_service.channel)


async def new_customer(customers, tenant, email: str = "ada@example.com") -> customers_pb2.Customer:
    return await customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(email=email)),
        metadata=tenant.metadata(),
    )


def asking(organization: object, email: str) -> portal_sign_in_pb2.RequestPortalSignInRequest:
    return portal_sign_in_pb2.RequestPortalSignInRequest(
        organization=str(organization), email=email
    )


def exchanging(token: str) -> portal_sign_in_pb2.ExchangePortalSignInRequest:
    return portal_sign_in_pb2.ExchangePortalSignInRequest(token=token)


async def refusal(call) -> CallError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def announced(
    service: RunningService, organization_id: uuid.UUID
) -> list[tuple[event_pb2.EventEnvelope, events_pb2.CustomerPortalSignInRequestedEvent]]:
    """The organization's sign-in events, as its outbox holds them, in order."""
    outbox = kit_tables.outbox
    found = await rows(
        service.app.database,
        select(outbox.c.envelope)
        .where(outbox.c.organization_id == organization_id, outbox.c.event_type == EVENT_TYPE)
        .order_by(outbox.c.sequence),
    )
    pairs = []
    for row in found:
        envelope = event_pb2.EventEnvelope.FromString(row["envelope"])
        data = events_pb2.CustomerPortalSignInRequestedEvent()
        assert envelope.data.Unpack(data)
        pairs.append((envelope, data))
    return pairs


async def token_for(service: RunningService, tenant, customer_id: str) -> str:
    """The token of the customer's latest link, from its event."""
    links = [data for _, data in await announced(service, tenant.organization_id)]
    mine = [data.sign_in_url for data in links if data.customer_id == customer_id]
    assert mine, f"no link for {customer_id}"
    found = LINK.fullmatch(mine[-1])
    assert found is not None
    return found["token"]


async def sign_in_rows(
    service: RunningService, organization_id: uuid.UUID
) -> list[dict[str, object]]:
    found = await rows(
        service.app.database,
        select(portal_sign_ins)
        .where(portal_sign_ins.c.organization_id == organization_id)
        .order_by(portal_sign_ins.c.created_at, portal_sign_ins.c.id),
    )
    return [dict(row) for row in found]


async def test_an_unknown_address_gets_the_same_answer_and_no_link(
    sign_in, customers, customers_service: RunningService, tenant
) -> None:
    await new_customer(customers, tenant)
    known = await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "ada@example.com"), metadata=gateway_metadata(None)
    )
    unknown = await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "nobody@example.com"), metadata=gateway_metadata(None)
    )
    assert known == unknown == portal_sign_in_pb2.RequestPortalSignInResponse()
    assert known.SerializeToString() == b""
    (only,) = await announced(customers_service, tenant.organization_id)
    assert only[1].email == "ada@example.com"
    # Both wrote a row: the miss one for nobody, which no token opens.
    hit, miss = await sign_in_rows(customers_service, tenant.organization_id)
    assert hit["customer_id"] == uuid.UUID(only[1].customer_id)
    assert miss["customer_id"] is None
    assert miss["expires_at"] == hit["expires_at"]


async def test_each_live_customer_with_the_address_gets_one_link(
    sign_in,
    customers,
    customers_service: RunningService,
    tenant,
    other_tenant,
    session_clock: FrozenClock,
) -> None:
    first = await new_customer(customers, tenant, "Ada@Example.com")
    second = await new_customer(customers, tenant, "ada@example.com")
    gone = await new_customer(customers, tenant, "ada@example.com")
    await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=gone.id), metadata=tenant.metadata()
    )
    await new_customer(customers, tenant, "ada+other@example.com")
    await new_customer(customers, other_tenant, "ada@example.com")

    await sign_in.RequestPortalSignIn(
        asking(tenant.slug, " ADA@example.com "), metadata=gateway_metadata(None)
    )
    events = await announced(customers_service, tenant.organization_id)
    # Newest first; the deleted one, the other address and the other
    # organization's customer get none.
    assert [data.customer_id for _, data in events] == [second.id, first.id]
    assert [data.email for _, data in events] == ["ada@example.com", "Ada@Example.com"]
    assert await announced(customers_service, other_tenant.organization_id) == []
    settings = customers_service.app.settings
    assert isinstance(settings, CustomersSettings)
    base = settings.public_base_url
    tokens = []
    for envelope, data in events:
        assert envelope.type == EVENT_TYPE
        assert envelope.organization_id == str(tenant.organization_id)
        found = LINK.fullmatch(data.sign_in_url)
        assert found is not None, data.sign_in_url
        assert (found["base"], found["organization"]) == (base, str(tenant.organization_id))
        assert found["token"].startswith("bcm_")
        assert len(found["token"]) == len("bcm_") + 40
        expire = data.expire_time.ToDatetime(dt.UTC)
        assert expire == session_clock.now() + dt.timedelta(minutes=15)
        tokens.append(found["token"])
    assert len(set(tokens)) == 2
    stored = await sign_in_rows(customers_service, tenant.organization_id)
    assert sorted(row["token_hash"] for row in stored) == sorted(
        hashlib.sha256(token.encode()).digest() for token in tokens
    )
    for row in stored:
        assert all(token.encode() not in repr(row).encode() for token in tokens)


async def test_at_most_five_customers_the_newest_get_a_link(
    sign_in, customers, customers_service: RunningService, tenant
) -> None:
    made = [await new_customer(customers, tenant) for _ in range(7)]
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "ada@example.com"), metadata=gateway_metadata(None)
    )
    events = await announced(customers_service, tenant.organization_id)
    assert [data.customer_id for _, data in events] == [c.id for c in reversed(made)][:5]


async def test_a_link_exchanges_once_for_a_session_of_its_customer(
    sign_in, session_check, customers, customers_service: RunningService, tenant, session_clock
) -> None:
    customer = await new_customer(customers, tenant)
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "ada@example.com"), metadata=gateway_metadata(None)
    )
    token = await token_for(customers_service, tenant, customer.id)

    session = await sign_in.ExchangePortalSignIn(exchanging(token), metadata=gateway_metadata(None))
    assert session.token.startswith("bcs_")
    assert (session.organization_id, session.customer_id) == (
        str(tenant.organization_id),
        customer.id,
    )
    lifetime = session.expire_time.ToDatetime() - session.create_time.ToDatetime()
    assert lifetime == dt.timedelta(hours=1)  # CreateCustomerSession's default
    verified = await session_check.VerifyCustomerSession(
        customer_sessions_pb2.VerifyCustomerSessionRequest(token=session.token),
        metadata=call_metadata(),
    )
    assert verified.customer_id == customer.id

    (row,) = await sign_in_rows(customers_service, tenant.organization_id)
    assert row["used_at"] == session_clock.now()
    assert row["customer_session_id"] == uuid.UUID(session.id)

    again = await refusal(
        sign_in.ExchangePortalSignIn(exchanging(token), metadata=gateway_metadata(None))
    )
    unknown = await refusal(
        sign_in.ExchangePortalSignIn(exchanging("bcm_" + "x" * 40), metadata=gateway_metadata(None))
    )
    assert (again.code, again.reason) == (grpc.StatusCode.NOT_FOUND, "PORTAL_SIGN_IN_NOT_FOUND")
    assert again == unknown
    assert token not in again.message


async def test_two_exchanges_at_once_make_one_session(
    sign_in, customers, customers_service: RunningService, tenant
) -> None:
    customer = await new_customer(customers, tenant)
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "ada@example.com"), metadata=gateway_metadata(None)
    )
    token = await token_for(customers_service, tenant, customer.id)
    outcomes = await asyncio.gather(
        *(
            sign_in.ExchangePortalSignIn(exchanging(token), metadata=gateway_metadata(None))
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, customer_sessions_pb2.CustomerSession)]
    lost = [call_error(o) for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(won) == 1
    assert [(e.code, e.reason) for e in lost] == [
        (grpc.StatusCode.NOT_FOUND, "PORTAL_SIGN_IN_NOT_FOUND")
    ] * 3
    sessions = await scalar(
        customers_service.app.database,
        select(func.count())
        .select_from(customer_sessions)
        .where(customer_sessions.c.customer_id == uuid.UUID(customer.id)),
    )
    assert sessions == 1


async def test_a_link_works_for_15_minutes_by_the_clock(
    sign_in, customers, customers_service: RunningService, tenant, session_clock: FrozenClock
) -> None:
    early = await new_customer(customers, tenant, "early@example.com")
    late = await new_customer(customers, tenant, "late@example.com")
    for customer in (early, late):
        await sign_in.RequestPortalSignIn(
            asking(tenant.organization_id, customer.email), metadata=gateway_metadata(None)
        )
    early_token = await token_for(customers_service, tenant, early.id)
    late_token = await token_for(customers_service, tenant, late.id)
    session_clock.advance(dt.timedelta(minutes=15) - dt.timedelta(seconds=1))
    await sign_in.ExchangePortalSignIn(exchanging(early_token), metadata=gateway_metadata(None))
    session_clock.advance(dt.timedelta(seconds=1))
    expired = await refusal(
        sign_in.ExchangePortalSignIn(exchanging(late_token), metadata=gateway_metadata(None))
    )
    assert (expired.code, expired.reason) == (grpc.StatusCode.NOT_FOUND, "PORTAL_SIGN_IN_NOT_FOUND")


async def test_a_deleted_customers_link_opens_nothing(
    sign_in, customers, customers_service: RunningService, tenant
) -> None:
    customer = await new_customer(customers, tenant)
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "ada@example.com"), metadata=gateway_metadata(None)
    )
    token = await token_for(customers_service, tenant, customer.id)
    await customers.DeleteCustomer(
        customers_pb2.DeleteCustomerRequest(id=customer.id), metadata=tenant.metadata()
    )
    error = await refusal(
        sign_in.ExchangePortalSignIn(exchanging(token), metadata=gateway_metadata(None))
    )
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "PORTAL_SIGN_IN_NOT_FOUND")


async def test_every_token_that_opens_nothing_is_refused_alike(
    sign_in, customers, customers_service: RunningService, tenant
) -> None:
    customer = await new_customer(customers, tenant)
    session = await customer_sessions_pb2_grpc.CustomerSessionServiceStub(
        customers_service.channel
    ).CreateCustomerSession(
        customer_sessions_pb2.CreateCustomerSessionRequest(customer_id=customer.id),
        metadata=tenant.metadata(),
    )
    tokens = ("bcm_" + "A" * 40, "bcm_", "not-a-token", tenant.api_key_secret, session.token)
    answers = [
        await refusal(
            sign_in.ExchangePortalSignIn(exchanging(token), metadata=gateway_metadata(None))
        )
        for token in tokens
    ]
    assert {(a.code, a.reason, a.message) for a in answers} == {
        (grpc.StatusCode.NOT_FOUND, "PORTAL_SIGN_IN_NOT_FOUND", answers[0].message)
    }
    missing = await refusal(
        sign_in.ExchangePortalSignIn(exchanging(""), metadata=gateway_metadata(None))
    )
    assert (missing.code, missing.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["token"])


async def test_a_replayed_exchange_answers_without_the_session_token_which_is_stored_nowhere(
    sign_in, customers, customers_service: RunningService, tenant
) -> None:
    customer = await new_customer(customers, tenant)
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "ada@example.com"), metadata=gateway_metadata(None)
    )
    token = await token_for(customers_service, tenant, customer.id)
    key = f"exchange-{uuid.uuid4()}"
    first = await sign_in.ExchangePortalSignIn(
        exchanging(token), metadata=gateway_metadata(None, idempotency_key=key)
    )
    replay = await sign_in.ExchangePortalSignIn(
        exchanging(token), metadata=gateway_metadata(None, idempotency_key=key)
    )
    assert first.token
    assert replay.token == ""
    assert replay.id == first.id
    stored = await rows(
        customers_service.app.database,
        select(kit_tables.idempotency_keys.c.response).where(
            kit_tables.idempotency_keys.c.key == key
        ),
    )
    assert len(stored) == 1
    assert first.token.encode() not in stored[0]["response"]


async def test_an_api_key_changes_nothing_the_call_acts_for_no_one(
    sign_in, customers, customers_service: RunningService, tenant, other_tenant
) -> None:
    """Anonymous: a key sent along (another organization's) is passed over."""
    customer = await new_customer(customers, tenant)
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "ada@example.com"),
        metadata=gateway_metadata(other_tenant.api_key_secret),
    )
    token = await token_for(customers_service, tenant, customer.id)
    session = await sign_in.ExchangePortalSignIn(
        exchanging(token), metadata=gateway_metadata(other_tenant.api_key_secret)
    )
    assert session.organization_id == str(tenant.organization_id)


@pytest.mark.parametrize(
    ("organization", "email", "code", "field"),
    [
        ("", "ada@example.com", grpc.StatusCode.INVALID_ARGUMENT, "organization"),
        (str(uuid.uuid4()), "ada@example.com", grpc.StatusCode.NOT_FOUND, None),
        ("no-such-shop-anywhere", "ada@example.com", grpc.StatusCode.NOT_FOUND, None),
        (None, "", grpc.StatusCode.INVALID_ARGUMENT, "email"),
        (None, "not an address", grpc.StatusCode.INVALID_ARGUMENT, "email"),
        (None, "a" * 310 + "@example.com", grpc.StatusCode.INVALID_ARGUMENT, "email"),
    ],
)
async def test_a_request_names_an_organization_and_an_address(
    sign_in, tenant, organization: str | None, email: str, code, field: str | None
) -> None:
    error = await refusal(
        sign_in.RequestPortalSignIn(
            asking(organization if organization is not None else tenant.slug, email),
            metadata=gateway_metadata(None),
        )
    )
    assert error.code == code
    if field is not None:
        assert error.fields == [field]
    else:
        assert error.reason == "ORGANIZATION_NOT_FOUND"


async def test_requests_are_limited_per_client_network(
    sign_in, customers_service: RunningService, tenant
) -> None:
    settings = customers_service.app.settings
    assert isinstance(settings, CustomersSettings)
    allowed = settings.portal_sign_in_requests_per_minute_per_address
    network = "2001:db8:77::1"
    for n in range(allowed):
        await sign_in.RequestPortalSignIn(
            asking(tenant.organization_id, f"user{n}@example.com"),
            metadata=gateway_metadata(None, client_address=network),
        )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await sign_in.RequestPortalSignIn(
            asking(tenant.organization_id, "one-more@example.com"),
            # Another address of the same /64: the same client.
            metadata=gateway_metadata(None, client_address="2001:db8:77::2"),
        )
    error = call_error(refused.value)
    assert (error.code, error.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "PORTAL_SIGN_IN_RATE_LIMITED",
    )
    retry_after = dict(refused.value.trailing_metadata() or ())["retry-after"]
    assert int(retry_after) >= 1
    # Another network is another client.
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "one-more@example.com"),
        metadata=gateway_metadata(None, client_address="2001:db8:78::1"),
    )


@pytest.mark.parametrize("has_customer", [True, False])
async def test_requests_are_limited_per_address_whether_or_not_anyone_has_it(
    sign_in, customers, customers_service: RunningService, tenant, has_customer: bool
) -> None:
    if has_customer:
        await new_customer(customers, tenant)
    settings = customers_service.app.settings
    assert isinstance(settings, CustomersSettings)
    for _ in range(settings.portal_sign_in_requests_per_minute_per_email):
        await sign_in.RequestPortalSignIn(
            asking(tenant.organization_id, "ada@example.com"), metadata=gateway_metadata(None)
        )
    error = await refusal(
        sign_in.RequestPortalSignIn(
            asking(tenant.slug, "ADA@example.com"), metadata=gateway_metadata(None)
        )
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "PORTAL_SIGN_IN_RATE_LIMITED",
    )
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "grace@example.com"), metadata=gateway_metadata(None)
    )


async def test_exchanges_are_limited_per_client_network(
    sign_in, customers_service: RunningService
) -> None:
    settings = customers_service.app.settings
    assert isinstance(settings, CustomersSettings)
    network = "198.51.100.77"
    for _ in range(settings.portal_sign_in_exchanges_per_minute_per_address):
        error = await refusal(
            sign_in.ExchangePortalSignIn(
                exchanging("bcm_" + "B" * 40),
                metadata=gateway_metadata(None, client_address=network),
            )
        )
        assert error.reason == "PORTAL_SIGN_IN_NOT_FOUND"
    error = await refusal(
        sign_in.ExchangePortalSignIn(
            exchanging("bcm_" + "B" * 40), metadata=gateway_metadata(None, client_address=network)
        )
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "PORTAL_SIGN_IN_RATE_LIMITED",
    )


async def test_in_development_each_link_is_written_to_the_log(
    sign_in, customers, tenant, caplog: pytest.LogCaptureFixture
) -> None:
    customer = await new_customer(customers, tenant)
    with caplog.at_level(logging.INFO, logger="billingos_customers.portal_sign_in"):
        await sign_in.RequestPortalSignIn(
            asking(tenant.organization_id, "ada@example.com"), metadata=gateway_metadata(None)
        )
        await sign_in.RequestPortalSignIn(
            asking(tenant.organization_id, "nobody@example.com"), metadata=gateway_metadata(None)
        )
    (line,) = [r for r in caplog.records if r.name == "billingos_customers.portal_sign_in"]
    assert line.customer_id == customer.id  # type: ignore[attr-defined]
    assert LINK.fullmatch(line.sign_in_url)  # type: ignore[attr-defined]
    assert "nobody@example.com" not in caplog.text


def test_links_are_logged_only_where_a_deployment_says_so() -> None:
    assert CustomersSettings.model_fields["portal_sign_in_log_links"].default is False


async def test_links_long_expired_are_purged(
    sign_in, customers, customers_service: RunningService, tenant, session_clock: FrozenClock
) -> None:
    await new_customer(customers, tenant)
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "ada@example.com"), metadata=gateway_metadata(None)
    )
    await sign_in.RequestPortalSignIn(
        asking(tenant.organization_id, "nobody@example.com"), metadata=gateway_metadata(None)
    )
    assert len(await sign_in_rows(customers_service, tenant.organization_id)) == 2
    keep_for = dt.timedelta(days=7)
    expiry = session_clock.now() + dt.timedelta(minutes=15)
    kept = PortalSignInRetention(
        customers_service.app.database, FrozenClock(expiry + keep_for), keep_for=keep_for
    )
    await kept.purge()
    assert len(await sign_in_rows(customers_service, tenant.organization_id)) == 2
    purged = PortalSignInRetention(
        customers_service.app.database,
        FrozenClock(expiry + keep_for + dt.timedelta(seconds=1)),
        keep_for=keep_for,
    )
    assert await purged.purge() >= 2
    assert await sign_in_rows(customers_service, tenant.organization_id) == []
