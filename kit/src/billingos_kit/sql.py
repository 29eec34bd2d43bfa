"""SQLAlchemy Core statements, compiled once, run on asyncpg.

A repository builds its statements with SQLAlchemy (typed, schema-aware, no
string SQL) and names every value with `bindparam`. `Query.of(statement)`
compiles it once for asyncpg (`$1, $2, …`); running it only binds values.
asyncpg prepares each statement once per connection and reuses it, so the
hot path is: look up a compiled query, send the values, read the rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.sql import ClauseElement

from billingos_kit.db import Connection

_DIALECT = asyncpg_dialect.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Query:
    """One compiled statement: its SQL and the names of its values, in order."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]  # values the statement itself holds (literals, None too)

    @classmethod
    def of(cls, statement: ClauseElement) -> Query:
        compiled: Any = statement.compile(dialect=_DIALECT)
        binds = compiled.binds  # compiled name -> BindParameter
        if any(bind.expanding for bind in binds.values()):
            # asyncpg gets one SQL text per statement; an IN list's length
            # would change it. One array parameter keeps the text fixed.
            raise TypeError(
                "an IN list cannot be compiled once: use "
                f"column == any_(bindparam(name, type_=ARRAY(...))) in {str(statement)[:80]}…"
            )
        names = tuple(compiled.positiontup or ())
        defaults = {
            name: compiled.params[name]
            for name in names
            if name in binds and not binds[name].required
        }
        return cls(str(compiled), names, defaults)

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        missing = [n for n in self.names if n not in values and n not in self.defaults]
        if missing:
            raise KeyError(f"values missing for {missing}: {self.sql[:80]}…")
        unknown = [n for n in values if n not in self.names]
        if unknown:
            # A value the statement never reads is a mistake (a filter meant
            # to apply, an organization meant to bound it), not something to ignore.
            raise KeyError(f"the statement takes no {unknown}: {self.sql[:80]}…")
        return [values[n] if n in values else self.defaults[n] for n in self.names]

    async def fetch(self, connection: Connection, **values: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await connection.fetch(self.sql, *self.args(values))
        return rows

    async def fetch_one(self, connection: Connection, **values: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await connection.fetchrow(self.sql, *self.args(values))
        return row

    async def execute(self, connection: Connection, **values: Any) -> str:
        status: str = await connection.execute(self.sql, *self.args(values))
        return status

    async def cursor(
        self, connection: Connection, *, prefetch: int = 500, **values: Any
    ) -> AsyncIterator[asyncpg.Record]:
        """Streams the rows without holding them all; needs a transaction."""
        async for record in connection.cursor(self.sql, *self.args(values), prefetch=prefetch):
            yield record

    async def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        await connection.executemany(self.sql, [self.args(row) for row in rows])


def affected_rows(status: str) -> int:
    """The row count of a command status such as "UPDATE 3"."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def contains_pattern(text: str) -> str:
    """A LIKE/ILIKE pattern (with ESCAPE '\\') matching values that contain
    `text` literally: a list's "name contains" filter, whatever `%`, `_` or
    `\\` the caller typed."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
