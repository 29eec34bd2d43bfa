"""REST bindings and the path-wins rule: a field bound to the REST path cannot
be changed by the query or the body (the transcoder lets later sources win),
and a REST path the method does not know is refused, never waved through."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from billingos.catalog.v1 import public_pb2
from billingos.customers.v1 import api_keys_pb2, customers_pb2
from billingos.entitlements.v1 import entitlements_pb2
from billingos_kit.errors import InvalidArgument
from billingos_kit.grpc.bindings import (
    HttpBinding,
    PathTemplate,
    check_path_wins,
    check_query,
    check_single_values,
    http_bindings,
)

CUSTOMER_SERVICE = customers_pb2.DESCRIPTOR.services_by_name["CustomerService"]
C1 = "0196d0a4-1e2f-7a3b-8c4d-5e6f7a8b9c01"
C2 = "0196d0a4-1e2f-7a3b-8c4d-5e6f7a8b9c02"


def bindings(method: str) -> tuple[HttpBinding, ...]:
    return http_bindings(CUSTOMER_SERVICE.methods_by_name[method])


def refused_field(method: str, rest_path: str, request: Message) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as refused:
        check_path_wins(bindings(method), rest_path, request)
    (violation,) = refused.value.violations
    return violation.field, refused.value.reason


def test_templates_read_variables_verbs_trailing_slashes_and_percent_escapes() -> None:
    revoke = PathTemplate.parse("/v1/api-keys/{id}:revoke")
    assert revoke.values("/v1/api-keys/abc:revoke") == {"id": "abc"}
    assert revoke.values("/v1/api-keys/abc") is None
    nested = PathTemplate.parse("/v1/customers/{customer.id}")
    assert nested.values("/v1/customers/a%20b") == {"customer.id": "a b"}
    assert nested.values("/v1/customers/a/") == {"customer.id": "a"}  # as the transcoder
    assert nested.values("/v1/customers/a/b") is None


def test_bindings_carry_the_verb_and_the_body() -> None:
    (update,) = bindings("UpdateCustomer")
    assert (update.verb, update.path.template, update.body) == (
        "PATCH",
        "/v1/customers/{customer.id}",
        "customer",
    )
    revoke = api_keys_pb2.DESCRIPTOR.services_by_name["ApiKeyService"].methods_by_name[
        "RevokeApiKey"
    ]
    assert [(b.verb, b.path.template) for b in http_bindings(revoke)] == [
        ("POST", "/v1/api-keys/{id}:revoke")
    ]


def test_unsupported_templates_fail_at_start_up() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        PathTemplate.parse("/v1/{name=organizations/**}")


def test_a_request_agreeing_with_its_path_passes() -> None:
    request = customers_pb2.UpdateCustomerRequest(customer=customers_pb2.Customer(id=C1))
    check_path_wins(bindings("UpdateCustomer"), f"/v1/customers/{C1}", request)
    check_path_wins(bindings("UpdateCustomer"), f"/v1/customers/{C1}/", request)
    check_path_wins(
        bindings("ListCustomers"), "/v1/customers", customers_pb2.ListCustomersRequest()
    )


@pytest.mark.parametrize("suffix", ["", "/"])
def test_a_query_or_body_overriding_the_path_is_refused_naming_the_field(suffix: str) -> None:
    path = f"/v1/customers/{C1}{suffix}"
    assert refused_field("DeleteCustomer", path, customers_pb2.DeleteCustomerRequest(id=C2)) == (
        "id",
        "PATH_FIELD_OVERRIDDEN",
    )
    update = customers_pb2.UpdateCustomerRequest(customer=customers_pb2.Customer(id=C2))
    assert refused_field("UpdateCustomer", path, update) == ("customer.id", "PATH_FIELD_OVERRIDDEN")


def test_a_path_value_that_is_not_utf8_is_refused_even_when_the_body_overrides_it() -> None:
    update = customers_pb2.UpdateCustomerRequest(customer=customers_pb2.Customer(id=C2))
    assert refused_field("UpdateCustomer", "/v1/customers/%FF", update) == (
        "customer.id",
        "INVALID_ARGUMENT",
    )


def test_a_rest_path_the_method_does_not_know_is_refused() -> None:
    request = customers_pb2.DeleteCustomerRequest(id=C2)
    assert refused_field("DeleteCustomer", f"/v1/customers/{C1}/extra", request) == (
        "path",
        "PATH_MISMATCH",
    )


def test_path_variables_must_be_text_fields() -> None:
    public = public_pb2.DESCRIPTOR.services_by_name["PublicCatalogService"]
    (listing,) = http_bindings(public.methods_by_name["ListPublicProducts"])
    assert listing.path.variables == ("organization",)


BODY_FIELD = (HttpBinding("POST", PathTemplate.parse("/v1/discounts"), "discount"),)
WHOLE_BODY = (HttpBinding("POST", PathTemplate.parse("/v1/events/ingest"), "*"),)
NO_BODY = (HttpBinding("GET", PathTemplate.parse("/v1/discounts"), ""),)


@pytest.mark.parametrize(
    "query",
    [
        "discount.percent_off.basis_points=10000",
        "discount=x",
        "discount%2Epercent_off.basis_points=1",  # percent-encoded dot
        "validate_only=true&discount.duration=DISCOUNT_DURATION_FOREVER",
    ],
)
def test_a_query_setting_part_of_a_one_field_body_is_refused_naming_it(query: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_query(BODY_FIELD, "/v1/discounts", query)
    assert raised.value.violations[0].field.startswith("discount")
    assert raised.value.reason == "QUERY_NOT_ALLOWED"


def test_a_query_for_fields_outside_the_body_passes() -> None:
    check_query(BODY_FIELD, "/v1/discounts", "validate_only=true&update_mask=name")
    check_query(NO_BODY, "/v1/discounts", "page_size=5&discount.name=x")


def test_json_names_of_the_body_field_are_refused_too() -> None:
    binding = (HttpBinding("PATCH", PathTemplate.parse("/v1/tax-rates/{tax_rate.id}"), "tax_rate"),)
    with pytest.raises(InvalidArgument):
        check_query(binding, "/v1/tax-rates/t1", "taxRate.percentage=99")
    with pytest.raises(InvalidArgument):
        check_query(binding, "/v1/tax-rates/t1", "tax_rate.percentage=99")
    check_query(binding, "/v1/tax-rates/t1", "update_mask=percentage")


@pytest.mark.parametrize("query", ["a=1", "a", "&&x"])
def test_any_query_on_a_whole_body_route_is_refused(query: str) -> None:
    with pytest.raises(InvalidArgument):
        check_query(WHOLE_BODY, "/v1/events/ingest", query)


LIST_CUSTOMERS = customers_pb2.ListCustomersRequest()


@pytest.mark.parametrize(
    "query",
    [
        "organization_id=A&organization_id=B",
        "organizationId=A&organization_id=B",  # one field, by its JSON name and its own
        "email=a@example.com&page_size=2&email=b@example.com",
        "page_size=1&page_size=1",  # the same value twice is still two
    ],
)
def test_a_single_valued_query_parameter_given_twice_is_refused(query: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_single_values(LIST_CUSTOMERS, query)
    assert refused.value.reason == "QUERY_PARAMETER_REPEATED"
    (violation,) = refused.value.violations
    assert violation.field in query.split("&")[-1]


def test_distinct_parameters_repeated_fields_and_unknown_names_pass() -> None:
    check_single_values(LIST_CUSTOMERS, "email=a@example.com&organization_id=A&page_size=2")
    check_single_values(LIST_CUSTOMERS, "nope=1&nope=2")  # the transcoder refuses these
    check_single_values(LIST_CUSTOMERS, "")
    # A repeated field takes each value.
    check_single_values(
        entitlements_pb2.BatchCheckEntitlementsRequest(),
        "features=a&features=b&customer_id=c",
    )
