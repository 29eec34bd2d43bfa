"""Many rows in one statement: a worker's batch written as one INSERT or one
UPDATE whose values are column arrays (`unnest`), not one statement per row.

`executemany` still costs the server a statement per row; a batch of a few
hundred renewals, each writing an order, its lines, its attempt and its
subscription, is where that cost is most of the time. The statements are
built with SQLAlchemy like every other (compiled once, `Query`), and each
array is cast to its column's type, so asyncpg binds it without a guess.

    query = bulk_insert(orders)                      # compiled once, at import
    await query.execute(connection, **columns_of(rows, orders))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, and_, bindparam, cast, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert

from billingos_kit.sql import Query

# The arrays' position, under a name no table of ours has.
_ORDINAL = "bulk_ordinal"


def _rows(table: Table, names: Sequence[str]) -> Any:
    """One row per array position, in array order:
    `unnest($1::t1[], $2::t2[], …) WITH ORDINALITY AS given(a, b, …, bulk_ordinal)`.
    An ARRAY column is refused: unnest would flatten its values into rows."""
    for name in names:
        if isinstance(table.c[name].type, ARRAY):
            raise TypeError(f"{table.name}.{name}: an array column cannot be written in bulk")
    arrays = [cast(bindparam(name), ARRAY(table.c[name].type)) for name in names]
    return (
        func.unnest(*arrays)
        .table_valued(*names, with_ordinality=_ORDINAL)
        .render_derived(name="given", with_types=False)
    )


def bulk_insert(
    table: Table,
    *,
    on_conflict_do_nothing: Sequence[str] | None = None,
    returning: Sequence[str] = (),
    names: Sequence[str] | None = None,
) -> Query:
    """INSERT of many rows from column arrays (every column of the table
    unless `names`), in the arrays' order (an identity column numbers them
    so: the outbox's `sequence`), skipping those whose
    `on_conflict_do_nothing` key exists; `returning` the given columns of
    the rows written."""
    columns = [column.name for column in table.c] if names is None else list(names)
    if not columns:
        raise ValueError(f"bulk_insert({table.name}): no columns to insert")
    given = _rows(table, columns)
    ordered = select(*[given.c[name] for name in columns]).order_by(given.c[_ORDINAL])
    statement: Any = insert(table).from_select(columns, ordered)
    if on_conflict_do_nothing is not None:
        statement = statement.on_conflict_do_nothing(index_elements=list(on_conflict_do_nothing))
    if returning:
        statement = statement.returning(*[table.c[name] for name in returning])
    return Query.of(statement)


def bulk_update(table: Table, keys: Sequence[str], values: Sequence[str]) -> Query:
    """UPDATE of many rows, each matched by its `keys` and given its own
    `values`, from column arrays named after the columns."""
    given = _rows(table, [*keys, *values])
    statement = (
        update(table)
        .where(and_(*[table.c[key] == given.c[key] for key in keys]))
        .values({name: given.c[name] for name in values})
    )
    return Query.of(statement)


def columns_of(
    rows: Iterable[Mapping[str, Any]], names: Iterable[str] | Table
) -> dict[str, list[Any]]:
    """Rows turned into the column arrays a bulk statement takes."""
    wanted = [column.name for column in names.c] if isinstance(names, Table) else list(names)
    listed = rows if isinstance(rows, list) else list(rows)
    return {name: [row[name] for row in listed] for name in wanted}
