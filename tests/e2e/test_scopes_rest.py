"""API-key scopes through the real gateway: every REST method called with a
read-only key. Methods that only read answer as usual; every other one is a
403 PERMISSION_DENIED in JSON, and changes nothing."""

from __future__ import annotations

import re
import uuid

import pytest
from google.protobuf import descriptor_pool

from billingos_cli.gateway import GatewaySource, exposed_api
from billingos_cli.paths import DESCRIPTOR_SET
from billingos_kit.grpc.methods import MethodPolicy, policies_for
from billingos_kit.scopes import Scope
from billingos_kit.testing.http import error_of

pytestmark = pytest.mark.e2e


def rest_methods() -> list[tuple[str, str, str, MethodPolicy]]:
    """(HTTP verb, path with ids filled in, method name, policy) for every REST route."""
    api = exposed_api(DESCRIPTOR_SET, GatewaySource.load())
    policies: dict[str, MethodPolicy] = {}
    for service_name in api.all_services:
        service = descriptor_pool.Default().FindServiceByName(service_name)
        policies.update({p.full_name: p for p in policies_for(service)})
    return [
        (
            route.binding.verb,
            re.sub(r"\{[^}]+\}", lambda _m: str(uuid.uuid4()), route.binding.path.template),
            route.method,
            policies[f"/{route.service}/{route.method}"],
        )
        for route in api.routes
    ]


METHODS = rest_methods()


def test_every_rest_method_is_covered() -> None:
    names = {name for _verb, _path, name, _policy in METHODS}
    assert {"CreateCustomer", "ListApiKeys", "RedeemDiscount", "ListPublicProducts"} <= names
    assert len(METHODS) >= 20


@pytest.mark.parametrize(("verb", "path", "name", "policy"), METHODS, ids=[m[2] for m in METHODS])
async def test_a_read_only_key_may_call_exactly_the_reading_methods(
    read_only_merchant, verb: str, path: str, name: str, policy: MethodPolicy
) -> None:
    path = path.replace(
        "/v1/organizations/" + path.rsplit("/", 1)[-1],
        f"/v1/organizations/{read_only_merchant.organization_id}",
    )
    response = await read_only_merchant.client.request(
        verb, path, json={} if verb in ("POST", "PATCH") else None
    )
    if policy.customer_portal:
        # A key of any scope opens no portal route: they take a session token.
        assert response.status_code == 401, response.text
        assert error_of(response)[1] == "CUSTOMER_SESSION_REQUIRED"
    elif policy.anonymous or policy.scope == Scope.READ:
        assert response.status_code != 403, response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403, response.text
        assert error_of(response)[:2] == (7, "API_KEY_SCOPE_MISSING")


async def test_a_refused_write_leaves_nothing_behind(read_only_merchant) -> None:
    refused = await read_only_merchant.client.post(
        "/v1/customers", json={"email": "ro@example.com"}
    )
    assert refused.status_code == 403
    listed = await read_only_merchant.client.get("/v1/customers")
    assert listed.status_code == 200
    assert listed.json()["customers"] == []


async def test_the_key_listing_shows_scopes(merchant) -> None:
    created = await merchant.client.post(
        "/v1/api-keys", json={"name": "reporting", "scopes": ["SCOPE_READ"]}
    )
    assert created.status_code == 200, created.text
    assert created.json()["api_key"]["scopes"] == ["SCOPE_READ"]
    listed = await merchant.client.get("/v1/api-keys")
    shown = {k["name"]: k["scopes"] for k in listed.json()["api_keys"]}
    assert shown["reporting"] == ["SCOPE_READ"]
    assert shown["Default key"] == ["SCOPE_API_KEYS", "SCOPE_READ", "SCOPE_WRITE"]
    reporting = {"Authorization": f"Bearer {created.json()['secret']}"}
    as_reporting = await merchant.client.post(
        "/v1/customers", json={"email": "r@example.com"}, headers=reporting
    )
    assert as_reporting.status_code == 403
