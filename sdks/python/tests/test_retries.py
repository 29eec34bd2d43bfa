"""Retries over real sockets: what is retried, how long the client waits,
and that a mutation's Idempotency-Key is the same on every try."""

from __future__ import annotations

import socket

import pytest

from billingos_sdk import (
    AsyncBillingOS,
    AuthenticationError,
    BillingOS,
    BillingOSError,
    ConflictError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)

from .conftest import DROP, Reply, ScriptedServer, status_body

CUSTOMER = {"id": "c1", "email": "ada@example.com", "organization_id": "o1"}
UNAVAILABLE = Reply(503, status_body(14, "UNAVAILABLE", "try again"))


def client(server: ScriptedServer, delays: list[float], **options: object) -> BillingOS:
    return BillingOS(
        access_token="bos_test",
        server_url=server.url,
        retry_policy=RetryPolicy(random=lambda: 1.0),
        sleep=delays.append,
        **options,  # type: ignore[arg-type]
    )


def test_a_mutation_is_retried_with_one_idempotency_key(server: ScriptedServer) -> None:
    server.script(
        UNAVAILABLE, Reply(500, status_body(13, "INTERNAL", "oops")), Reply(200, CUSTOMER)
    )
    delays: list[float] = []
    with client(server, delays) as billingos:
        customer = billingos.customers.create(email="ada@example.com", external_id="user_1")
    assert customer.id == "c1"
    assert [r.method for r in server.received] == ["POST"] * 3
    keys = {r.headers.get("idempotency-key") for r in server.received}
    assert len(keys) == 1
    assert None not in keys
    assert "" not in keys
    assert all(
        r.body == {"email": "ada@example.com", "external_id": "user_1"} for r in server.received
    )
    assert all(r.headers["authorization"] == "Bearer bos_test" for r in server.received)
    assert delays == [0.5, 1.0]  # exponential: initial_delay * 2**n, jitter fixed at its top


def test_each_logical_call_gets_its_own_key(server: ScriptedServer) -> None:
    server.script(Reply(200, CUSTOMER))
    with client(server, []) as billingos:
        billingos.customers.delete("c1")
        billingos.customers.delete("c1")
    first, second = (r.headers["idempotency-key"] for r in server.received)
    assert first != second


def test_the_callers_idempotency_key_is_sent(server: ScriptedServer) -> None:
    server.script(UNAVAILABLE, Reply(200, {"inserted": 1, "duplicates": 0}))
    with client(server, []) as billingos:
        result = billingos.events.ingest(
            events=[{"name": "api_call", "external_customer_id": "user_1"}],
            idempotency_key="batch-42",
        )
    assert (result.inserted, result.duplicates) == (1, 0)
    assert [r.headers["idempotency-key"] for r in server.received] == ["batch-42", "batch-42"]


def test_retry_after_is_honoured(server: ScriptedServer) -> None:
    limited = Reply(429, status_body(8, "RATE_LIMITED", "slow down"), {"Retry-After": "7"})
    server.script(limited, Reply(503, {}, {"Retry-After": "2"}), Reply(200, CUSTOMER))
    delays: list[float] = []
    with client(server, delays) as billingos:
        assert billingos.customers.get("c1").email == "ada@example.com"
    assert delays == [7.0, 2.0]
    assert len(server.received) == 3


def test_rate_limit_error_once_the_retries_are_spent(server: ScriptedServer) -> None:
    limited = Reply(429, status_body(8, "RATE_LIMITED", "slow down"), {"Retry-After": "1"})
    server.script(limited)
    delays: list[float] = []
    with (
        client(server, delays, max_retries=2) as billingos,
        pytest.raises(RateLimitError) as raised,
    ):
        billingos.customers.get("c1")
    assert len(server.received) == 3
    assert delays == [1.0, 1.0]
    assert raised.value.retry_after == 1.0
    assert raised.value.reason == "RATE_LIMITED"


def test_a_retry_after_too_long_is_not_waited_for(server: ScriptedServer) -> None:
    server.script(Reply(429, status_body(8, "RATE_LIMITED", "later"), {"Retry-After": "3600"}))
    delays: list[float] = []
    with client(server, delays) as billingos, pytest.raises(RateLimitError):
        billingos.customers.get("c1")
    assert delays == []
    assert len(server.received) == 1


def test_network_errors_are_retried(server: ScriptedServer) -> None:
    server.script(DROP, DROP, Reply(200, CUSTOMER))
    delays: list[float] = []
    with client(server, delays) as billingos:
        assert billingos.customers.get("c1").id == "c1"
    assert len(server.received) == 3
    assert len(delays) == 2
    assert all("idempotency-key" not in r.headers for r in server.received)  # a GET


def test_a_dropped_mutation_is_retried_with_its_key(server: ScriptedServer) -> None:
    server.script(DROP, Reply(200, CUSTOMER))
    with client(server, []) as billingos:
        billingos.customers.update("c1", name="Ada")
    first, second = server.received
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.query == {"update_mask": "name"}
    assert first.body == {"name": "Ada"}


def test_no_server_at_all_is_a_network_error_after_the_retries() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delays: list[float] = []
    billingos = BillingOS(
        access_token="bos_test",
        server_url=f"http://127.0.0.1:{port}",
        retry_policy=RetryPolicy(random=lambda: 0.0),
        sleep=delays.append,
    )
    with billingos, pytest.raises(NetworkError) as raised:
        billingos.customers.get("c1")
    assert delays == [0.25, 0.5, 1.0]  # 3 retries, jitter at its bottom (half)
    assert raised.value.status_code is None
    assert raised.value.__cause__ is not None


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, 3, InvalidRequestError),
        (401, 16, AuthenticationError),
        (403, 7, PermissionDeniedError),
        (404, 5, NotFoundError),
        (409, 6, ConflictError),  # ALREADY_EXISTS: a duplicate, not transient
        (409, 9, ConflictError),  # FAILED_PRECONDITION
        (422, 3, InvalidRequestError),
        (418, 2, BillingOSError),
        (501, 12, ServerError),
    ],
)
def test_client_errors_and_501_are_not_retried(
    server: ScriptedServer, status: int, code: int, kind: type[BillingOSError]
) -> None:
    server.script(Reply(status, status_body(code, "NOPE", "no")))
    delays: list[float] = []
    with client(server, delays) as billingos, pytest.raises(BillingOSError) as raised:
        billingos.customers.create(email="x@example.com")
    assert type(raised.value) is kind
    assert (raised.value.status_code, raised.value.code) == (status, code)
    assert len(server.received) == 1
    assert delays == []


@pytest.mark.parametrize("reason", ["CONCURRENT_CHANGE", "METER_CATCHING_UP"])
def test_a_409_aborted_is_retried_with_the_same_key(server: ScriptedServer, reason: str) -> None:
    aborted = Reply(409, status_body(10, reason, "a concurrent change won; retry the call"))
    server.script(aborted, aborted, Reply(200, CUSTOMER))
    delays: list[float] = []
    with client(server, delays) as billingos:
        assert billingos.customers.create(email="ada@example.com").id == "c1"
    assert len(server.received) == 3
    assert len({r.headers["idempotency-key"] for r in server.received}) == 1
    assert delays == [0.5, 1.0]


def test_a_409_aborted_after_the_retries_is_a_conflict_error(server: ScriptedServer) -> None:
    server.script(Reply(409, status_body(10, "CONCURRENT_CHANGE", "retry the call")))
    delays: list[float] = []
    with (
        client(server, delays, max_retries=1) as billingos,
        pytest.raises(ConflictError) as raised,
    ):
        billingos.customers.get("c1")
    assert len(server.received) == 2
    assert (raised.value.code, raised.value.reason) == (10, "CONCURRENT_CHANGE")


@pytest.mark.parametrize(
    "reply", [Reply(409, {}), Reply(409, raw=b"<html>conflict</html>"), Reply(409, {"code": "10"})]
)
def test_a_409_without_code_10_is_not_retried(server: ScriptedServer, reply: Reply) -> None:
    server.script(reply, Reply(200, CUSTOMER))
    with client(server, []) as billingos, pytest.raises(ConflictError):
        billingos.customers.create(email="x@example.com")
    assert len(server.received) == 1


async def test_the_async_client_retries_a_409_aborted(server: ScriptedServer) -> None:
    server.script(Reply(409, status_body(10, "CONCURRENT_CHANGE", "retry")), Reply(200, CUSTOMER))

    async def sleep(seconds: float) -> None:
        pass

    async with AsyncBillingOS(
        access_token="bos_test", server_url=server.url, sleep=sleep
    ) as billingos:
        assert (await billingos.customers.update("c1", name="Ada")).id == "c1"
    first, second = server.received
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


def test_server_error_after_the_retries_with_a_non_json_body(server: ScriptedServer) -> None:
    server.script(Reply(502, raw=b"<html>bad gateway</html>"))
    delays: list[float] = []
    with client(server, delays, max_retries=1) as billingos, pytest.raises(ServerError) as raised:
        billingos.products.get("p1")
    assert len(server.received) == 2
    assert raised.value.status_code == 502
    assert raised.value.code is None
    assert "bad gateway" in raised.value.message


def test_max_retries_zero_sends_once(server: ScriptedServer) -> None:
    server.script(UNAVAILABLE)
    with client(server, [], max_retries=0) as billingos, pytest.raises(ServerError):
        billingos.customers.get("c1")
    assert len(server.received) == 1


async def test_the_async_client_retries_with_one_key(server: ScriptedServer) -> None:
    server.script(DROP, UNAVAILABLE, Reply(429, {}, {"Retry-After": "0.25"}), Reply(200, CUSTOMER))
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    async with AsyncBillingOS(
        access_token="bos_test",
        server_url=server.url,
        retry_policy=RetryPolicy(random=lambda: 1.0),
        sleep=sleep,
    ) as billingos:
        session = await billingos.customer_sessions.create(customer_id="c1")
    assert session.id == "c1"
    assert len(server.received) == 4
    assert len({r.headers["idempotency-key"] for r in server.received}) == 1
    assert delays == [0.5, 1.0, 0.25]
