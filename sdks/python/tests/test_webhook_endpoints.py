"""``billingos.webhook_endpoints``: the routes, bodies, masks and idempotency
keys it sends, and how its answers parse, sync and async."""

from __future__ import annotations

import datetime as dt

import pytest

from billingos_sdk import (
    AsyncBillingOS,
    BillingOS,
    InvalidRequestError,
    WebhookDelivery,
    WebhookEndpoint,
)
from billingos_sdk.models import WEBHOOK_DELIVERY_STATUSES

from .conftest import Reply, ScriptedServer, status_body

ENDPOINT = {
    "id": "we1",
    "organization_id": "o1",
    "url": "https://example.com/hooks",
    "description": "orders",
    "event_types": ["customer.created", "order.paid"],
    "secret": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
    "create_time": "2026-11-24T10:42:12.482361Z",
    "update_time": "2026-11-24T10:42:12.482361Z",
}
DELIVERY = {
    "id": "d1",
    "endpoint_id": "we1",
    "event_id": "ev1",
    "event_type": "customer.created",
    "status": "WEBHOOK_DELIVERY_STATUS_RETRYING",
    "attempts": 2,
    "last_response_status": 503,
    "last_error": "HTTP 503",
    "next_attempt_time": "2026-11-24T10:43:00Z",
    "sequence": "42",
    "create_time": "2026-11-24T10:42:12Z",
}


def test_an_endpoint_parses_and_hides_its_secret_from_repr(server: ScriptedServer) -> None:
    server.script(Reply(200, {**ENDPOINT, "loyalty": 1}))
    with BillingOS("bos_test", server_url=server.url) as billingos:
        endpoint = billingos.webhook_endpoints.create(
            url="https://example.com/hooks",
            description="orders",
            event_types=["order.paid", "customer.created"],
        )
    assert isinstance(endpoint, WebhookEndpoint)
    assert endpoint.event_types == ("customer.created", "order.paid")
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret not in repr(endpoint)
    assert endpoint.disabled is False
    assert endpoint.disabled_reason == ""
    assert endpoint.previous_secret_expire_time is None
    assert endpoint.create_time == dt.datetime(2026, 11, 24, 10, 42, 12, 482361, tzinfo=dt.UTC)
    assert endpoint.raw["loyalty"] == 1
    (create,) = server.received
    assert (create.method, create.path) == ("POST", "/v1/webhook-endpoints")
    assert create.body == {
        "url": "https://example.com/hooks",
        "description": "orders",
        "event_types": ["order.paid", "customer.created"],
    }
    assert create.headers["idempotency-key"]


def test_a_delivery_parses_with_an_int64_sequence(server: ScriptedServer) -> None:
    server.script(Reply(200, {"webhook_deliveries": [DELIVERY, {"id": "d0"}]}))
    with BillingOS("bos_test", server_url=server.url) as billingos:
        delivery, empty = billingos.webhook_endpoints.list_deliveries("we1")
    assert isinstance(delivery, WebhookDelivery)
    assert delivery.sequence == 42
    assert delivery.status in WEBHOOK_DELIVERY_STATUSES
    assert (delivery.attempts, delivery.last_response_status) == (2, 503)
    assert delivery.next_attempt_time == dt.datetime(2026, 11, 24, 10, 43, tzinfo=dt.UTC)
    assert (empty.status, empty.sequence, empty.next_attempt_time) == ("", 0, None)


def test_request_shapes(server: ScriptedServer) -> None:
    server.script(Reply(200, ENDPOINT))
    with BillingOS("bos_test", server_url=server.url) as billingos:
        billingos.webhook_endpoints.get("we1")
        billingos.webhook_endpoints.update("we1", description="", event_types=[])
        billingos.webhook_endpoints.update("we1", disabled=False, idempotency_key="enable-1")
        billingos.webhook_endpoints.update("we1", update_mask=["url"])
        billingos.webhook_endpoints.delete("we/1")
        billingos.webhook_endpoints.rotate_secret("we1", grace_seconds=3600)
        billingos.webhook_endpoints.rotate_secret("we1")
        billingos.webhook_endpoints.redeliver("we1", "d:1")
    get, clear, enable, masked, delete, rotate, rotate_default, redeliver = server.received
    assert (get.method, get.path, get.body) == ("GET", "/v1/webhook-endpoints/we1", None)
    assert "idempotency-key" not in get.headers
    assert (clear.method, clear.query, clear.body) == (
        "PATCH",
        {"update_mask": "description,event_types"},
        {"description": "", "event_types": []},
    )
    assert (enable.query, enable.body) == ({"update_mask": "disabled"}, {"disabled": False})
    assert enable.headers["idempotency-key"] == "enable-1"
    assert (masked.query, masked.body) == ({"update_mask": "url"}, {})
    assert (delete.method, delete.path) == ("DELETE", "/v1/webhook-endpoints/we%2F1")
    assert (rotate.method, rotate.path, rotate.body) == (
        "POST",
        "/v1/webhook-endpoints/we1:rotate-secret",
        {"grace_seconds": 3600},
    )
    assert rotate_default.body == {}
    assert (redeliver.method, redeliver.path, redeliver.body) == (
        "POST",
        "/v1/webhook-endpoints/we1/deliveries/d%3A1:redeliver",
        {},
    )
    mutations = [clear, enable, masked, delete, rotate, rotate_default, redeliver]
    keys = [r.headers["idempotency-key"] for r in mutations]
    assert len(set(keys)) == len(keys)


def test_an_empty_id_is_refused_before_any_request(server: ScriptedServer) -> None:
    with BillingOS("bos_test", server_url=server.url) as billingos:
        with pytest.raises(ValueError, match="empty"):
            billingos.webhook_endpoints.get("")
        with pytest.raises(ValueError, match="empty"):
            billingos.webhook_endpoints.redeliver("we1", "")
    assert server.received == []


def test_lists_follow_next_page_token(server: ScriptedServer) -> None:
    server.script(
        Reply(200, {"webhook_endpoints": [{"id": "we3"}, {"id": "we2"}], "next_page_token": "t"}),
        Reply(200, {"webhook_endpoints": [{"id": "we1"}]}),
        Reply(200, {"webhook_deliveries": [{"id": "d2"}], "next_page_token": "u"}),
        Reply(200, {"webhook_deliveries": [{"id": "d1"}], "next_page_token": ""}),
    )
    with BillingOS("bos_test", server_url=server.url) as billingos:
        endpoints = [e.id for e in billingos.webhook_endpoints.list(page_size=2)]
        deliveries = [d.id for d in billingos.webhook_endpoints.list_deliveries("we1", page_size=1)]
    assert endpoints == ["we3", "we2", "we1"]
    assert deliveries == ["d2", "d1"]
    assert [(r.path, r.query) for r in server.received] == [
        ("/v1/webhook-endpoints", {"page_size": "2"}),
        ("/v1/webhook-endpoints", {"page_size": "2", "page_token": "t"}),
        ("/v1/webhook-endpoints/we1/deliveries", {"page_size": "1"}),
        ("/v1/webhook-endpoints/we1/deliveries", {"page_size": "1", "page_token": "u"}),
    ]


def test_a_refused_url_is_an_invalid_request_naming_the_field(server: ScriptedServer) -> None:
    body = status_body(3, "WEBHOOK_URL_INVALID", "must be https", ["webhook_endpoint.url"])
    server.script(Reply(400, body))
    with (
        BillingOS("bos_test", server_url=server.url) as billingos,
        pytest.raises(InvalidRequestError) as raised,
    ):
        billingos.webhook_endpoints.create(url="ftp://example.com/hooks")
    assert raised.value.reason == "WEBHOOK_URL_INVALID"
    assert raised.value.fields == ["webhook_endpoint.url"]
    assert len(server.received) == 1


async def test_async_retries_keep_one_key(server: ScriptedServer) -> None:
    unavailable = Reply(503, status_body(14, "UNAVAILABLE", "try again"))
    server.script(
        unavailable,
        Reply(200, ENDPOINT),
        Reply(200, DELIVERY),
        Reply(200, {"webhook_deliveries": [DELIVERY]}),
        Reply(200, {"webhook_endpoints": [ENDPOINT]}),
    )

    async def sleep(seconds: float) -> None:
        pass

    async with AsyncBillingOS("bos_test", server_url=server.url, sleep=sleep) as billingos:
        rotated = await billingos.webhook_endpoints.rotate_secret("we1", grace_seconds=60)
        redelivered = await billingos.webhook_endpoints.redeliver("we1", "d1")
        page = await billingos.webhook_endpoints.list_deliveries("we1").page()
        ids = [e.id async for e in billingos.webhook_endpoints.list()]
    assert rotated.secret == ENDPOINT["secret"]
    assert redelivered.sequence == 42
    first, retry = server.received[:2]
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert first.body == retry.body == {"grace_seconds": 60}
    assert server.received[2].path == "/v1/webhook-endpoints/we1/deliveries/d1:redeliver"
    assert server.received[2].headers["idempotency-key"] != first.headers["idempotency-key"]
    assert [d.id for d in page.items] == ["d1"]
    assert ids == ["we1"]
