"""The kit's input rules: whole-value ASCII patterns and ASCII-only folding,
vocabularies kept in step with their proto enums, scopes."""

from __future__ import annotations

from enum import StrEnum

import pytest

from billingos.common.v1 import options_pb2
from billingos_kit.scopes import Scope, format_scopes, parse_scopes, with_implied
from billingos_kit.validation import TextPattern, Violations, ascii_lower
from billingos_kit.vocabulary import EnumCodec

CODE = TextPattern(r"[A-Za-z0-9_-]{3,64}", "3 to 64 letters, digits, '-' or '_'")


@pytest.mark.parametrize("value", ["NL123", "a-b_c", "x" * 64])
def test_a_pattern_accepts_whole_matches(value: str) -> None:
    assert CODE.matches(value)


@pytest.mark.parametrize(
    "value",
    ["NL123\n", "\nNL123", "NL 123", "NL123é", "ＮＬ１２３", "x" * 65, "ab", "NL١٢٣"],
)
def test_a_pattern_refuses_trailing_newlines_non_ascii_and_partial_matches(value: str) -> None:
    assert not CODE.matches(value)
    violations = Violations()
    CODE.check(violations, "discount.code", value)
    assert [(v.field, v.description) for v in violations.found] == [
        ("discount.code", "must be 3 to 64 letters, digits, '-' or '_'")
    ]


def test_ascii_lower_never_turns_other_characters_into_ascii() -> None:
    assert ascii_lower("BlackFRIDAY-10") == "blackfriday-10"
    kelvin, long_s, dotted_i = "\u212a", "\u017f", "\u0130"
    assert kelvin.lower() == "k"  # what str.lower would do
    assert ascii_lower(f"{kelvin}ey") == f"{kelvin}ey"
    assert ascii_lower(long_s) == long_s
    assert ascii_lower(dotted_i) == dotted_i


class Colour(StrEnum):
    READ = "read"


def test_a_vocabulary_and_its_proto_enum_map_both_ways() -> None:
    codec = EnumCodec(Scope, options_pb2.Scope, "SCOPE_")
    for scope in Scope:
        assert codec.from_proto(codec.to_proto(scope)) is scope
    assert codec.from_proto(options_pb2.SCOPE_UNSPECIFIED) is None
    assert codec.from_proto(999) is None
    assert codec.proto_names() == ["SCOPE_READ", "SCOPE_WRITE", "SCOPE_API_KEYS"]


def test_a_vocabulary_out_of_step_with_its_proto_fails_at_import() -> None:
    with pytest.raises(TypeError, match="lacks members"):
        EnumCodec(Colour, options_pb2.Scope, "SCOPE_")


def test_write_implies_read_and_the_header_form_round_trips() -> None:
    assert with_implied({Scope.WRITE}) == {Scope.READ, Scope.WRITE}
    assert with_implied({Scope.API_KEYS}) == {Scope.API_KEYS}
    header = format_scopes(Scope)
    assert header == "api_keys read write"
    assert parse_scopes(header) == set(Scope)
    assert parse_scopes("read  future-scope") == {Scope.READ}
