"""AIP-134 update masks: which fields an update touches."""

from __future__ import annotations

import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from billingos.customers.v1 import customers_pb2
from billingos_kit.errors import InvalidArgument
from billingos_kit.fieldmask import MASK_FIELD, fields_to_update

UPDATABLE = ("email", "name", "external_id", "metadata")


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def test_an_explicit_mask_chooses_the_fields_in_updatable_order() -> None:
    resource = customers_pb2.Customer(email="a@example.com")
    assert fields_to_update(mask("metadata", "email"), resource, UPDATABLE) == [
        "email",
        "metadata",
    ]


def test_an_explicit_mask_may_clear_fields_the_resource_leaves_empty() -> None:
    resource = customers_pb2.Customer()
    assert fields_to_update(mask("name"), resource, UPDATABLE) == ["name"]


def test_a_path_named_twice_is_updated_once() -> None:
    resource = customers_pb2.Customer()
    assert fields_to_update(mask("name", "name"), resource, UPDATABLE) == ["name"]


def test_an_empty_mask_means_every_updatable_field_that_is_set() -> None:
    resource = customers_pb2.Customer(
        name="Ada",
        metadata={"plan": struct_pb2.Value(string_value="pro")},
        stripe_customer_id="cus_123",  # set, but not updatable
    )
    assert fields_to_update(mask(), resource, UPDATABLE) == ["name", "metadata"]


def test_an_empty_mask_on_an_empty_resource_updates_nothing() -> None:
    assert fields_to_update(mask(), customers_pb2.Customer(), UPDATABLE) == []


@pytest.mark.parametrize("path", ["stripe_customer_id", "emial", "metadata.plan", ""])
def test_a_path_outside_the_updatable_fields_is_refused_naming_update_mask(path: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        fields_to_update(mask("name", path), customers_pb2.Customer(), UPDATABLE)
    assert [violation.field for violation in refused.value.violations] == [MASK_FIELD]
    assert MASK_FIELD == "update_mask"
    assert repr(path) in refused.value.message
