"""Meter filters and aggregations as the domain holds them: a tree of
conditions joined by and/or, checked once (depth, width, operators that fit
their value), stored as JSON, and evaluated here in Python with exactly the
semantics the stores' SQL has (the property tests hold the two together).

Semantics, written once: a condition on a missing property, or on a value of
another kind than the condition's (a number against a string), is false —
except `ne` and `not_like`, which are its negation and so true. Numbers
compare as exact decimals; strings by code point; `like` is SQL LIKE,
case-sensitive, with `\\` escaping `%`, `_` and itself."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from billingos_kit.validation import Violations
from billingos_metering.vocabulary import Conjunction, Function, Operator

MAX_DEPTH = 5
MAX_CLAUSES = 50
# In the whole tree: what one event costs to match, and what one meter weighs
# in a list page, stay bounded.
MAX_CONDITIONS = 50
MAX_FILTER_BYTES = 16_384
MAX_STRING_LENGTH = 1000
MAX_KEY_LENGTH = 64
NAME_PROPERTY = "name"
METADATA_PREFIX = "metadata."

FilterValue = str | Decimal | bool
EventValue = str | int | float | bool

_ORDERING = (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE)
_PATTERNS = (Operator.LIKE, Operator.NOT_LIKE)


@dataclass(frozen=True)
class Condition:
    # "name" or "metadata.<key>": the event property compared.
    target: str
    operator: Operator
    value: FilterValue

    @property
    def metadata_key(self) -> str | None:
        """The metadata key compared, or None for the event's name."""
        return metadata_key(self.target)


@dataclass(frozen=True)
class Filter:
    conjunction: Conjunction
    clauses: tuple[Condition | Filter, ...]


@dataclass(frozen=True)
class Aggregation:
    function: Function
    # The metadata key aggregated (None for count).
    key: str | None


def metadata_key(property_name: str) -> str | None:
    if property_name.startswith(METADATA_PREFIX):
        return property_name[len(METADATA_PREFIX) :]
    return None


def _check_property(violations: Violations, field: str, name: str) -> bool:
    if name == NAME_PROPERTY:
        return True
    key = metadata_key(name)
    if key is None:
        violations.add(field, f"must be {NAME_PROPERTY!r} or 'metadata.<key>'")
        return False
    if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        violations.add(field, f"the metadata key must be 1 to {MAX_KEY_LENGTH} characters")
        return False
    return True


def check_filter(violations: Violations, field: str, tree: Filter, depth: int = 1) -> None:
    """Every problem of the tree, each under its own field path."""
    if depth == 1:
        conditions = count_conditions(tree)
        if conditions > MAX_CONDITIONS:
            violations.add(field, f"has {conditions} conditions; at most {MAX_CONDITIONS} in all")
            return
        size = len(json.dumps(filter_to_json(tree)))
        if size > MAX_FILTER_BYTES:
            violations.add(field, f"is {size} bytes as JSON; at most {MAX_FILTER_BYTES}")
            return
    if depth > MAX_DEPTH:
        violations.add(field, f"filters nest at most {MAX_DEPTH} levels deep")
        return
    if len(tree.clauses) > MAX_CLAUSES:
        violations.add(f"{field}.clauses", f"at most {MAX_CLAUSES} clauses at each level")
        return
    for index, clause in enumerate(tree.clauses):
        at = f"{field}.clauses[{index}]"
        if isinstance(clause, Filter):
            check_filter(violations, f"{at}.filter", clause, depth + 1)
        else:
            check_condition(violations, f"{at}.condition", clause)


def count_conditions(tree: Filter) -> int:
    return sum(
        count_conditions(clause) if isinstance(clause, Filter) else 1 for clause in tree.clauses
    )


def check_condition(violations: Violations, field: str, condition: Condition) -> None:
    if not _check_property(violations, f"{field}.property", condition.target):
        return
    value, operator = condition.value, condition.operator
    if isinstance(value, bool):
        if operator not in (Operator.EQ, Operator.NE):
            violations.add(f"{field}.operator", "a boolean compares with eq or ne only")
        elif condition.target == NAME_PROPERTY:
            violations.add(f"{field}.bool_value", "the event name is a string")
    elif isinstance(value, Decimal):
        if operator in _PATTERNS:
            violations.add(f"{field}.operator", "like and not_like take a string")
        elif condition.target == NAME_PROPERTY:
            violations.add(f"{field}.number_value", "the event name is a string")
    elif len(value) > MAX_STRING_LENGTH or "\x00" in value:
        violations.add(
            f"{field}.string_value", f"must be at most {MAX_STRING_LENGTH} characters, no NUL"
        )
    elif operator in _PATTERNS and _ends_in_escape(value):
        violations.add(f"{field}.string_value", "a pattern cannot end with an unescaped '\\'")


def _ends_in_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def check_aggregation(violations: Violations, field: str, aggregation: Aggregation) -> None:
    if aggregation.function is Function.COUNT:
        if aggregation.key is not None:
            violations.add(f"{field}.property", "count takes no property")
        return
    if aggregation.key is None:
        violations.add(
            f"{field}.property", f"{aggregation.function.value} needs a 'metadata.<key>' property"
        )
    elif not aggregation.key or len(aggregation.key) > MAX_KEY_LENGTH or "\x00" in aggregation.key:
        violations.add(
            f"{field}.property", f"the metadata key must be 1 to {MAX_KEY_LENGTH} characters"
        )


# Storage: the tree as JSON (the meters table's `filter` column).


def filter_to_json(tree: Filter) -> dict[str, Any]:
    return {
        "conjunction": tree.conjunction.value,
        "clauses": [
            filter_to_json(clause) if isinstance(clause, Filter) else _condition_to_json(clause)
            for clause in tree.clauses
        ],
    }


def _condition_to_json(condition: Condition) -> dict[str, Any]:
    value = condition.value
    if isinstance(value, bool):
        typed: dict[str, Any] = {"bool": value}
    elif isinstance(value, Decimal):
        typed = {"number": str(value)}
    else:
        typed = {"string": value}
    return {"property": condition.target, "operator": condition.operator.value, **typed}


def filter_from_json(data: Mapping[str, Any]) -> Filter:
    clauses: list[Condition | Filter] = []
    for clause in data["clauses"]:
        if "clauses" in clause:
            clauses.append(filter_from_json(clause))
            continue
        value: FilterValue
        if "bool" in clause:
            value = bool(clause["bool"])
        elif "number" in clause:
            value = Decimal(clause["number"])
        else:
            value = str(clause["string"])
        clauses.append(Condition(clause["property"], Operator(clause["operator"]), value))
    return Filter(Conjunction(data["conjunction"]), tuple(clauses))


# Evaluation in Python: the reference the SQL of both stores must agree with.


def matches(tree: Filter, name: str, metadata: Mapping[str, EventValue]) -> bool:
    results = (
        matches(clause, name, metadata)
        if isinstance(clause, Filter)
        else _holds(clause, name, metadata)
        for clause in tree.clauses
    )
    return all(results) if tree.conjunction is Conjunction.AND else any(results)


def _holds(condition: Condition, name: str, metadata: Mapping[str, EventValue]) -> bool:
    key = condition.metadata_key
    actual: EventValue | None = name if key is None else metadata.get(key)
    operator, expected = condition.operator, condition.value
    if operator is Operator.NE:
        return not _equal(actual, expected)
    if operator is Operator.EQ:
        return _equal(actual, expected)
    if operator is Operator.NOT_LIKE:
        return not (isinstance(actual, str) and _like(str(expected), actual))
    if operator is Operator.LIKE:
        return isinstance(actual, str) and _like(str(expected), actual)
    left, right = _comparable(actual, expected)
    if left is None or right is None:
        return False
    if operator is Operator.GT:
        return left > right  # type: ignore[operator]
    if operator is Operator.GTE:
        return left >= right  # type: ignore[operator]
    if operator is Operator.LT:
        return left < right  # type: ignore[operator]
    return left <= right  # type: ignore[operator]


def _equal(actual: EventValue | None, expected: FilterValue) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    if isinstance(expected, Decimal):
        number = number_of(actual)
        return number is not None and number == expected
    return isinstance(actual, str) and actual == expected


def _comparable(
    actual: EventValue | None, expected: FilterValue
) -> tuple[Decimal | str | None, Decimal | str | None]:
    if isinstance(expected, bool):
        return None, None
    if isinstance(expected, Decimal):
        return number_of(actual), expected
    return (actual if isinstance(actual, str) else None), expected


def number_of(value: EventValue | None) -> Decimal | None:
    """A metadata value as an exact number (None if it is not a number)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


@lru_cache(maxsize=256)
def _like_pattern(pattern: str) -> re.Pattern[str]:
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    if escaped:
        out.append(re.escape("\\"))
    return re.compile("".join(out), re.DOTALL)


def _like(pattern: str, value: str) -> bool:
    return _like_pattern(pattern).fullmatch(value) is not None
