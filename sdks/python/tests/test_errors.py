"""The gateway's `google.rpc.Status` bodies become typed exceptions."""

from __future__ import annotations

import pytest

from billingos_sdk import (
    AuthenticationError,
    BillingOS,
    BillingOSError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

from .conftest import Reply, ScriptedServer, status_body


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (501, ServerError),
        (418, BillingOSError),
    ],
)
def test_the_class_follows_the_status(
    server: ScriptedServer, status: int, expected: type[BillingOSError]
) -> None:
    server.script(Reply(status, status_body(3, "SOME_REASON", "said so")))
    billingos = BillingOS("bos_test", server_url=server.url, max_retries=0)
    with billingos, pytest.raises(expected) as raised:
        billingos.customers.get("c1")
    assert type(raised.value) is expected
    assert raised.value.status_code == status


def test_reason_fields_and_request_id_are_read(server: ScriptedServer) -> None:
    body = status_body(
        3,
        "ORGANIZATION_NOT_OWN",
        "customer.organization_id: not yours",
        ["customer.organization_id"],
    )
    body["details"][0]["metadata"] = {"organization_id": "o1"}
    server.script(Reply(400, body, {"x-request-id": "req-123"}))
    billingos = BillingOS("bos_test", server_url=server.url)
    with billingos, pytest.raises(InvalidRequestError) as raised:
        billingos.customers.create(organization_id="o2", email="x@example.com")
    error = raised.value
    assert error.code == 3
    assert error.reason == "ORGANIZATION_NOT_OWN"
    assert error.domain == "billingos.dev"
    assert error.metadata == {"organization_id": "o1"}
    assert error.fields == ["customer.organization_id"]
    assert error.field_violations[0].description == "is wrong"
    assert error.request_id == "req-123"
    assert error.message == "customer.organization_id: not yours"
    assert "req-123" in str(error)
    assert "ORGANIZATION_NOT_OWN" in str(error)


def test_an_unexpected_body_still_maps_by_status(server: ScriptedServer) -> None:
    server.script(Reply(404, ["not", "a", "status"]))
    billingos = BillingOS("bos_test", server_url=server.url)
    with billingos, pytest.raises(NotFoundError) as raised:
        billingos.customers.get("c1")
    assert raised.value.reason is None
    assert raised.value.field_violations == ()
