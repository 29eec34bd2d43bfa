"""Meter filters and aggregations as Postgres SQL over `metering.events`
(alias `e`), with every value and key a bind parameter: the filter is the
merchant's input, and none of it is ever spliced into the SQL text.

The semantics are filters.py's: a number condition holds only for a JSON
number, a string condition only for a JSON string; `ne` and `not_like` are
the negations (so true where the property is missing)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billingos_metering.filters import Aggregation, Condition, Filter
from billingos_metering.vocabulary import Conjunction, Function, Operator

_COMPARE = {
    Operator.GT: ">",
    Operator.GTE: ">=",
    Operator.LT: "<",
    Operator.LTE: "<=",
}


class Params:
    """Positional parameters ($1, $2, …) collected while SQL is written."""

    def __init__(self, *initial: Any) -> None:
        self.values: list[Any] = list(initial)

    def add(self, value: Any, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


def filter_sql(tree: Filter, params: Params) -> str:
    if not tree.clauses:
        return "true" if tree.conjunction is Conjunction.AND else "false"
    joiner = " AND " if tree.conjunction is Conjunction.AND else " OR "
    parts = [
        filter_sql(clause, params) if isinstance(clause, Filter) else _condition_sql(clause, params)
        for clause in tree.clauses
    ]
    return "(" + joiner.join(parts) + ")"


def _condition_sql(condition: Condition, params: Params) -> str:
    key, operator, value = condition.metadata_key, condition.operator, condition.value
    if key is None:
        # The name is always a string.
        text = "e.name"
        holds = _string_test(text, operator, value, params)
        return holds
    json_value = f"(e.metadata -> {params.add(key, 'text')})"
    if isinstance(value, bool) or (
        isinstance(value, (str, Decimal)) and operator in (Operator.EQ, Operator.NE)
    ):
        cast = (
            "boolean"
            if isinstance(value, bool)
            else "numeric"
            if isinstance(value, Decimal)
            else "text"
        )
        literal = f"to_jsonb({params.add(value, cast)})"
        if operator is Operator.EQ:
            return f"({json_value} = {literal})"
        return f"({json_value} IS DISTINCT FROM {literal})"
    if isinstance(value, Decimal):
        number = (
            f"(CASE WHEN jsonb_typeof({json_value}) = 'number' THEN ({json_value})::numeric END)"
        )
        return f"coalesce({number} {_COMPARE[operator]} {params.add(value, 'numeric')}, false)"
    text = f"(CASE WHEN jsonb_typeof({json_value}) = 'string' THEN {json_value} #>> '{{}}' END)"
    return _string_test(text, operator, value, params)


def _string_test(text: str, operator: Operator, value: Any, params: Params) -> str:
    bound = params.add(value, "text")
    if operator is Operator.EQ:
        return f"coalesce({text} = {bound}, false)"
    if operator is Operator.NE:
        return f"({text} IS DISTINCT FROM {bound})"
    if operator is Operator.LIKE:
        return f'coalesce({text} LIKE {bound} COLLATE "C", false)'
    if operator is Operator.NOT_LIKE:
        return f'NOT coalesce({text} LIKE {bound} COLLATE "C", false)'
    return f'coalesce({text} COLLATE "C" {_COMPARE[operator]} {bound} COLLATE "C", false)'


def number_sql(key: str, params: Params) -> str:
    json_value = f"(e.metadata -> {params.add(key, 'text')})"
    return f"(CASE WHEN jsonb_typeof({json_value}) = 'number' THEN ({json_value})::numeric END)"


def distinct_sql(key: str, params: Params) -> str:
    """The value `unique` counts, as text: the JSON value (kind and value;
    numbers are stored canonical, so 1 and 1.0 are one value)."""
    return f"((e.metadata -> {params.add(key, 'text')})::text)"


def aggregate_columns(aggregation: Aggregation, params: Params) -> str:
    """Four columns: count, total, extreme, distinct (aggregates.Aggregate)."""
    function = aggregation.function
    if function is Function.COUNT:
        return "count(*), 0::numeric, NULL::numeric, 0::bigint"
    assert aggregation.key is not None
    if function is Function.UNIQUE:
        distinct = distinct_sql(aggregation.key, params)
        return f"count(*), 0::numeric, NULL::numeric, count(DISTINCT {distinct})"
    value = number_sql(aggregation.key, params)
    extreme = "NULL::numeric"
    if function is Function.MAX:
        extreme = f"max({value})"
    elif function is Function.MIN:
        extreme = f"min({value})"
    total = (
        f"coalesce(sum({value}), 0)" if function in (Function.SUM, Function.AVG) else "0::numeric"
    )
    return f"count({value}), {total}, {extreme}, 0::bigint"
