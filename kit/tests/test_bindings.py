"""The path wins: a field bound to the REST path cannot be changed by the query
or the body (the transcoder lets later sources win)."""

from __future__ import annotations

import pytest

from billingos.customers.v1 import api_keys_pb2, customers_pb2
from billingos_kit.errors import InvalidArgument
from billingos_kit.grpc.bindings import PathTemplate, check_path_wins, templates_of

CUSTOMER_SERVICE = customers_pb2.DESCRIPTOR.services_by_name["CustomerService"]
C1 = "0196d0a4-1e2f-7a3b-8c4d-5e6f7a8b9c01"
C2 = "0196d0a4-1e2f-7a3b-8c4d-5e6f7a8b9c02"


def templates(method: str) -> tuple[PathTemplate, ...]:
    return templates_of(CUSTOMER_SERVICE.methods_by_name[method])


def test_templates_read_variables_verbs_and_percent_escapes() -> None:
    revoke = PathTemplate.parse("/v1/api-keys/{id}:revoke")
    assert revoke.values("/v1/api-keys/abc:revoke") == {"id": "abc"}
    assert revoke.values("/v1/api-keys/abc") is None
    nested = PathTemplate.parse("/v1/customers/{customer.id}")
    assert nested.values("/v1/customers/a%20b") == {"customer.id": "a b"}
    assert nested.values("/v1/customers/a/b") is None


def test_unsupported_templates_fail_at_start_up() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        PathTemplate.parse("/v1/{name=organizations/**}")


def test_a_request_agreeing_with_its_path_passes() -> None:
    request = customers_pb2.UpdateCustomerRequest(customer=customers_pb2.Customer(id=C1))
    check_path_wins(templates("UpdateCustomer"), f"/v1/customers/{C1}", request)


@pytest.mark.parametrize(
    ("method", "request_message", "field"),
    [
        ("DeleteCustomer", customers_pb2.DeleteCustomerRequest(id=C2), "id"),
        (
            "UpdateCustomer",
            customers_pb2.UpdateCustomerRequest(customer=customers_pb2.Customer(id=C2)),
            "customer.id",
        ),
    ],
)
def test_a_query_or_body_overriding_the_path_is_refused_naming_the_field(
    method: str, request_message: object, field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_path_wins(templates(method), f"/v1/customers/{C1}", request_message)  # type: ignore[arg-type]
    assert [v.field for v in refused.value.violations] == [field]
    assert refused.value.reason == "PATH_FIELD_OVERRIDDEN"


def test_methods_without_path_variables_have_nothing_to_check() -> None:
    assert templates("ListCustomers") == ()
    revoke = api_keys_pb2.DESCRIPTOR.services_by_name["ApiKeyService"].methods_by_name[
        "RevokeApiKey"
    ]
    assert [t.template for t in templates_of(revoke)] == ["/v1/api-keys/{id}:revoke"]
