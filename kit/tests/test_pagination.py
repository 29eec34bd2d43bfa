"""AIP-158 pagination: sizes defaulted and clamped, tokens opaque, round-trip,
and anything that is not a token this list returned refused naming `page_token`."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billingos_kit.errors import InvalidArgument
from billingos_kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_request

FILTERS = {"email": "ada@example.com", "status": "active"}

filter_maps = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4)


def refused_fields(error: InvalidArgument) -> list[str]:
    return [violation.field for violation in error.violations]


def token_of(payload: object) -> str:
    """A token-shaped string around any JSON payload."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_page_size_zero_means_the_default() -> None:
    assert page_request(0, "", FILTERS).size == DEFAULT_PAGE_SIZE
    assert page_request(0, "", FILTERS, default_size=7).size == 7


@pytest.mark.parametrize("size", [1, 17, MAX_PAGE_SIZE])
def test_page_size_within_the_maximum_is_kept(size: int) -> None:
    assert page_request(size, "", FILTERS).size == size


@pytest.mark.parametrize("size", [MAX_PAGE_SIZE + 1, 10_000, 2**31 - 1])
def test_page_size_above_the_maximum_is_clamped(size: int) -> None:
    assert page_request(size, "", FILTERS).size == MAX_PAGE_SIZE


def test_a_custom_maximum_clamps_too() -> None:
    assert page_request(30, "", FILTERS, max_size=20).size == 20


@pytest.mark.parametrize("size", [-1, -(2**31)])
def test_negative_page_size_is_refused_naming_page_size(size: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_request(size, "", FILTERS)
    assert refused_fields(refused.value) == ["page_size"]


def test_no_token_starts_at_the_beginning() -> None:
    assert page_request(10, "", FILTERS).after is None


@given(last_key=st.uuids(), filters=filter_maps, size=st.integers(0, 500))
def test_next_token_continues_after_the_last_key(
    last_key: uuid.UUID, filters: dict[str, str], size: int
) -> None:
    first = page_request(size, "", filters)
    token = first.next_token(str(last_key))
    following = page_request(size, token, filters)
    assert following.after == last_key
    assert following.filters_digest == first.filters_digest


def test_tokens_are_url_safe_text() -> None:
    token = page_request(10, "", FILTERS).next_token("ünïcødé/+?&=")
    assert token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_filters_given_in_another_order_accept_the_token() -> None:
    key = uuid.UUID("019b0000-0000-7000-8000-000000000001")
    token = page_request(10, "", {"a": "1", "b": "2"}).next_token(str(key))
    assert page_request(10, token, {"b": "2", "a": "1"}).after == key


def test_a_token_whose_key_is_not_an_id_is_refused_naming_the_field() -> None:
    """Tokens are not signed; a hand-made one with a well-formed digest must
    still be a 400, never a crash in the service."""
    forged = page_request(10, "", FILTERS).next_token("not-an-id")
    with pytest.raises(InvalidArgument) as refused:
        page_request(10, forged, FILTERS)
    assert refused.value.violations[0].field == "page_token"


@given(issued_for=filter_maps, used_with=filter_maps)
def test_a_token_from_a_list_with_other_filters_is_refused(
    issued_for: dict[str, str], used_with: dict[str, str]
) -> None:
    assume(issued_for != used_with)
    token = page_request(10, "", issued_for).next_token("k")
    with pytest.raises(InvalidArgument) as refused:
        page_request(10, token, used_with)
    assert refused_fields(refused.value) == ["page_token"]


@given(garbage=st.text(min_size=1))
def test_any_garbage_token_is_refused_naming_page_token(garbage: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_request(10, garbage, FILTERS)
    assert refused_fields(refused.value) == ["page_token"]


@given(garbage=st.binary(min_size=1))
def test_any_base64_of_garbage_bytes_is_refused_naming_page_token(garbage: bytes) -> None:
    token = base64.urlsafe_b64encode(garbage).decode()
    with pytest.raises(InvalidArgument) as refused:
        page_request(10, token, FILTERS)
    assert refused_fields(refused.value) == ["page_token"]


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2, 3],
        "a string",
        42,
        None,
        {},
        {"v": 2, "after": "k", "f": "x"},
        {"v": 1, "f": "x"},
        {"v": 1, "after": 5, "f": "x"},
        {"v": 1, "after": None, "f": "x"},
        {"v": 1, "after": ["k"], "f": "x"},
        {"v": "1", "after": "k", "f": "x"},
    ],
    ids=repr,
)
def test_token_shaped_payloads_that_no_list_issued_are_refused(payload: object) -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_request(10, token_of(payload), FILTERS)
    assert refused_fields(refused.value) == ["page_token"]


def test_a_deeply_nested_token_is_refused_not_crashed_on() -> None:
    nested = base64.urlsafe_b64encode(b"[" * 100_000).decode()
    with pytest.raises(InvalidArgument) as refused:
        page_request(10, nested, FILTERS)
    assert refused_fields(refused.value) == ["page_token"]
