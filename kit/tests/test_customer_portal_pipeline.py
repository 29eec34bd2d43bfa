"""The pipeline's rules for customer portal methods
(`(billingos.common.v1.customer_portal)`), on a real gRPC server whose
servicers only report the call scope they got, with keys and sessions held in
memory and a frozen clock: a portal method takes a session token and nothing
else, a session token works nowhere else, the session names the organization
and the customer, its expiry holds even from the cache, a revocation holds
after the cache time, and failures spend the address's one allowance."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool

from billingos.common.v1 import options_pb2
from billingos.customers.v1 import (
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
)
from billingos_kit.clock import FrozenClock
from billingos_kit.db import Database, service_metadata
from billingos_kit.errors import Unauthenticated
from billingos_kit.grpc.methods import policies_for
from billingos_kit.grpc.pipeline import CallPipeline
from billingos_kit.grpc.scope import CallScope, current_scope
from billingos_kit.headers import ORGANIZATION_HEADER
from billingos_kit.idempotency import IdempotencyStore
from billingos_kit.keycheck import KeyCheck, VerifiedKey
from billingos_kit.scopes import Scope
from billingos_kit.sessioncheck import PortalSession, SessionCheck
from billingos_kit.tables import define_kit_tables
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.plugin import TEST_EPOCH
from billingos_kit.testing.service import (
    TEST_GATEWAY_TOKEN,
    TEST_SERVICE_TOKEN,
    call_metadata,
    gateway_metadata,
)
from billingos_kit.testing.sessions import KnownSessions
from billingos_kit.throttle import FailedCheckThrottle

CACHE_TIME = dt.timedelta(seconds=5)
ALLOWANCE = 5
ORGANIZATION = uuid.uuid4()
OTHER_ORGANIZATION = uuid.uuid4()
CUSTOMER = uuid.uuid4()
API_KEY = "bos_merchant"
TOKEN = "bcs_customer"
OTHER_TOKEN = "bcs_other_customer"
KEY = VerifiedKey(uuid.uuid4(), ORGANIZATION, frozenset({Scope.READ, Scope.WRITE}))


class Credentials:
    """The keys and sessions the owner knows, counting how often it is asked;
    `gate`, when set, holds every session answer until opened."""

    def __init__(self) -> None:
        self.keys = {API_KEY: KEY}
        self.sessions: dict[str, PortalSession] = {}
        self.asked: list[str] = []
        self.gate: asyncio.Event | None = None

    async def find(self, secret: str) -> Any:
        self.asked.append(secret)
        if self.gate is not None:
            await self.gate.wait()
        return self.sessions.get(secret) or self.keys.get(secret)

    async def close(self) -> None:
        return None


class ScopeReporter(
    customer_portal_pb2_grpc.CustomerPortalServiceServicer,
    customers_pb2_grpc.CustomerServiceServicer,
):
    """Answers with nothing, keeping the scope each call got."""

    def __init__(self) -> None:
        self.scopes: list[CallScope] = []

    async def GetPortalCustomer(
        self, request: customer_portal_pb2.GetPortalCustomerRequest, context: Any
    ) -> customer_portal_pb2.PortalCustomer:
        scope = current_scope()
        self.scopes.append(scope)
        return customer_portal_pb2.PortalCustomer(id=str(scope.portal_customer_id))

    async def ListCustomers(
        self, request: customers_pb2.ListCustomersRequest, context: Any
    ) -> customers_pb2.ListCustomersResponse:
        self.scopes.append(current_scope())
        return customers_pb2.ListCustomersResponse()


class Served:
    def __init__(self, channel: grpc.aio.Channel, reporter: ScopeReporter) -> None:
        self.portal = customer_portal_pb2_grpc.CustomerPortalServiceStub(channel)
        self.customers = customers_pb2_grpc.CustomerServiceStub(channel)
        self.reporter = reporter


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(TEST_EPOCH)


@pytest.fixture
def owner(clock: FrozenClock) -> Credentials:
    credentials = Credentials()
    credentials.sessions[TOKEN] = session_until(clock.now() + dt.timedelta(hours=1))
    return credentials


def session_until(
    expire_time: dt.datetime, organization_id: uuid.UUID = ORGANIZATION
) -> PortalSession:
    return PortalSession(uuid.uuid4(), organization_id, CUSTOMER, expire_time)


@pytest.fixture
async def served(owner: Credentials, clock: FrozenClock) -> AsyncIterator[Served]:
    """The pipeline around the reporter; no call here touches the database
    (reads take a connection on first use only), so none is reachable."""
    key_check = KeyCheck(owner, clock, cache_time=CACHE_TIME, failed_checks_per_minute=ALLOWANCE)
    pipeline = CallPipeline(
        database=Database("postgresql://127.0.0.1:1/unreachable"),
        tables=define_kit_tables(service_metadata("portal_pipeline_test")),
        clock=clock,
        source="portaltest",
        service_token=TEST_SERVICE_TOKEN,
        gateway_token=TEST_GATEWAY_TOKEN,
        idempotency=IdempotencyStore(
            define_kit_tables(service_metadata("portal_pipeline_idem")), clock, dt.timedelta(1)
        ),
        key_check=key_check,
        session_check=SessionCheck(
            owner, clock, cache_time=CACHE_TIME, throttle=key_check.throttle
        ),
    )
    reporter = ScopeReporter()
    server = grpc.aio.server(interceptors=[pipeline])
    for module, name, add in (
        (
            customer_portal_pb2,
            "CustomerPortalService",
            customer_portal_pb2_grpc.add_CustomerPortalServiceServicer_to_server,
        ),
        (
            customers_pb2,
            "CustomerService",
            customers_pb2_grpc.add_CustomerServiceServicer_to_server,
        ),
    ):
        add(reporter, server)
        pipeline.register(policies_for(module.DESCRIPTOR.services_by_name[name]))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Served(channel, reporter)
    finally:
        await channel.close()
        await server.stop(0)


PORTAL_REQUEST = customer_portal_pb2.GetPortalCustomerRequest()
LIST_REQUEST = customers_pb2.ListCustomersRequest()


async def refusal(call: Any) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def test_a_portal_call_acts_for_the_sessions_organization_and_customer(
    served: Served,
) -> None:
    # An organization header names nothing for a call from outside (the
    # gateway drops any a client sends): the session does.
    forged = (*gateway_metadata(TOKEN), (ORGANIZATION_HEADER, str(OTHER_ORGANIZATION)))
    answer = await served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=forged)
    assert answer.id == str(CUSTOMER)
    (scope,) = served.reporter.scopes
    assert scope.organization_id == ORGANIZATION
    assert scope.portal_customer_id == CUSTOMER
    assert scope.caller_scopes == frozenset()
    assert scope.caller_key_id is None


async def test_another_organizations_session_acts_only_for_its_own(
    served: Served, owner: Credentials, clock: FrozenClock
) -> None:
    owner.sessions[OTHER_TOKEN] = session_until(
        clock.now() + dt.timedelta(hours=1), OTHER_ORGANIZATION
    )
    forged = (*gateway_metadata(OTHER_TOKEN), (ORGANIZATION_HEADER, str(ORGANIZATION)))
    await served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=forged)
    (scope,) = served.reporter.scopes
    assert scope.organization_id == OTHER_ORGANIZATION


async def test_a_session_token_on_any_other_method_is_unauthenticated_without_asking(
    served: Served, owner: Credentials
) -> None:
    error = await refusal(
        served.customers.ListCustomers(LIST_REQUEST, metadata=gateway_metadata(TOKEN))
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_NOT_ACCEPTED",
    )
    assert "customer-portal" in error.message
    assert owner.asked == []
    assert served.reporter.scopes == []


async def test_an_api_key_on_a_portal_method_is_refused_without_asking(
    served: Served, owner: Credentials
) -> None:
    await served.customers.ListCustomers(LIST_REQUEST, metadata=gateway_metadata(API_KEY))
    owner.asked.clear()
    error = await refusal(
        served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=gateway_metadata(API_KEY))
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_REQUIRED",
    )
    assert "not an API key" in error.message
    assert owner.asked == []


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("", "CUSTOMER_SESSION_MISSING"),
        ("Basic dXNlcjpwYXNz", "CUSTOMER_SESSION_MISSING"),
        ("Bearer bcs_guess", "CUSTOMER_SESSION_INVALID"),
        ("Bearer sk_live_123", "CUSTOMER_SESSION_INVALID"),
    ],
)
async def test_no_working_session_is_unauthenticated_with_a_challenge(
    served: Served, authorization: str, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await served.portal.GetPortalCustomer(
            PORTAL_REQUEST, metadata=gateway_metadata(None, authorization=authorization)
        )
    error = call_error(refused.value)
    assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason)
    assert dict(refused.value.trailing_metadata() or ())["www-authenticate"] == "Bearer"


async def test_an_expired_session_is_refused_even_from_the_cache(
    served: Served, owner: Credentials, clock: FrozenClock
) -> None:
    owner.sessions[TOKEN] = session_until(clock.now() + dt.timedelta(seconds=2))
    await served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=gateway_metadata(TOKEN))
    clock.advance(dt.timedelta(seconds=2))  # within the cache time, past the expiry
    error = await refusal(
        served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=gateway_metadata(TOKEN))
    )
    assert error.reason == "CUSTOMER_SESSION_INVALID"
    assert owner.asked == [TOKEN]


async def test_a_revoked_session_works_for_the_cache_time_and_no_longer(
    served: Served, owner: Credentials, clock: FrozenClock
) -> None:
    metadata = gateway_metadata(TOKEN)
    await served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=metadata)
    del owner.sessions[TOKEN]  # revoked (or its customer deleted)
    clock.advance(CACHE_TIME - dt.timedelta(milliseconds=1))
    await served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=metadata)
    clock.advance(dt.timedelta(milliseconds=1))
    error = await refusal(served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=metadata))
    assert error.reason == "CUSTOMER_SESSION_INVALID"
    assert owner.asked == [TOKEN, TOKEN]


async def test_calls_waiting_for_one_token_share_one_lookup(
    served: Served, owner: Credentials
) -> None:
    owner.gate = asyncio.Event()
    calls = [
        asyncio.ensure_future(
            served.portal.GetPortalCustomer(
                PORTAL_REQUEST, metadata=gateway_metadata(TOKEN, client_address="192.0.2.5")
            )
        )
        for _ in range(10)
    ]
    await asyncio.sleep(0.2)
    owner.gate.set()
    answers = await asyncio.gather(*calls)
    assert {answer.id for answer in answers} == {str(CUSTOMER)}
    assert owner.asked == [TOKEN]


async def test_failed_session_checks_spend_the_addresss_one_allowance(served: Served) -> None:
    address = "192.0.2.77"
    for index in range(ALLOWANCE):
        await refusal(
            served.portal.GetPortalCustomer(
                PORTAL_REQUEST,
                metadata=gateway_metadata(f"bcs_guess{index}", client_address=address),
            )
        )
    for metadata, call in (
        (gateway_metadata(TOKEN, client_address=address), served.portal.GetPortalCustomer),
        (gateway_metadata(API_KEY, client_address=address), served.customers.ListCustomers),
    ):
        request = PORTAL_REQUEST if call is served.portal.GetPortalCustomer else LIST_REQUEST
        error = await refusal(call(request, metadata=metadata))
        assert (error.code, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    elsewhere = gateway_metadata(TOKEN, client_address="192.0.2.78")
    await served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=elsewhere)


async def test_failed_session_checks_count_an_ipv6_clients_whole_64(served: Served) -> None:
    """Guesses from ever new addresses of one IPv6 /64 spend one allowance,
    shared with the key check; another /64 is not held up."""
    for index in range(ALLOWANCE):
        await refusal(
            served.portal.GetPortalCustomer(
                PORTAL_REQUEST,
                metadata=gateway_metadata(
                    f"bcs_guess{index}", client_address=f"2001:db8:77:1::{index + 1:x}"
                ),
            )
        )
    for metadata, call in (
        (
            gateway_metadata(TOKEN, client_address="2001:db8:77:1:9999::1"),
            served.portal.GetPortalCustomer,
        ),
        (
            gateway_metadata(API_KEY, client_address="2001:db8:77:1::beef"),
            served.customers.ListCustomers,
        ),
    ):
        request = PORTAL_REQUEST if call is served.portal.GetPortalCustomer else LIST_REQUEST
        error = await refusal(call(request, metadata=metadata))
        assert (error.code, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    elsewhere = gateway_metadata(TOKEN, client_address="2001:db8:77:2::1")
    await served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=elsewhere)


async def test_internal_callers_keep_working_and_name_no_portal_customer(
    served: Served,
) -> None:
    await served.customers.ListCustomers(LIST_REQUEST, metadata=call_metadata(ORGANIZATION))
    error = await refusal(
        served.portal.GetPortalCustomer(PORTAL_REQUEST, metadata=call_metadata(ORGANIZATION))
    )
    assert (error.code, error.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CUSTOMER_SESSION_REQUIRED",
    )


# ---- the option's shape, checked when a service registers its methods --------


def service_with(path: str, *, portal: bool = True, **option: Any) -> descriptor.ServiceDescriptor:
    """A one-method service `t.v1.ThingService` in a pool of its own."""
    pool = descriptor_pool.DescriptorPool()
    for module in (descriptor_pb2, http_pb2, annotations_pb2, options_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        pool.Add(proto)
    file = descriptor_pb2.FileDescriptorProto(
        name="t/thing.proto",
        package="t.v1",
        syntax="proto3",
        dependency=["google/api/annotations.proto", "billingos/common/v1/options.proto"],
    )
    file.message_type.add(name="Request")
    file.message_type.add(name="Response")
    service_name = option.pop("service_name", "ThingService")
    method = file.service.add(name=service_name).method.add(
        name="GetThing", input_type=".t.v1.Request", output_type=".t.v1.Response"
    )
    if portal:
        method.options.Extensions[options_pb2.customer_portal] = True
    if path:
        method.options.Extensions[annotations_pb2.http].get = path
    for name, value in option.items():
        method.options.Extensions[getattr(options_pb2, name)] = value
    pool.Add(file)
    return pool.FindServiceByName(f"t.v1.{service_name}")


def test_a_portal_method_of_the_right_shape_gets_a_portal_policy() -> None:
    (policy,) = policies_for(service_with("/v1/customer-portal/things"))
    assert policy.customer_portal
    assert policy.requires_organization
    (plain,) = policies_for(service_with("/v1/things", portal=False))
    assert not plain.customer_portal


@pytest.mark.parametrize(
    ("path", "options", "complaint"),
    [
        ("/v1/things", {}, "outside /v1/customer-portal/"),
        ("", {}, "outside /v1/customer-portal/"),
        (
            "/v1/customer-portal/things",
            {"tenancy": options_pb2.TENANCY_NONE},
            "TENANCY_NONE",
        ),
        ("/v1/customer-portal/things", {"scope": options_pb2.SCOPE_READ}, "API-key scope"),
        (
            "/v1/customer-portal/things",
            {"service_name": "ThingAdminService"},
            "AdminService",
        ),
    ],
)
def test_a_portal_method_of_another_shape_is_refused_at_startup(
    path: str, options: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(TypeError, match=complaint):
        policies_for(service_with(path, **options))


def test_a_route_under_the_portal_prefix_needs_the_option() -> None:
    with pytest.raises(TypeError, match="customer_portal"):
        policies_for(service_with("/v1/customer-portal/things", portal=False))


async def test_the_in_memory_sessions_for_other_services_tests_behave_like_the_owner(
    clock: FrozenClock,
) -> None:
    sessions = KnownSessions()
    check = SessionCheck(
        sessions, clock, cache_time=CACHE_TIME, throttle=FailedCheckThrottle(clock, ALLOWANCE)
    )
    token = sessions.issue(ORGANIZATION, CUSTOMER, clock.now() + dt.timedelta(minutes=1))
    assert token.startswith("bcs_")
    verified = await check.verify(f"Bearer {token}", "192.0.2.1")
    assert (verified.organization_id, verified.customer_id) == (ORGANIZATION, CUSTOMER)
    sessions.revoke(token)
    clock.advance(CACHE_TIME)
    with pytest.raises(Unauthenticated):
        await check.verify(f"Bearer {token}", "192.0.2.1")
