"""The base every repository builds on. A repository is bound to the call's
organization when it is made, so no query of it can forget the tenant; it
holds every query of its table and no business rule; it never commits (the
call's unit of work belongs to the pipeline).

What it gives each table: `get`/`require` by id (NotFound naming the
resource), `insert`, `update` of named fields, `soft_delete`, keyset `page`s
driven by one filter object, and unique violations mapped to the field error
the repository declares (no pre-check SELECT: the constraint alone is
race-free). Statements are compiled once per repository class.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import asyncpg
from sqlalchemy import Select, Table, Text, Uuid, bindparam, cast, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql import ClauseElement

from billingos_kit.db import Connection
from billingos_kit.errors import DomainError, NotFound
from billingos_kit.pagination import ListFilter, Page, PageRequest
from billingos_kit.sql import Query

RowT = TypeVar("RowT")


class DataScope(Protocol):
    """What a repository needs from a call or an event handler."""

    @property
    def organization_id(self) -> uuid.UUID: ...

    async def connection(self) -> Connection: ...


class PlatformScope(Protocol):
    async def connection(self) -> Connection: ...


class OnConnection:
    """A scope of one connection, for code outside a call or an event (a
    gateway hook, a snapshot): repositories then run on that connection."""

    def __init__(self, connection: Connection, organization_id: uuid.UUID | None = None) -> None:
        self._connection = connection
        self._organization_id = organization_id

    async def connection(self) -> Connection:
        return self._connection

    @property
    def organization_id(self) -> uuid.UUID:
        if self._organization_id is None:
            raise RuntimeError("this scope names no organization")
        return self._organization_id


_COMPILED: dict[tuple[type, Any], Query] = {}


@dataclass(frozen=True)
class UniqueRule:
    """A unique constraint (or index) of a table, and the domain error it
    means when an insert or update breaks it."""

    constraint: str
    error: Callable[[], DomainError]


class _Base(Generic[RowT]):
    table: ClassVar[Table]
    row_type: ClassVar[type[Any]]
    # The resource's name in errors: NotFound("customer", id).
    resource: ClassVar[str]
    # The table's unique rules a caller can break (others surface as bugs).
    unique: ClassVar[tuple[UniqueRule, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "table" in cls.__dict__ or "row_type" in cls.__dict__:
            columns = [column.name for column in cls.table.c]
            fields = list(row_fields(cls.row_type))
            if columns != fields:
                raise TypeError(
                    f"{cls.__name__}: {cls.row_type.__name__}'s fields {fields} are not the "
                    f"columns of {cls.table.name} {columns}, in order"
                )

    def __init__(self, scope: PlatformScope) -> None:
        self._scope = scope

    async def connection(self) -> Connection:
        return await self._scope.connection()

    # ---- compiled statements ----------------------------------------------

    def query(self, key: Any, build: Callable[[], ClauseElement]) -> Query:
        """The compiled statement `key` of this repository, built on first use."""
        cache_key = (type(self), key)
        found = _COMPILED.get(cache_key)
        if found is None:
            found = _COMPILED[cache_key] = Query.of(build())
        return found

    def row(self, record: asyncpg.Record) -> RowT:
        row: RowT = self.row_type(**record)
        return row

    async def fetch_rows(self, query: Query, /, **values: Any) -> list[RowT]:
        records = await query.fetch(await self.connection(), **self._bound(values))
        return [self.row(record) for record in records]

    async def fetch_row(self, query: Query, /, **values: Any) -> RowT | None:
        record = await query.fetch_one(await self.connection(), **self._bound(values))
        return None if record is None else self.row(record)

    def _bound(self, values: dict[str, Any]) -> dict[str, Any]:
        return values

    # ---- writing ------------------------------------------------------------

    async def insert(self, *rows: RowT) -> None:
        """Inserts now, so a constraint is broken in the call, not at commit."""
        if not rows:
            return
        query = self.query(
            "insert",
            lambda: insert(self.table).values({c.name: bindparam(c.name) for c in self.table.c}),
        )
        values = [self._values(row) for row in rows]
        async with self._unique_violations():
            if len(values) == 1:
                await query.execute(await self.connection(), **values[0])
            else:
                await query.execute_many(await self.connection(), values)

    async def update(self, row: RowT, fields: Iterable[str]) -> None:
        """Writes the named fields of `row` (by its id)."""
        names = tuple(sorted(set(fields)))
        if not names:
            return
        table = self.table

        def build() -> ClauseElement:
            statement = update(table).where(table.c.id == bindparam("where_id"))
            statement = self._where_tenant(statement)
            built: ClauseElement = statement.values({name: bindparam(name) for name in names})
            return built

        query = self.query(("update", names), build)
        values = {name: getattr(row, name) for name in names}
        values["where_id"] = getattr(row, "id")  # noqa: B009 - every row has one
        async with self._unique_violations():
            await query.execute(await self.connection(), **self._bound(values))

    async def soft_delete(self, row: RowT, now: dt.datetime) -> None:
        """Marks the row deleted (it stays for history; unique rules scoped
        to live rows free its values)."""
        fields = ["deleted_at"]
        setattr(row, "deleted_at", now)  # noqa: B010 - soft-deletable rows have it
        if hasattr(row, "updated_at"):
            setattr(row, "updated_at", now)  # noqa: B010
            fields.append("updated_at")
        await self.update(row, fields)

    # ---- reading by id --------------------------------------------------------

    async def get(self, row_id: uuid.UUID, *, for_update: bool = False) -> RowT | None:
        """The row by id (a live one, where rows are soft-deleted)."""

        def build() -> ClauseElement:
            statement = self.live().where(self.table.c.id == bindparam("id"))
            return statement.with_for_update() if for_update else statement

        return await self.fetch_row(self.query(("get", for_update), build), id=row_id)

    async def require(self, row_id: uuid.UUID, *, for_update: bool = False) -> RowT:
        """The row by id, or NotFound naming the resource."""
        found = await self.get(row_id, for_update=for_update)
        if found is None:
            raise self.not_found(str(row_id))
        return found

    def not_found(self, key: str) -> NotFound:
        """NotFound for this resource, looked up by `key` (an id, a code)."""
        return NotFound(self.resource, key)

    def live(self) -> Select[Any]:
        """Every row this repository may see (of the organization, not deleted)."""
        statement: Select[Any] = select(self.table)
        if "deleted_at" in self.table.c:
            statement = statement.where(self.table.c.deleted_at.is_(None))
        return statement

    async def page(self, where: ListFilter, page: PageRequest) -> Page[RowT]:
        """One keyset page, newest first (ids are UUIDv7: id order is creation order)."""
        table = self.table
        after = page.after is not None

        def build() -> ClauseElement:
            statement = self.live().where(*where.conditions(table))
            if after:
                statement = statement.where(table.c.id < bindparam("after"))
            return statement.order_by(table.c.id.desc()).limit(bindparam("limit"))

        values = {**where.values(), "limit": page.fetch_size}
        if after:
            values["after"] = page.after
        rows = await self.fetch_rows(self.query(("page", where.shape(), after), build), **values)
        return page.cut(rows)

    # ---- helpers ------------------------------------------------------------

    def _where_tenant(self, statement: Any) -> Any:
        return statement

    def _values(self, row: RowT) -> dict[str, Any]:
        return {column.name: getattr(row, column.name) for column in self.table.c}

    def _unique_violations(self) -> _UniqueViolations:
        return _UniqueViolations({rule.constraint: rule.error for rule in self.unique})


class PlatformRepository(_Base[RowT]):
    """Rows looked up across organizations: the organizations themselves, or
    the API key a request presents (it names its organization)."""


class TenantRepository(_Base[RowT]):
    """Rows with `id` (UUIDv7) and `organization_id` columns, seen only
    within the organization the repository is bound to."""

    def __init__(
        self, scope: DataScope | PlatformScope, organization_id: uuid.UUID | None = None
    ) -> None:
        """Bound to the scope's organization, or to `organization_id` where a
        platform call (no organization of its own) acts for a named one."""
        super().__init__(scope)
        if organization_id is None:
            organization_id = getattr(scope, "organization_id")  # noqa: B009 - a DataScope
        self.organization_id: uuid.UUID = organization_id

    def live(self) -> Select[Any]:
        statement = super().live()
        return statement.where(self.table.c.organization_id == bindparam("organization_id"))

    def query(self, key: Any, build: Callable[[], ClauseElement]) -> Query:
        """As the base's, and refused unless the statement is bounded by the
        organization (`self.live()`, or `organization_id` named explicitly):
        no query of a tenant's table can forget the tenant."""
        found = super().query(key, build)
        if "organization_id" not in found.names:
            raise TypeError(
                f"{type(self).__name__}.{key}: a tenant's statement must be bounded by "
                "bindparam('organization_id') (build it on self.live())"
            )
        return found

    async def hold_lock(self, namespace: str, subject: object) -> None:
        """Holds, until the transaction ends, the organization's advisory
        lock `namespace:<organization>:<subject>`: for what has no row to
        lock yet (a copy still on its way, a customer not made yet) or
        should not wait on one. One statement for every namespace."""

        def build() -> ClauseElement:
            key = (
                bindparam("namespace", type_=Text)
                + ":"
                + cast(bindparam("organization_id", type_=Uuid), Text)
                + ":"
                + bindparam("subject", type_=Text)
            )
            return select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0)))

        await self.query("hold_lock", build).execute(
            await self.connection(),
            namespace=namespace,
            organization_id=self.organization_id,
            subject=str(subject),
        )

    def _where_tenant(self, statement: Any) -> Any:
        return statement.where(self.table.c.organization_id == bindparam("organization_id"))

    def _bound(self, values: dict[str, Any]) -> dict[str, Any]:
        return {**values, "organization_id": self.organization_id}

    def _values(self, row: RowT) -> dict[str, Any]:
        values = super()._values(row)
        if values["organization_id"] != self.organization_id:
            raise RuntimeError(f"a {self.resource} of another organization cannot be written")
        return values


class _UniqueViolations:
    """Maps a broken unique rule the repository declared to its field error."""

    def __init__(self, errors: Mapping[str, Callable[[], DomainError]]) -> None:
        self._errors = errors

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: object, error: BaseException | None, _tb: object) -> None:
        if isinstance(error, asyncpg.UniqueViolationError):
            make = self._errors.get(error.constraint_name or "")
            if make is not None:
                raise make() from None


def apply_changes(row: Any, changes: Mapping[str, Any]) -> list[str]:
    """Sets each field of `row` whose wanted value differs; returns the names
    that changed, in the order given (what an update event announces)."""
    changed = []
    for name, value in changes.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def row_fields(row_type: type[Any]) -> Sequence[str]:
    return [f.name for f in dataclasses.fields(row_type)]
