"""The check, from the view in memory: granted, not granted, unknown
feature (an answer, not an error), meter credits by balance, by external id,
in batches; another organization's customer is not found; the customer
state and the portal's grants read only their customer's."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import nats
import pytest

from billingos.entitlements.v1 import (
    benefit_grants_pb2,
    benefits_pb2,
    customer_portal_pb2,
    customer_state_pb2,
    entitlements_pb2,
)
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_entitlements.entitlement_view import EntitlementView
from billingos_entitlements.entitlements import current_view
from billingos_kit.errors import Unavailable
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, gateway_metadata
from billingos_kit.testing.sessions import KnownSessions
from billingos_kit.testing.waiting import eventually

from .conftest import Merchant

Reason = entitlements_pb2.EntitlementReason


async def answer(
    merchant: Merchant, customer: uuid.UUID | str, feature: str, *, external: bool = False
) -> entitlements_pb2.Entitlement:
    request = entitlements_pb2.CheckEntitlementRequest(feature=feature)
    if external:
        request.external_customer_id = str(customer)
    else:
        request.customer_id = str(customer)
    return await merchant.checks.CheckEntitlement(request, metadata=merchant.metadata())


async def until(
    merchant: Merchant, customer: uuid.UUID, feature: str, reason: int
) -> entitlements_pb2.Entitlement:
    async def check() -> entitlements_pb2.Entitlement | None:
        try:
            found = await answer(merchant, customer, feature)
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.NOT_FOUND:
                return None  # the customer's state is still on its way
            raise
        return found if found.reason == reason else None

    return await eventually(check)


async def test_a_granted_feature_is_allowed_and_a_revoked_one_not(merchant: Merchant) -> None:
    flag = await merchant.benefit("api")
    product, customer, sub = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.customer(customer, "user-1")
    await merchant.product(product, flag.id)
    await until(merchant, customer, "api", Reason.ENTITLEMENT_REASON_NOT_GRANTED)
    unknown = await answer(merchant, customer, "no-such-feature")
    assert (unknown.allowed, unknown.reason) == (False, Reason.ENTITLEMENT_REASON_UNKNOWN_FEATURE)
    await merchant.hear(merchant.subscription(sub, customer, product))
    allowed = await until(merchant, customer, "api", Reason.ENTITLEMENT_REASON_GRANTED)
    assert allowed.allowed
    assert allowed.benefit_id == flag.id
    by_external = await answer(merchant, "user-1", "api", external=True)
    assert by_external.allowed
    ended = merchant.subscription(
        sub, customer, product, subscriptions_pb2.SUBSCRIPTION_STATUS_CANCELED, ended=True
    )
    await merchant.hear(ended, subscription_events.SubscriptionRevokedEvent)
    revoked = await until(merchant, customer, "api", Reason.ENTITLEMENT_REASON_NOT_GRANTED)
    assert not revoked.allowed


async def test_meter_credits_are_allowed_while_the_balance_lasts(merchant: Merchant) -> None:
    """The real path: the grant's credit goes to metering (the crediter), its
    balance comes back on metering's state stream, usage ingested into
    metering uses it up."""
    meter = await merchant.new_meter()
    credits = await merchant.benefit(
        "api_calls",
        type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
        meter_credits=benefits_pb2.MeterCreditsProperties(meter_id=meter, units="100"),
    )
    product, customer = uuid.uuid4(), uuid.uuid4()
    await merchant.customer(customer)
    await merchant.product(product, credits.id)
    await merchant.hear(merchant.subscription(uuid.uuid4(), customer, product))
    left = await until(merchant, customer, "api_calls", Reason.ENTITLEMENT_REASON_GRANTED)
    assert (left.allowed, left.balance, left.credited_units, left.meter_id) == (
        True,
        "100",
        "100",
        meter,
    )
    await merchant.use(customer, 100)
    used_up = await until(
        merchant, customer, "api_calls", Reason.ENTITLEMENT_REASON_NO_CREDITS_LEFT
    )
    assert (used_up.allowed, used_up.balance, used_up.consumed_units) == (False, "0", "100")


async def test_a_batch_answers_each_feature_in_order(merchant: Merchant) -> None:
    flag, other = await merchant.benefit("api"), await merchant.benefit("exports")
    product, customer = uuid.uuid4(), uuid.uuid4()
    await merchant.customer(customer)
    await merchant.product(product, flag.id)
    await merchant.hear(merchant.subscription(uuid.uuid4(), customer, product))
    await until(merchant, customer, "api", Reason.ENTITLEMENT_REASON_GRANTED)
    found = await merchant.checks.BatchCheckEntitlements(
        entitlements_pb2.BatchCheckEntitlementsRequest(
            customer_id=str(customer), features=["exports", "api", "nope"]
        ),
        metadata=merchant.metadata(),
    )
    assert [(e.feature, e.allowed, e.reason) for e in found.entitlements] == [
        ("exports", False, Reason.ENTITLEMENT_REASON_NOT_GRANTED),
        ("api", True, Reason.ENTITLEMENT_REASON_GRANTED),
        ("nope", False, Reason.ENTITLEMENT_REASON_UNKNOWN_FEATURE),
    ]
    assert other.id == found.entitlements[0].benefit_id


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"feature": "api"}, "customer_id"),
        ({"customer_id": "not-an-id", "feature": "api"}, "customer_id"),
        (
            {"customer_id": str(uuid.uuid4()), "external_customer_id": "x", "feature": "api"},
            "customer_id",
        ),
        ({"customer_id": str(uuid.uuid4()), "feature": ""}, "feature"),
        ({"customer_id": str(uuid.uuid4()), "feature": "f" * 65}, "feature"),
    ],
)
async def test_a_bad_check_names_its_field(
    merchant: Merchant, request_fields: dict[str, str], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await merchant.checks.CheckEntitlement(
            entitlements_pb2.CheckEntitlementRequest(**request_fields), metadata=merchant.metadata()
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in call_error(raised.value).fields


async def test_another_organizations_customer_is_not_found(
    merchant: Merchant, entitlements_service: RunningService, servers: SessionServers
) -> None:
    flag = await merchant.benefit("api")
    product, customer = uuid.uuid4(), uuid.uuid4()
    await merchant.customer(customer, "shared-external-id")
    await merchant.product(product, flag.id)
    await merchant.hear(merchant.subscription(uuid.uuid4(), customer, product))
    await until(merchant, customer, "api", Reason.ENTITLEMENT_REASON_GRANTED)
    other = Merchant(entitlements_service, servers.nats_url)
    await other.benefit("api")
    # Even a customer of the other organization with the same id (its own
    # state, its own benefit of the same key) holds none of the first's grants.
    await other.customer(customer)
    not_theirs = await until(other, customer, "api", Reason.ENTITLEMENT_REASON_NOT_GRANTED)
    assert not not_theirs.allowed
    twin = uuid.uuid4()
    for request in (
        entitlements_pb2.CheckEntitlementRequest(customer_id=str(twin), feature="api"),
        entitlements_pb2.CheckEntitlementRequest(
            external_customer_id="shared-external-id", feature="api"
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await other.checks.CheckEntitlement(request, metadata=other.metadata())
        assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    await merchant.customer(twin)
    with pytest.raises(grpc.aio.AioRpcError) as state:
        await other.states.GetCustomerState(
            customer_state_pb2.GetCustomerStateRequest(customer_id=str(twin)),
            metadata=other.metadata(),
        )
    assert state.value.code() is grpc.StatusCode.NOT_FOUND


async def test_a_deleted_customer_is_not_found(merchant: Merchant) -> None:
    customer = uuid.uuid4()
    await merchant.customer(customer)
    await merchant.benefit("api")
    await until(merchant, customer, "api", Reason.ENTITLEMENT_REASON_NOT_GRANTED)
    await merchant.customer(customer, deleted=True)

    async def gone() -> bool | None:
        try:
            await answer(merchant, customer, "api")
        except grpc.aio.AioRpcError as error:
            return True if error.code() is grpc.StatusCode.NOT_FOUND else None
        return None

    await eventually(gone)


async def test_the_customer_state_holds_its_subscriptions_grants_and_meters(
    merchant: Merchant,
) -> None:
    meter = await merchant.new_meter()
    credits = await merchant.benefit(
        "api_calls",
        type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
        meter_credits=benefits_pb2.MeterCreditsProperties(meter_id=meter, units="100"),
    )
    product, customer, sub = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.customer(customer, "user-9")
    await merchant.product(product, credits.id)
    await merchant.hear(merchant.subscription(sub, customer, product))
    await until(merchant, customer, "api_calls", Reason.ENTITLEMENT_REASON_GRANTED)

    async def state() -> customer_state_pb2.CustomerState | None:
        try:
            found = await merchant.states.GetCustomerState(
                customer_state_pb2.GetCustomerStateRequest(customer_id=str(customer)),
                metadata=merchant.metadata(),
            )
        except grpc.aio.AioRpcError as error:
            # The state's customer copy is a consumer of its own, which may
            # still be behind the check's view in a busy session.
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return None
        return found if found.granted_benefits and found.subscriptions else None

    found = await eventually(state, seconds=30.0)
    assert found.external_customer_id == "user-9"
    assert [s.id for s in found.subscriptions] == [str(sub)]
    assert found.subscriptions[0].status == "active"
    assert [g.benefit_key for g in found.granted_benefits] == ["api_calls"]
    assert [(m.meter_id, m.balance) for m in found.meters] == [(meter, "100")]


async def test_the_portal_lists_only_the_sessions_customers_grants(
    merchant: Merchant, entitlements_service: RunningService
) -> None:
    flag = await merchant.benefit("api")
    product, mine, theirs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, flag.id)
    for customer in (mine, theirs):
        await merchant.hear(merchant.subscription(uuid.uuid4(), customer, product))
        await merchant.granted(customer, 1)
    sessions = KnownSessions()
    entitlements_service.app.use_session_lookup(sessions)
    # (Left in place: every test's tokens are its own, and API keys are checked apart.)
    token = sessions.issue(
        merchant.organization_id, mine, entitlements_service.app.clock.now() + dt.timedelta(hours=1)
    )
    found = await merchant.portal.ListPortalBenefitGrants(
        customer_portal_pb2.ListPortalBenefitGrantsRequest(), metadata=gateway_metadata(token)
    )
    assert [g.customer_id for g in found.benefit_grants] == [str(mine)]
    # The token is no key: the merchant's own list refuses it.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await merchant.grants.ListBenefitGrants(
            benefit_grants_pb2.ListBenefitGrantsRequest(), metadata=gateway_metadata(token)
        )
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_a_view_cut_off_from_nats_answers_until_its_bound_then_refuses(
    servers: SessionServers,
) -> None:
    client = await nats.connect(servers.nats_url)
    view = EntitlementView(max_staleness_seconds=1.5)
    stop = asyncio.Event()
    task = asyncio.create_task(view.run(client.jetstream(), stop))
    try:
        await asyncio.wait_for(view.until_ready(), 30)
        await current_view(view)  # current: answers
        await client.close()
        await current_view(view)  # just cut off: still within its bound
        await asyncio.sleep(3.0)
        with pytest.raises(Unavailable) as refused:
            await current_view(view)
        assert refused.value.reason == "VIEW_STALE"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await client.close()
