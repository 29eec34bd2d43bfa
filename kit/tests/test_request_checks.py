"""What every request is refused for before service code sees it: NUL
characters anywhere (plain fields, repeated fields, map keys, the strings of
a Struct at any depth) and lists or maps past the bound, each named by its
path; a clean request passes both the fast walk and the naming one."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from billingos.customers.v1 import customers_pb2
from billingos.metering.v1 import usage_events_pb2
from billingos_kit.errors import ValidationFailed
from billingos_kit.grpc.inputs import MAX_REPEATED_ENTRIES, check_request


def batch(**metadata: object) -> usage_events_pb2.IngestEventsRequest:
    request = usage_events_pb2.IngestEventsRequest()
    event = request.events.add(name="api_call", external_customer_id="u")
    event.metadata.update(metadata)
    return request


def refused_fields(request: object) -> list[str]:
    with pytest.raises(ValidationFailed) as refused:
        check_request(request)  # type: ignore[arg-type]
    return [violation.field for violation in refused.value.violations]


def test_a_clean_request_passes() -> None:
    check_request(batch(tokens=1, model="gpt", ok=True, nested={"a": ["b", 1]}))


def test_nul_in_a_plain_field_is_named() -> None:
    request = batch()
    request.events[0].name = "a\x00b"
    assert refused_fields(request) == ["events[0].name"]


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"k": "a\x00"}, "events[0].metadata.k"),
        ({"k": {"inner": "\x00"}}, "events[0].metadata.k.inner"),
        ({"k": ["ok", "no\x00"]}, "events[0].metadata.k[1]"),
        ({"bad\x00key": 1}, "events[0].metadata"),
    ],
)
def test_nul_anywhere_in_a_struct_is_named(metadata: dict[str, object], field: str) -> None:
    assert refused_fields(batch(**metadata)) == [field]


def test_nul_in_a_map_of_messages_is_named() -> None:
    customer = customers_pb2.Customer(email="a@example.com")
    customer.metadata["k"].string_value = "v\x00"
    assert refused_fields(customers_pb2.CreateCustomerRequest(customer=customer)) == [
        "customer.metadata.k.string_value"
    ]


def test_lists_and_struct_maps_past_the_bound_are_refused() -> None:
    request = usage_events_pb2.IngestEventsRequest()
    for _ in range(MAX_REPEATED_ENTRIES + 1):
        request.events.add(name="x", external_customer_id="u")
    assert refused_fields(request) == ["events"]
    wide = struct_pb2.Struct()
    wide.update({f"k{i}": i for i in range(MAX_REPEATED_ENTRIES + 1)})
    request = batch()
    request.events[0].metadata.CopyFrom(wide)
    assert refused_fields(request) == ["events[0].metadata"]
