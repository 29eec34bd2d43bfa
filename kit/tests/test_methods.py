"""Method policies read from the real customers protos: which calls mutate
(and so honour idempotency keys) and which need an organization."""

from __future__ import annotations

from billingos.customers.v1 import api_keys_pb2, customers_pb2, organizations_pb2
from billingos_kit.grpc.methods import MethodPolicy, policies_for

CUSTOMER_SERVICE = customers_pb2.DESCRIPTOR.services_by_name["CustomerService"]
ADMIN_SERVICE = organizations_pb2.DESCRIPTOR.services_by_name["OrganizationAdminService"]
KEY_CHECK_SERVICE = api_keys_pb2.DESCRIPTOR.services_by_name["ApiKeyAdminService"]


def by_method(policies: list[MethodPolicy]) -> dict[str, MethodPolicy]:
    return {policy.full_name.rsplit("/", 1)[1]: policy for policy in policies}


def test_every_customer_method_gets_a_policy_under_its_full_grpc_name() -> None:
    policies = policies_for(CUSTOMER_SERVICE)
    assert [policy.full_name for policy in policies] == [
        f"/billingos.customers.v1.CustomerService/{method.name}"
        for method in CUSTOMER_SERVICE.methods
    ]


def test_create_update_and_delete_mutate_while_get_and_list_do_not() -> None:
    policies = by_method(policies_for(CUSTOMER_SERVICE))
    mutating = {name for name, policy in policies.items() if policy.mutating}
    assert mutating == {"CreateCustomer", "UpdateCustomer", "DeleteCustomer"}
    assert not policies["GetCustomer"].mutating
    assert not policies["GetCustomerByExternalId"].mutating
    assert not policies["ListCustomers"].mutating


def test_every_customer_method_requires_an_organization() -> None:
    assert all(policy.requires_organization for policy in policies_for(CUSTOMER_SERVICE))


def test_platform_administration_needs_no_organization_and_still_mutates() -> None:
    policies = by_method(policies_for(ADMIN_SERVICE))
    assert set(policies) == {"CreateOrganization", "IssueApiKey"}
    for policy in policies.values():
        assert policy.full_name.startswith("/billingos.customers.v1.OrganizationAdminService/")
        assert not policy.requires_organization
        assert policy.mutating


def test_a_read_only_post_ignores_idempotency_keys() -> None:
    from billingos.catalog.v1 import discounts_pb2

    service = discounts_pb2.DESCRIPTOR.services_by_name["DiscountService"]
    policies = by_method(policies_for(service))
    assert not policies["ValidateDiscount"].mutating
    assert policies["RedeemDiscount"].mutating


def test_response_types_decode_stored_responses() -> None:
    policies = by_method(policies_for(CUSTOMER_SERVICE))
    assert policies["CreateCustomer"].response_type is customers_pb2.Customer
    assert policies["ListCustomers"].response_type is customers_pb2.ListCustomersResponse
    stored = customers_pb2.Customer(id="c-1", email="a@example.com").SerializeToString()
    assert policies["CreateCustomer"].response_type.FromString(stored).email == "a@example.com"


def test_a_method_without_a_rest_mapping_is_read_only_when_its_proto_says_so() -> None:
    (verify,) = policies_for(KEY_CHECK_SERVICE)
    assert verify.full_name == "/billingos.customers.v1.ApiKeyAdminService/VerifyApiKey"
    assert not verify.mutating
    assert not verify.requires_organization
