"""Requests that do not parse are refused naming the field, at every depth."""

from __future__ import annotations

import pytest
from google.protobuf.internal import encoder

from billingos.customers.v1 import customers_pb2
from billingos_kit.errors import DomainError, ErrorKind
from billingos_kit.grpc.decoding import DECODER_MAX_DEPTH, decode_request


def length_delimited(number: int, payload: bytes) -> bytes:
    return encoder._VarintBytes((number << 3) | 2) + encoder._VarintBytes(len(payload)) + payload


def struct_nested(depth: int) -> bytes:
    """A `google.protobuf.Value` holding `depth` structs inside each other."""
    value = length_delimited(3, b"leaf")  # Value.string_value
    for _ in range(depth):
        entry = length_delimited(1, b"k") + length_delimited(2, value)
        value = length_delimited(5, length_delimited(1, entry))  # Value.struct_value.fields
    return value


def create_request_with_metadata_value(value: bytes, *, email: bytes = b"a@example.com") -> bytes:
    entry = length_delimited(1, b"plan") + length_delimited(2, value)
    customer = length_delimited(3, email) + length_delimited(6, entry)
    return length_delimited(1, customer)


def refusal(raw: bytes) -> DomainError:
    with pytest.raises(DomainError) as refused:
        decode_request(customers_pb2.CreateCustomerRequest, raw)
    assert refused.value.kind == ErrorKind.INVALID_ARGUMENT
    return refused.value


def test_a_valid_request_decodes() -> None:
    request = customers_pb2.CreateCustomerRequest(customer=customers_pb2.Customer(email="a@b.co"))
    decoded = decode_request(customers_pb2.CreateCustomerRequest, request.SerializeToString())
    assert decoded == request


def test_text_that_is_not_utf8_names_its_field() -> None:
    error = refusal(create_request_with_metadata_value(b"", email=b"a\xff@example.com"))
    assert [(v.field, v.description) for v in error.violations] == [
        ("customer.email", "must be valid UTF-8 text")
    ]


def test_a_map_value_that_is_not_utf8_names_its_key() -> None:
    error = refusal(create_request_with_metadata_value(length_delimited(3, b"\xfe\xff")))
    assert [v.field for v in error.violations] == ["customer.metadata.plan"]


@pytest.mark.parametrize("depth", [33, 34, 50, DECODER_MAX_DEPTH - 1, 120])
def test_metadata_nested_past_the_decoder_limit_is_refused_naming_the_value(depth: int) -> None:
    error = refusal(create_request_with_metadata_value(struct_nested(depth)))
    assert [(v.field, v.description) for v in error.violations] == [
        ("customer.metadata.plan", "is nested too deeply")
    ]


@pytest.mark.parametrize("depth", [0, 1, 31, 32])
def test_metadata_nested_within_the_limit_decodes_and_is_left_to_the_service(depth: int) -> None:
    decoded = decode_request(
        customers_pb2.CreateCustomerRequest,
        create_request_with_metadata_value(struct_nested(depth)),
    )
    assert isinstance(decoded, customers_pb2.CreateCustomerRequest)
    assert "plan" in decoded.customer.metadata


@pytest.mark.parametrize("raw", [b"\xff\xff\xff", b"\x0a\x05ab", b"\x0b", b"\x08"])
def test_bytes_that_are_not_protobuf_are_refused_as_the_request(raw: bytes) -> None:
    error = refusal(raw)
    assert [v.field for v in error.violations] == ["request"]
