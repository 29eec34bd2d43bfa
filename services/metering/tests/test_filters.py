"""Filters and aggregations as the domain holds them: the checks, the JSON
they are stored as, and the reference semantics the stores' SQL is held to
(test_store.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_kit.validation import Violations
from billingos_metering.aggregates import (
    Aggregate,
    aggregate_values,
    combine,
    decimal_text,
    quantity,
)
from billingos_metering.filters import (
    MAX_CLAUSES,
    Aggregation,
    Condition,
    Filter,
    check_aggregation,
    check_filter,
    filter_from_json,
    filter_to_json,
    matches,
)
from billingos_metering.vocabulary import Conjunction, Function, Operator

AND, OR = Conjunction.AND, Conjunction.OR


def holds(condition: Condition, name: str = "api_call", **metadata: object) -> bool:
    return matches(Filter(AND, (condition,)), name, metadata)  # type: ignore[arg-type]


def test_a_missing_property_fails_every_operator_but_the_negations() -> None:
    for operator in Operator:
        value = "x" if operator in (Operator.LIKE, Operator.NOT_LIKE) else Decimal(1)
        expected = operator in (Operator.NE, Operator.NOT_LIKE)
        assert holds(Condition("metadata.absent", operator, value)) is expected, operator


def test_values_of_another_kind_never_compare() -> None:
    assert not holds(Condition("metadata.n", Operator.EQ, "5"), n=5)
    assert holds(Condition("metadata.n", Operator.EQ, Decimal(5)), n=5.0)
    assert not holds(Condition("metadata.n", Operator.GT, Decimal(1)), n="9")
    assert not holds(Condition("metadata.flag", Operator.EQ, Decimal(1)), flag=True)
    assert holds(Condition("metadata.flag", Operator.EQ, True), flag=True)
    assert holds(Condition("metadata.flag", Operator.NE, True), flag=1)


def test_numbers_compare_exactly_and_strings_by_code_point() -> None:
    assert holds(Condition("metadata.gb", Operator.EQ, Decimal("0.3")), gb=0.3)
    assert holds(Condition("metadata.gb", Operator.LT, Decimal("0.30000000000000001")), gb=0.3)
    assert holds(Condition("metadata.model", Operator.GT, "Z"), model="a")  # 'a' > 'Z'
    assert holds(Condition("metadata.model", Operator.GT, "z"), model="é")


def test_like_is_sql_like_with_backslash_escapes() -> None:
    assert holds(Condition("name", Operator.LIKE, "api%"))
    assert holds(Condition("name", Operator.LIKE, "api_call"))
    assert holds(Condition("name", Operator.LIKE, "api\\_call"))
    assert not holds(Condition("name", Operator.LIKE, "api\\_call"), name="apiXcall")
    assert holds(Condition("name", Operator.LIKE, "100\\%"), name="100%")
    assert not holds(Condition("name", Operator.LIKE, "API%"))
    assert holds(Condition("name", Operator.NOT_LIKE, "upload%"))
    assert holds(Condition("name", Operator.LIKE, "a.c"), name="a.c")
    assert not holds(Condition("name", Operator.LIKE, "a.c"), name="abc")


def test_an_empty_and_is_everything_and_an_empty_or_nothing() -> None:
    assert matches(Filter(AND, ()), "x", {})
    assert not matches(Filter(OR, ()), "x", {})


def test_checks_name_each_problem() -> None:
    violations = Violations()
    deep = Filter(AND, (Condition("name", Operator.EQ, "x"),))
    for _ in range(5):
        deep = Filter(AND, (deep,))
    tree = Filter(
        OR,
        (
            Condition("color", Operator.EQ, "x"),
            Condition("name", Operator.EQ, Decimal(1)),
            Condition("metadata.x", Operator.LIKE, Decimal(1)),
            Condition("metadata.x", Operator.GT, True),
            Condition("metadata." + "k" * 65, Operator.EQ, "x"),
            Condition("name", Operator.LIKE, "ab\\"),
            deep,
        ),
    )
    check_filter(violations, "f", tree)
    assert [v.field for v in violations.found] == [
        "f.clauses[0].condition.property",
        "f.clauses[1].condition.number_value",
        "f.clauses[2].condition.operator",
        "f.clauses[3].condition.operator",
        "f.clauses[4].condition.property",
        "f.clauses[5].condition.string_value",
        "f.clauses[6].filter" + ".clauses[0].filter" * 4,
    ]
    wide = Violations()
    check_filter(wide, "f", Filter(AND, (Filter(OR, ()),) * (MAX_CLAUSES + 1)))
    assert [v.field for v in wide.found] == ["f.clauses"]
    many = Violations()
    twenty = Filter(OR, (Condition("name", Operator.EQ, "x"),) * 20)
    check_filter(many, "f", Filter(AND, (twenty, twenty, Filter(AND, (twenty,)))))
    assert [v.field for v in many.found] == ["f"]
    assert "60 conditions" in many.found[0].description
    heavy = Violations()
    check_filter(heavy, "f", Filter(AND, (Condition("name", Operator.EQ, "\x01" * 1000),) * 10))
    assert [v.field for v in heavy.found] == ["f"]


@pytest.mark.parametrize(
    ("aggregation", "field"),
    [
        (Aggregation(Function.SUM, None), "a.property"),
        (Aggregation(Function.COUNT, "x"), "a.property"),
        (Aggregation(Function.UNIQUE, ""), "a.property"),
    ],
)
def test_aggregation_checks(aggregation: Aggregation, field: str) -> None:
    violations = Violations()
    check_aggregation(violations, "a", aggregation)
    assert [v.field for v in violations.found] == [field]


leaf = st.builds(
    Condition,
    st.sampled_from(["name", "metadata.a", "metadata.b"]),
    st.sampled_from(list(Operator)),
    st.one_of(
        st.text(max_size=5),
        st.decimals(allow_nan=False, allow_infinity=False, places=3),
        st.booleans(),
    ),
)
trees = st.recursive(
    st.builds(Filter, st.sampled_from(list(Conjunction)), st.lists(leaf, max_size=3).map(tuple)),
    lambda inner: st.builds(
        Filter,
        st.sampled_from(list(Conjunction)),
        st.lists(st.one_of(inner, leaf), max_size=3).map(tuple),
    ),
    max_leaves=8,
)


@given(tree=trees)
def test_filters_survive_their_json(tree: Filter) -> None:
    assert filter_from_json(filter_to_json(tree)) == tree


def test_aggregates_of_the_reference() -> None:
    values = [1, 2.5, "x", None, True, 4]
    assert aggregate_values(Aggregation(Function.SUM, "v"), values) == Aggregate(3, Decimal("7.5"))
    assert quantity(
        Function.AVG, aggregate_values(Aggregation(Function.AVG, "v"), values)
    ) == Decimal("2.5")
    assert quantity(Function.MAX, aggregate_values(Aggregation(Function.MAX, "v"), values)) == 4
    assert (
        quantity(
            Function.UNIQUE,
            aggregate_values(Aggregation(Function.UNIQUE, "v"), [1, 1.0, "1", True, None]),
        )
        == 3
    )
    assert quantity(Function.AVG, Aggregate(3, Decimal(1))) == Decimal("0.333333333333")
    assert quantity(Function.MIN, Aggregate()) == 0
    assert combine(
        Function.MAX, [Aggregate(1, Decimal(1), Decimal(5)), Aggregate(1, Decimal(9), Decimal(9))]
    ) == Aggregate(2, Decimal(10), Decimal(9))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1500"), "1500"),
        (Decimal("1.50"), "1.5"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.000"), "0"),
        (Decimal("0.1") + Decimal("0.2"), "0.3"),
    ],
)
def test_decimals_are_written_plainly(value: Decimal, text: str) -> None:
    assert decimal_text(value) == text
