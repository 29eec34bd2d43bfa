"""Read copies of another context's entities: each row keeps the newest state
its context announced (`source_updated_at`), whatever order the states
arrive in. One statement does it, so two handlers racing with two states of
one entity end with the newer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects.postgresql import insert


def newer_state_upsert(
    table: Table,
    keep: Iterable[str] | None = None,
    *,
    also: Callable[[Any, Any], Any] | None = None,
) -> Any:
    """INSERT of the row (every column bound by name), or an update of the
    `keep` columns (every column but `id` by default) when the given state is
    newer than the copy's and of the same organization. `also(statement,
    newer)` replaces the condition where a copy has a rule of its own (an
    ended subscription stays ended)."""
    statement = insert(table).values({column.name: bindparam(column.name) for column in table.c})
    kept = list(keep) if keep is not None else [c.name for c in table.c if c.name != "id"]
    newer = (table.c.organization_id == bindparam("organization_id")) & (
        table.c.source_updated_at < statement.excluded.source_updated_at
    )
    return statement.on_conflict_do_update(
        index_elements=["id"],
        set_={name: getattr(statement.excluded, name) for name in kept},
        where=newer if also is None else also(statement, newer),
    )
