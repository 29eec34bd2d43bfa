"""Failed API-key checks are throttled per client address: past the allowance,
every request from the address is a 429 with Retry-After, valid key or not,
and the database is not asked; the allowance refills with time."""

from __future__ import annotations

import datetime as dt

import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc

from billingos_customers.api_keys import hash_secret
from billingos_customers.authz import ApiKeyAuthorizer, RejectedKeyCache, VerifiedKeyCache
from billingos_customers.throttle import FailedCheckThrottle
from billingos_kit.clock import FrozenClock
from billingos_kit.db import Database
from billingos_kit.headers import ERROR_REASON_HEADER
from billingos_kit.testing.plugin import TEST_EPOCH
from billingos_kit.testing.service import RunningService, call_metadata


def test_an_address_is_throttled_after_its_allowance_and_refills_with_time() -> None:
    clock = FrozenClock(TEST_EPOCH)
    throttle = FailedCheckThrottle(clock, per_minute=3)
    for _ in range(3):
        assert throttle.retry_after("192.0.2.1") is None
        throttle.record_failure("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 20  # a token per 20 s
    assert throttle.retry_after("192.0.2.2") is None  # another address
    clock.advance(dt.timedelta(seconds=19))
    assert throttle.retry_after("192.0.2.1") == 1
    clock.advance(dt.timedelta(seconds=1))
    assert throttle.retry_after("192.0.2.1") is None
    throttle.record_failure("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 20


def test_the_throttle_forgets_the_oldest_addresses_past_its_bound() -> None:
    throttle = FailedCheckThrottle(FrozenClock(TEST_EPOCH), per_minute=1, max_addresses=2)
    for address in ("a", "b", "c"):
        throttle.record_failure(address)
    assert throttle.retry_after("a") is None
    assert throttle.retry_after("c") is not None


def check(authorization: str, address: str) -> external_auth_pb2.CheckRequest:
    return external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            source=attribute_context_pb2.AttributeContext.Peer(
                address={"socket_address": {"address": address, "port_value": 1234}}
            ),
            request=attribute_context_pb2.AttributeContext.Request(
                http=attribute_context_pb2.AttributeContext.HttpRequest(
                    headers={"authorization": authorization}
                )
            ),
        )
    )


@pytest.fixture
def strict_authorizer(
    customers_service: RunningService,
) -> external_auth_pb2_grpc.AuthorizationStub:
    return external_auth_pb2_grpc.AuthorizationStub(customers_service.channel)


async def test_the_key_check_answers_429_once_an_address_failed_too_often(
    strict_authorizer, tenant
) -> None:
    address = "198.51.100.7"
    statuses = []
    for index in range(32):
        answer = await strict_authorizer.Check(
            check(f"Bearer bos_wrong{index}", address), metadata=call_metadata()
        )
        statuses.append(answer.denied_response.status.code)
    assert statuses == [401] * 30 + [429] * 2
    valid = await strict_authorizer.Check(
        check(f"Bearer {tenant.api_key_secret}", address), metadata=call_metadata()
    )
    headers = {h.header.key: h.header.value for h in valid.denied_response.headers}
    assert valid.denied_response.status.code == 429
    assert headers[ERROR_REASON_HEADER] == "RATE_LIMITED"
    assert int(headers["retry-after"]) >= 1
    elsewhere = await strict_authorizer.Check(
        check(f"Bearer {tenant.api_key_secret}", "198.51.100.8"), metadata=call_metadata()
    )
    assert elsewhere.HasField("ok_response")


async def test_a_repeated_bad_key_asks_the_database_once() -> None:
    clock = FrozenClock(TEST_EPOCH)
    ttl = dt.timedelta(seconds=5)
    rejected = RejectedKeyCache(clock, ttl)
    never_connected = Database("postgresql://nobody@127.0.0.1:1/never_connected")
    authorizer = ApiKeyAuthorizer(
        never_connected,
        VerifiedKeyCache(clock, ttl),
        rejected,
        FailedCheckThrottle(clock, per_minute=100),
    )
    rejected.add(hash_secret("bos_known_bad"))
    # The database is not asked (it could not be reached): the rejected cache answers.
    answer = await authorizer.Check(check("Bearer bos_known_bad", "203.0.113.1"), None)  # type: ignore[arg-type]
    assert answer.denied_response.status.code == 401
    clock.advance(ttl)
    assert hash_secret("bos_known_bad") not in rejected
