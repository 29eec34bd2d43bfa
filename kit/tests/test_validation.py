"""Shared input rules: metadata bounds and text lengths, all violations at once."""

from __future__ import annotations

import pytest

from billingos_kit.errors import FieldViolation, ValidationFailed
from billingos_kit.protoconv import MetadataValue
from billingos_kit.validation import (
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
    Violations,
    check_metadata,
    check_text,
)

FIELD = "customer.metadata"


def metadata_violations(metadata: dict[str, MetadataValue]) -> list[FieldViolation]:
    violations = Violations()
    check_metadata(violations, FIELD, metadata)
    return violations.found


def test_the_documented_bounds_are_stripes() -> None:
    assert (MAX_METADATA_KEYS, MAX_METADATA_KEY_LENGTH, MAX_METADATA_STRING_LENGTH) == (50, 40, 500)


def test_metadata_at_every_bound_is_accepted() -> None:
    metadata: dict[str, MetadataValue] = {
        f"{index:0{MAX_METADATA_KEY_LENGTH}d}": "x" * MAX_METADATA_STRING_LENGTH
        for index in range(MAX_METADATA_KEYS)
    }
    assert metadata_violations(metadata) == []


def test_one_key_too_many_is_refused_on_the_map() -> None:
    metadata: dict[str, MetadataValue] = {f"k{index}": index for index in range(51)}
    assert [v.field for v in metadata_violations(metadata)] == [FIELD]


@pytest.mark.parametrize("key", ["", "k" * (MAX_METADATA_KEY_LENGTH + 1)])
def test_empty_or_too_long_keys_are_refused_naming_the_key(key: str) -> None:
    assert [v.field for v in metadata_violations({key: "v"})] == [f"{FIELD}.{key}"]


def test_a_string_value_over_the_limit_is_refused_naming_the_key() -> None:
    found = metadata_violations({"note": "x" * (MAX_METADATA_STRING_LENGTH + 1)})
    assert [v.field for v in found] == [f"{FIELD}.note"]
    assert str(MAX_METADATA_STRING_LENGTH) in found[0].description


def test_numbers_and_booleans_have_no_length_limit() -> None:
    assert metadata_violations({"big": 10**400 // 10**390, "flag": True, "ratio": 0.5}) == []


def test_every_bad_entry_is_reported_together() -> None:
    long_key = "k" * (MAX_METADATA_KEY_LENGTH + 1)
    found = metadata_violations({long_key: "x" * (MAX_METADATA_STRING_LENGTH + 1), "ok": 1})
    assert [v.field for v in found] == [f"{FIELD}.{long_key}", f"{FIELD}.{long_key}"]


@pytest.mark.parametrize(
    ("value", "required", "expected"),
    [
        ("Ada", True, []),
        ("", False, []),
        ("   ", True, ["is required"]),
        ("", True, ["is required"]),
        ("x" * 10, False, []),
        ("x" * 11, False, ["must be at most 10 characters"]),
    ],
)
def test_check_text(value: str, required: bool, expected: list[str]) -> None:
    violations = Violations()
    check_text(violations, "customer.name", value, max_length=10, required=required)
    assert [v.description for v in violations.found] == expected
    assert all(v.field == "customer.name" for v in violations.found)


def test_raise_if_any_raises_every_violation_at_once() -> None:
    violations = Violations()
    violations.raise_if_any()
    violations.add("customer.email", "is required")
    violations.extend([FieldViolation("customer.name", "too long")])
    with pytest.raises(ValidationFailed) as raised:
        violations.raise_if_any()
    assert [v.field for v in raised.value.violations] == ["customer.email", "customer.name"]
    assert raised.value.message == "customer.email: is required; customer.name: too long"


@pytest.mark.parametrize(
    "value",
    [
        "Ada\x00",
        "Ada\x1b[31m",
        "Ada\x7f",
        "Ada\x9b",
        "two\x85lines",
        "evil\u202egpj.exe",
        "\u2066Ada\u2069",
        "\u202aAda\u202c",
        "\u202bAda",
    ],
)
def test_control_and_bidirectional_formatting_characters_are_refused_on_a_single_line(
    value: str,
) -> None:
    violations = Violations()
    check_text(violations, "customer.name", value, max_length=100, single_line=True)
    assert [v.field for v in violations.found] == ["customer.name"]
    assert "control characters" in violations.found[0].description


@pytest.mark.parametrize("value", ["Ada\x00", "Ada\x1b[31m", "Ada\x7f", "Ada\x9b", "a\x85b"])
def test_control_characters_are_refused_in_any_text(value: str) -> None:
    violations = Violations()
    check_text(violations, "product.description", value, max_length=100)
    assert [v.field for v in violations.found] == ["product.description"]
    assert "control characters" in violations.found[0].description


HEBREW = "\u05de\u05e0\u05d5\u05d9 \u05d7\u05d5\u05d3\u05e9\u05d9"  # "a monthly subscription"


@pytest.mark.parametrize(
    "value",
    [
        f"{HEBREW} \u2066Pro Plan\u2069 \u05db\u05d5\u05dc\u05dc API",
        f"{HEBREW}\n\u2067{HEBREW}\u2069 (\u2068v2\u2069)\n\u202aSLA 99.9%\u202c",
        f"\u2067{HEBREW} \u202a\u2066Pro\u2069\u202c\u2069",  # nested, closed innermost first
        f"{HEBREW} \u200fPro\u200f",  # the implicit marks are no formatting to balance
        "two\r\nlines\twith a tab",
    ],
)
def test_a_multi_line_field_takes_balanced_embeddings_and_isolates(value: str) -> None:
    violations = Violations()
    check_text(violations, "product.description", value, max_length=500)
    assert violations.found == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f"{HEBREW} \u2067Pro", id="unclosed-isolate"),
        pytest.param(f"{HEBREW} \u202bPro", id="unclosed-embedding"),
        pytest.param(f"\u2066Pro\u2069\u2069 {HEBREW}", id="isolate-closed-twice"),
        pytest.param(f"Pro\u202c {HEBREW}", id="close-with-nothing-open"),
        pytest.param("\u2066Pro\u202c\u2069", id="embedding-close-inside-an-isolate"),
        pytest.param("\u202aPro\u2069\u202c", id="isolate-close-for-an-embedding"),
        pytest.param("\u2066\u202aPro\u2069\u202c", id="closed-out-of-order"),
        pytest.param(f"\u2067{HEBREW}\n\u2069", id="closed-on-the-next-line"),
        pytest.param(f"\u2067{HEBREW}\u2029\u2069", id="closed-after-a-paragraph-separator"),
        pytest.param("evil\u202egpj.exe", id="right-to-left-override"),
        pytest.param("\u202dPro\u202c", id="closed-left-to-right-override"),
        pytest.param(f"\u2066\u202e{HEBREW}\u202c\u2069", id="override-inside-an-isolate"),
    ],
)
def test_a_multi_line_field_refuses_overrides_and_unbalanced_formatting(value: str) -> None:
    violations = Violations()
    check_text(violations, "benefit.note", value, max_length=500)
    assert [v.field for v in violations.found] == ["benefit.note"]
    assert "bidirectional" in violations.found[0].description


def test_line_breaks_are_text_but_not_a_single_line() -> None:
    for value in ("two\nlines", "tab\there", "line\u2028separator"):
        multi, single = Violations(), Violations()
        check_text(multi, "product.description", value, max_length=100)
        check_text(single, "customer.name", value, max_length=100, single_line=True)
        assert multi.found == []
        assert [v.description for v in single.found] == [
            "must be a single line (no tabs or line breaks)"
        ]


def test_letters_of_every_script_and_marks_are_text() -> None:
    violations = Violations()
    for value in ("Ada Lovelace", "محمد", "שלום\u200f", "Zoë", "李雷", "emoji 🎉"):
        check_text(violations, "customer.name", value, max_length=100, single_line=True)
    assert violations.found == []
