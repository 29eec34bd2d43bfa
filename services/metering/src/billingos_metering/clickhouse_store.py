"""The ClickHouse event store: the same contract as the Postgres store
(store.py), for organizations whose events outgrow one Postgres. A server is
reached with clickhouse-connect over HTTP(S); `chdb:///path` runs the same
engine in process (chdb, through clickhouse-connect's chdb backend), for
development and the test suite.

The table. One `ReplacingMergeTree(version)` ordered by
(organization_id, key). `key` is the dedup key: "x" + external_id for an
event sent with one, "i" + the event's id otherwise, so events without an
external id are never collapsed (ids are unique) and an external id can
never collide with an event id. There is no time partitioning on purpose:
the engine collapses duplicates only inside one partition, so two copies of
one key with different timestamps (see the race below) would never merge if
they fell in different months. Time ranges and watermark ranges use minmax
skip indexes instead, which prune only while rows keep their arrival order
(recent parts, time-ordered keys such as the event ids): past merges, a read
of one customer or of one watermark range reads the organization's rows
(the price of ordering by the dedup key; docs/metering-storage.md).

Metadata is kept as sent (`metadata`, the JSON) and typed, one map per kind
of value: `strings`, `bools`, and for numbers `numbers` (the double) with
`mantissas` and `exponents` (the exact decimal m·10^e of the same value, as
filters.number_of reads it). Nothing is parsed at query time, and:
- sums are exact: per exponent the mantissas are summed as Int128
  (`sumMap`) and the few partial sums are added up here in Python ints;
- comparisons are exact on the doubles. An event's number is always the
  decimal value of its double's shortest repr (ints are within ±2^53), so
  against a filter decimal F with x_F = float(F) and R = repr(x_F): the
  event's value is below F where its double is below x_F, above F where its
  double is above x_F, and equal to R (a constant compared with F here)
  where the doubles are equal. Each condition becomes one Float64
  comparison, exact for any F;
- max and min pick the row by its double (an order-preserving map, see
  above) and return its exact decimal;
- strings compare as bytes, which for UTF-8 is code point order; LIKE is
  ClickHouse's (case-sensitive, `_` is one code point) on a pattern
  rewritten so that `\\` escapes exactly as in filters.py;
- `unique` counts distinct (kind, value): the string, the double (equal
  decimals are equal doubles; -0.0 is stored as 0.0), the bool.

Reads are exact despite unmerged duplicates: every read is `FINAL`
(measured cheaper than `argMax` or `LIMIT 1 BY` over an organization's rows:
docs/metering-storage.md), with the filters applied after the rows are
collapsed (`optimize_move_to_prewhere_if_final = 0`) and skip indexes used
in their exact mode only (`use_skip_indexes_if_final_exact_mode`: every
granule that shares a key with a selected one is read too); on a server
without that mode skip indexes are off under FINAL. `version` decides which
copy of a key wins:
- a fresh event: 2^63 - 1 - watermark, so of two copies of one key the one
  with the lower watermark wins (the first write wins, as in Postgres);
- an event moved to its customer (resolve_customer): 2^63 plus the same,
  so the moved copy beats the original.

Why first-write-wins, and the insert race. ClickHouse has no unique
constraint, so `insert` looks up the batch's external ids first and writes
only the new ones. Two batches with the same external id running at the
same moment both miss each other: both report the event as inserted, and
the table keeps one (the lower watermark; reads see only it from the
start). Because the winner has the lower watermark, a balance pass that
counted it is never contradicted later: the losing copy, at a higher
watermark, never shows in any range. The count returned is the only thing
the race gets wrong.

Watermarks: the id of the Postgres transaction of the call, exactly as in
the Postgres store. The rows are written to ClickHouse inside that
transaction (one is opened on the scope's connection if it has none), and
the safe point is metering's own (watermarks.py): while the transaction runs the safe
point cannot pass its id, and by the time it ends its rows are in
ClickHouse and visible (inserts are synchronous: `async_insert = 0`). So
the in-flight record is Postgres's own list of running transactions, no
table or sequence of ours is needed, and a crashed process needs no expiry
of stale rows: its connection closes and its transaction ends. A call
cancelled meanwhile waits for its thread's write to finish before it lets
the transaction go (`_finish`). What ClickHouse cannot give: a rollback.
Rows written by a transaction that then aborts stay, at an id below the
safe point, and count (an ingest retry finds their external ids and stores
nothing twice; events without an external id would be stored again). A
Postgres connection killed mid-write ends the transaction while the write
may still land: that write can then fall below a passed safe point, where
the organization's quantities see it while balances, rollups and so one
customer's quantities miss it (the window is the write's length).

resolve_customer writes new copies of the moved events (the customer set,
the resolving transaction's watermark, the higher version) with one
`INSERT … SELECT … FINAL`: no mutation, and reads see only the new copies
at once; the originals go at the next merge.

chdb runs in this process and synchronously: every call goes through
`asyncio.to_thread`. The engine allows one data folder per process, so its
client is shared per folder (clickhouse-connect serializes calls on it)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from billingos_kit.db import Connection
from billingos_kit.repository import DataScope
from billingos_metering.aggregates import ZERO, Aggregate, decimal_text
from billingos_metering.filters import Aggregation, Condition, EventValue, Filter, number_of
from billingos_metering.rollups import upsert_sql
from billingos_metering.store import Audience, Bucketed, MeterSpec, NewEvent, Tail
from billingos_metering.vocabulary import Conjunction, Function, Operator
from billingos_metering.watermarks import safe_watermark

T = TypeVar("T")

DEFAULT_DATABASE = "metering"
DEFAULT_PORT = 8123
DEFAULT_SECURE_PORT = 8443
# Numbers beyond this are not exact doubles (ingest_rules.MAX_EXACT_INTEGER).
MAX_EXACT_INTEGER = 2**53
# `version` of a fresh event is _NEWEST - watermark; a moved one adds _MOVED.
_NEWEST = 2**63 - 1
_MOVED = 2**63
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)

# The table's columns and their types (given with every insert, so none
# needs the table's description first).
_SCHEMA = (
    ("organization_id", "UUID"),
    # The dedup key: "x" + external_id, or "i" + the event's id.
    ("key", "String"),
    ("id", "UUID"),
    ("name", "String"),
    ("customer_id", "Nullable(UUID)"),
    ("external_customer_id", "Nullable(String)"),
    ("timestamp", "DateTime64(6, 'UTC')"),
    # The metadata as sent (JSON), then typed by kind of value.
    ("metadata", "String"),
    ("strings", "Map(String, String)"),
    ("numbers", "Map(String, Float64)"),
    ("mantissas", "Map(String, Int64)"),
    ("exponents", "Map(String, Int16)"),
    ("bools", "Map(String, Bool)"),
    ("external_id", "Nullable(String)"),
    ("ingested_at", "DateTime64(6, 'UTC')"),
    ("watermark", "Int64"),
    ("version", "UInt64"),
)
_COLUMNS = tuple(name for name, _ in _SCHEMA)
_COLUMN_TYPES = tuple(kind for _, kind in _SCHEMA)

_TABLE = (
    "CREATE TABLE IF NOT EXISTS {db}.events ("
    + ", ".join(f"{name} {kind}" for name, kind in _SCHEMA)
    + ", INDEX watermark_range watermark TYPE minmax GRANULARITY 1"
    ", INDEX timestamp_range timestamp TYPE minmax GRANULARITY 1"
    ") ENGINE = ReplacingMergeTree(version) ORDER BY (organization_id, key)"
)

# Writes are acknowledged only once readable (recent servers default to
# asynchronous inserts, acknowledged before they are).
_WRITE_SETTINGS: dict[str, Any] = {"async_insert": 0}
# FINAL reads: filters after the collapse, skip indexes only where exact.
_EXACT_FINAL: dict[str, Any] = {
    "optimize_move_to_prewhere_if_final": 0,
    "use_skip_indexes_if_final": 1,
    "use_skip_indexes_if_final_exact_mode": 1,
}
_PLAIN_FINAL: dict[str, Any] = {
    "optimize_move_to_prewhere_if_final": 0,
    "use_skip_indexes_if_final": 0,
}

_CURRENT_XID = "SELECT pg_current_xact_id()::text::bigint"
# The start of an event's UTC quarter-hour in microseconds, as the rollups
# key it (rollups.py; no event is older than 1970, so the division floors).
_QUARTER_MICROS = "intDiv(toUnixTimestamp64Micro(timestamp), 900000000) * 900000000"


# ---- where the events are --------------------------------------------------


@dataclass(frozen=True)
class ClickHouseTarget:
    """A ClickHouse server (host set) or an in-process chdb folder (path set)."""

    database: str
    path: str | None = None
    host: str = ""
    port: int = DEFAULT_PORT
    username: str = "default"
    password: str = ""
    secure: bool = False

    @classmethod
    def parse(cls, url: str) -> ClickHouseTarget:
        """`clickhouse://user:password@host:8123/database` (`clickhouses://`
        for TLS, port 8443 by default) or `chdb:///path/to/folder`. The
        database defaults to "metering"."""
        parts = urlsplit(url)
        if parts.scheme == "chdb":
            location = unquote(parts.netloc + parts.path)
            if not location:
                raise ValueError("a chdb URL names a folder: chdb:///path/to/folder")
            return cls(database=DEFAULT_DATABASE, path=os.path.realpath(location))
        if parts.scheme not in ("clickhouse", "clickhouses"):
            raise ValueError(
                f"not a ClickHouse URL (clickhouse://, clickhouses://, chdb://): {url!r}"
            )
        if not parts.hostname:
            raise ValueError("a ClickHouse URL names its host: clickhouse://user:pw@host:8123/db")
        secure = parts.scheme == "clickhouses"
        database = unquote(parts.path.lstrip("/")) or DEFAULT_DATABASE
        if not _IDENTIFIER.match(database):
            raise ValueError(f"the database must be a plain identifier, not {database!r}")
        return cls(
            database=database,
            host=parts.hostname,
            port=parts.port or (DEFAULT_SECURE_PORT if secure else DEFAULT_PORT),
            username=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password) if parts.password else "",
            secure=secure,
        )

    def server_arguments(self) -> dict[str, Any]:
        """clickhouse-connect's arguments for the server. No session id: the
        client is shared by threads, and a session admits one query at a
        time."""
        assert self.path is None
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "secure": self.secure,
            "autogenerate_session_id": False,
        }

    def server_client(self) -> Client:
        """A clickhouse-connect HTTP client for the server (it connects as
        it is made)."""
        return clickhouse_connect.get_client(**self.server_arguments())


_SHARED: dict[str, Client] = {}
_SHARED_LOCK = threading.Lock()


def _chdb_client(path: str) -> Client:
    """The process's client of the chdb engine in `path`: chdb hosts one
    engine (one folder) per process, so every store on that folder shares
    one client, whose calls clickhouse-connect serializes with a lock."""
    with _SHARED_LOCK:
        client = _SHARED.get(path)
        if client is None:
            if _SHARED:
                raise RuntimeError(
                    f"chdb already runs on {next(iter(_SHARED))}; one folder per process"
                )
            os.makedirs(path, exist_ok=True)
            client = _SHARED[path] = clickhouse_connect.get_client(dsn=f"chdb://{path}")
        return client


# ---- SQL ---------------------------------------------------------------------


class _Params:
    """Named server-side parameters ({p0:Type}, …) collected while SQL is
    written: every value and key is bound, none is spliced into the text."""

    def __init__(self, **initial: Any) -> None:
        self.values: dict[str, Any] = dict(initial)
        self._added = 0

    def add(self, value: Any, kind: str) -> str:
        name = f"p{self._added}"
        self._added += 1
        self.values[name] = value
        return f"{{{name}:{kind}}}"


_COMPARE = {
    Operator.GT: ">",
    Operator.GTE: ">=",
    Operator.LT: "<",
    Operator.LTE: "<=",
}


def filter_sql(tree: Filter, params: _Params) -> str:
    if not tree.clauses:
        return "true" if tree.conjunction is Conjunction.AND else "false"
    joiner = " AND " if tree.conjunction is Conjunction.AND else " OR "
    parts = [
        filter_sql(clause, params) if isinstance(clause, Filter) else _condition_sql(clause, params)
        for clause in tree.clauses
    ]
    return "(" + joiner.join(parts) + ")"


def _negated(operator: Operator, holds: str) -> str:
    return f"(NOT {holds})" if operator in (Operator.NE, Operator.NOT_LIKE) else holds


def _condition_sql(condition: Condition, params: _Params) -> str:
    key, operator, value = condition.metadata_key, condition.operator, condition.value
    if key is None:
        # The name is always a string.
        return _negated(operator, _string_test("name", "true", operator, str(value), params))
    bound_key = params.add(key, "String")
    if isinstance(value, bool):
        test = f"bools[{bound_key}] = {params.add(value, 'Bool')}"
        return _negated(operator, f"(mapContains(bools, {bound_key}) AND {test})")
    if isinstance(value, Decimal):
        test = _number_test(f"numbers[{bound_key}]", operator, value, params)
        return _negated(operator, f"(mapContains(numbers, {bound_key}) AND {test})")
    present = f"mapContains(strings, {bound_key})"
    return _negated(
        operator, _string_test(f"strings[{bound_key}]", present, operator, value, params)
    )


def _string_test(text: str, present: str, operator: Operator, value: str, params: _Params) -> str:
    """The positive test (eq, like, an ordering); ne and not_like negate it."""
    if operator in (Operator.LIKE, Operator.NOT_LIKE):
        return f"({present} AND {text} LIKE {params.add(like_pattern(value), 'String')})"
    symbol = "=" if operator in (Operator.EQ, Operator.NE) else _COMPARE[operator]
    return f"({present} AND {text} {symbol} {params.add(value, 'String')})"


def like_pattern(pattern: str) -> str:
    """The pattern as ClickHouse's LIKE reads it to mean what filters.py's
    does: there `\\` escapes any character (it stands for itself), while
    ClickHouse keeps `\\` before a character that is not `%`, `_` or `\\`;
    a trailing lone `\\` is a literal backslash."""
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append("\\" + char if char in "%_\\" else char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    if escaped:
        out.append("\\\\")
    return "".join(out)


def _number_test(number: str, operator: Operator, value: Decimal, params: _Params) -> str:
    """`number` (the event's double) against the filter's exact decimal:
    see the module docstring for why one Float64 comparison is exact."""
    nearest = float(value)
    if math.isinf(nearest):
        # Beyond every double: every stored number is below (or above) it.
        below = nearest > 0
        holds = {
            Operator.EQ: False,
            Operator.NE: False,
            Operator.GT: not below,
            Operator.GTE: not below,
            Operator.LT: below,
            Operator.LTE: below,
        }[operator]
        return "true" if holds else "false"
    shown = Decimal(repr(nearest))
    bound = params.add(nearest, "Float64")
    if operator in (Operator.EQ, Operator.NE):
        return f"{number} = {bound}" if shown == value else "false"
    inclusive = {
        Operator.GT: shown > value,
        Operator.GTE: shown >= value,
        Operator.LT: shown < value,
        Operator.LTE: shown <= value,
    }[operator]
    symbol = "<" if operator in (Operator.LT, Operator.LTE) else ">"
    return f"{number} {symbol}{'=' if inclusive else ''} {bound}"


def _distinct_sql(key: str) -> str:
    """The value `unique` counts (kind and value), NULL where missing."""
    return (
        f"multiIf(mapContains(strings, {key}), concat('s', strings[{key}]),"
        f" mapContains(numbers, {key}), concat('n', reinterpretAsString(numbers[{key}])),"
        f" mapContains(bools, {key}), if(bools[{key}], 'btrue', 'bfalse'), NULL)"
    )


def aggregate_columns(aggregation: Aggregation, params: _Params) -> str:
    """Four columns: count, exact sum parts (exponents, Int128 mantissa
    sums), the extreme as (mantissa, exponent), distinct."""
    function = aggregation.function
    no_sum = "CAST(([], []), 'Tuple(Array(Int16), Array(Int128))')"
    no_extreme = "(toInt64(0), toInt16(0))"
    if function is Function.COUNT:
        return f"count(), {no_sum}, {no_extreme}, toUInt64(0)"
    assert aggregation.key is not None
    key = params.add(aggregation.key, "String")
    if function is Function.UNIQUE:
        return f"count(), {no_sum}, {no_extreme}, uniqExact({_distinct_sql(key)})"
    has = f"mapContains(numbers, {key})"
    total = no_sum
    if function in (Function.SUM, Function.AVG):
        total = f"sumMapIf([exponents[{key}]], [toInt128(mantissas[{key}])], {has})"
    extreme = no_extreme
    if function in (Function.MAX, Function.MIN):
        pick = "argMaxIf" if function is Function.MAX else "argMinIf"
        extreme = f"{pick}((mantissas[{key}], exponents[{key}]), numbers[{key}], {has})"
    return f"countIf({has}), {total}, {extreme}, toUInt64(0)"


def _aggregate(function: Function, row: Sequence[Any], offset: int = 0) -> Aggregate:
    count, (exponents, sums), (mantissa, exponent), distinct = row[offset : offset + 4]
    extreme = None
    if count and function in (Function.MAX, Function.MIN):
        extreme = _decimal(int(mantissa), int(exponent))
    return Aggregate(int(count), _exact_sum(exponents, sums), extreme, int(distinct))


def _decimal(mantissa: int, exponent: int) -> Decimal:
    return Decimal(f"{mantissa}E{exponent}") if exponent else Decimal(mantissa)


def _exact_sum(exponents: Sequence[int], sums: Sequence[int]) -> Decimal:
    """Σ sum_e · 10^e, added in integers (exact at any spread of exponents),
    at the finest scale among them, as Postgres's numeric sum has it."""
    if not exponents:
        return ZERO
    low = min(0, *exponents)
    total = sum(int(s) * 10 ** (int(e) - low) for e, s in zip(exponents, sums, strict=True))
    return _decimal(total, low)


def _micros(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _typed(
    metadata: Mapping[str, EventValue],
) -> tuple[dict[str, str], dict[str, float], dict[str, int], dict[str, int], dict[str, bool]]:
    """The metadata split by kind; numbers as their double and their exact
    decimal (filters.number_of), which the comparisons rely on agreeing."""
    strings: dict[str, str] = {}
    numbers: dict[str, float] = {}
    mantissas: dict[str, int] = {}
    exponents: dict[str, int] = {}
    bools: dict[str, bool] = {}
    for key, value in metadata.items():
        if isinstance(value, bool):
            bools[key] = value
        elif isinstance(value, str):
            strings[key] = value
        else:
            if isinstance(value, int) and abs(value) > MAX_EXACT_INTEGER:
                raise ValueError(f"metadata {key!r}: integers must be within ±2^53")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"metadata {key!r}: numbers must be finite")
            exact = number_of(value)
            assert exact is not None
            sign, digits, exponent = exact.as_tuple()
            assert isinstance(exponent, int)
            mantissa = int("".join(map(str, digits)))
            numbers[key] = float(value) + 0.0  # -0.0 is 0.0
            mantissas[key] = -mantissa if sign else mantissa
            exponents[key] = exponent
    return strings, numbers, mantissas, exponents, bools


def distinct_text(kind: int, text: str, mantissa: int, exponent: int, flag: bool) -> str:
    """A unique meter's value as the Postgres store writes it (the JSON
    value's text: '"abc"', '2.25', 'true')."""
    if kind == 1:
        return json.dumps(text, ensure_ascii=False)
    if kind == 2:
        return decimal_text(_decimal(mantissa, exponent))
    return "true" if flag else "false"


# ---- running ClickHouse calls -------------------------------------------------


async def _finish(future: asyncio.Future[T]) -> T:
    """The result of a write running in a thread, awaited to its end even if
    the caller is cancelled meanwhile (then cancelled after): the caller's
    transaction is the write's watermark, and must not end before the write
    has landed."""
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.done():
                raise  # the write is over (or was itself cancelled): nothing to wait for
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return result


@contextlib.asynccontextmanager
async def _transaction(connection: Connection) -> AsyncIterator[None]:
    """The connection's transaction, or one opened for this block when it
    has none: a write's watermark is its transaction's id, so the
    transaction must span the write."""
    if connection.is_in_transaction():
        yield
        return
    async with connection.transaction():
        yield


# ---- the store ---------------------------------------------------------------


class ClickHouseEventStore:
    def __init__(self, target: ClickHouseTarget) -> None:
        self.target = target
        self._db = f"`{target.database}`"
        self._client: Client | None = None
        self._final = _EXACT_FINAL
        self._ready = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> ClickHouseEventStore:
        """The store at `url` (ClickHouseTarget.parse). Nothing is reached
        yet; the table is made on first use if missing."""
        target = ClickHouseTarget.parse(url)
        if target.path is not None:
            # `import chdb` briefly changes the working directory: done here,
            # on the thread that builds the app, not later in a worker thread.
            try:
                import chdb  # noqa: F401
            except ImportError:
                raise RuntimeError(
                    f"{url}: an in-process ClickHouse needs the chdb package"
                    " (pip install chdb), or use a clickhouse:// server"
                ) from None

        return cls(target)

    # ---- plumbing (each runs in a worker thread) ----

    def _connected(self) -> Client:
        if self._client is not None:
            return self._client
        with self._ready:
            if self._client is None:
                target = self.target
                client = (
                    _chdb_client(target.path) if target.path is not None else target.server_client()
                )
                client.command(f"CREATE DATABASE IF NOT EXISTS {self._db}")
                client.command(_TABLE.format(db=self._db))
                known = client.query(
                    "SELECT count() FROM system.settings"
                    " WHERE name = 'use_skip_indexes_if_final_exact_mode'"
                ).result_rows
                self._final = _EXACT_FINAL if known[0][0] else _PLAIN_FINAL
                self._client = client
        return self._client

    def _rows(self, sql: str, params: _Params) -> Sequence[Sequence[Any]]:
        client = self._connected()
        return client.query(sql, parameters=params.values, settings=self._final).result_rows

    async def _read(self, sql: str, params: _Params) -> Sequence[Sequence[Any]]:
        return await asyncio.to_thread(self._rows, sql, params)

    async def _write(self, work: Callable[..., T], *args: Any) -> T:
        return await _finish(asyncio.ensure_future(asyncio.to_thread(work, *args)))

    # ---- writes ----

    async def insert(
        self, scope: DataScope, events: Sequence[NewEvent], ingested_at: dt.datetime
    ) -> int:
        if not events:
            return 0
        connection = await scope.connection()
        async with _transaction(connection):
            watermark = int(await connection.fetchval(_CURRENT_XID))
            return await self._write(
                self._insert_new, scope.organization_id, events, ingested_at, watermark
            )

    def _insert_new(
        self,
        organization_id: uuid.UUID,
        events: Sequence[NewEvent],
        ingested_at: dt.datetime,
        watermark: int,
    ) -> int:
        client = self._connected()
        keys = ["x" + e.external_id for e in events if e.external_id is not None]
        seen: set[str] = set()
        if keys:
            params = _Params(org=organization_id, keys=keys)
            found = client.query(
                f"SELECT DISTINCT key FROM {self._db}.events"  # noqa: S608 - values are bound
                " WHERE organization_id = {org:UUID} AND key IN {keys:Array(String)}",
                parameters=params.values,
            ).result_rows
            seen = {row[0] for row in found}
        fresh = [e for e in events if e.external_id is None or "x" + e.external_id not in seen]
        if fresh:
            self.write_rows(organization_id, fresh, ingested_at, watermark)
        return len(fresh)

    def write_rows(
        self,
        organization_id: uuid.UUID,
        events: Sequence[NewEvent],
        ingested_at: dt.datetime,
        watermark: int,
    ) -> None:
        """Writes the events as they are, with no check for their keys: what
        `insert` does after its check, and what two racing inserts both do."""
        count = len(events)
        typed = [_typed(e.metadata) for e in events]
        columns: list[list[Any]] = [
            [organization_id] * count,
            ["x" + e.external_id if e.external_id is not None else "i" + e.id.hex for e in events],
            [e.id for e in events],
            [e.name for e in events],
            [e.customer_id for e in events],
            [e.external_customer_id for e in events],
            [e.timestamp for e in events],
            [e.metadata_json for e in events],
            *([t[kind] for t in typed] for kind in range(5)),
            [e.external_id for e in events],
            [ingested_at] * count,
            [watermark] * count,
            [_NEWEST - watermark] * count,
        ]
        self._connected().insert(
            "events",
            columns,
            column_names=list(_COLUMNS),
            column_type_names=list(_COLUMN_TYPES),
            column_oriented=True,
            database=self.target.database,
            settings=_WRITE_SETTINGS,
        )

    async def resolve_customer(
        self, scope: DataScope, external_customer_id: str, customer_id: uuid.UUID
    ) -> int:
        connection = await scope.connection()
        async with _transaction(connection):
            watermark = int(await connection.fetchval(_CURRENT_XID))
            return await self._write(
                self._move, scope.organization_id, external_customer_id, customer_id, watermark
            )

    def _move(
        self,
        organization_id: uuid.UUID,
        external_customer_id: str,
        customer_id: uuid.UUID,
        watermark: int,
    ) -> int:
        client = self._connected()
        version = _MOVED + (_NEWEST - watermark)
        params = _Params(
            org=organization_id,
            ext=external_customer_id,
            customer=customer_id,
            mark=watermark,
            version=version,
        )
        source = (
            f" FROM {self._db}.events FINAL"
            " WHERE organization_id = {org:UUID} AND customer_id IS NULL"
            " AND external_customer_id = {ext:String}"
        )
        # Counted first (an INSERT … SELECT reports no row count on chdb); an
        # event of the external id stored in between moves uncounted.
        found = client.query(
            f"SELECT count() {source}", parameters=params.values, settings=self._final
        ).result_rows
        moved = int(found[0][0])
        if not moved:
            return 0
        copied = [
            "{customer:UUID}" if c == "customer_id" else c
            for c in _COLUMNS
            if c not in ("watermark", "version")
        ]
        client.command(
            f"INSERT INTO {self._db}.events ({', '.join(_COLUMNS)})"
            f" SELECT {', '.join(copied)}, {{mark:Int64}}, {{version:UInt64}} {source}",
            parameters=params.values,
            settings={**self._final, **_WRITE_SETTINGS},
        )
        return moved

    # ---- reads ----

    async def quantities(
        self,
        scope: DataScope,
        meter: MeterSpec,
        audience: Audience,
        bounds: Sequence[dt.datetime],
        tail: Tail | None = None,
    ) -> Bucketed:
        starts = [_micros(b) for b in bounds]
        params = _Params(org=scope.organization_id, bounds=starts[:-1], start=starts[0])
        params.values["end"] = starts[-1]
        columns = aggregate_columns(meter.aggregation, params)
        where = filter_sql(meter.filter, params)
        who = _audience_sql(audience, params)
        if tail is not None:
            since = params.add(tail.since, "Int64")
            cut = params.add([_micros(q) for q in tail.quarters], "Array(Int64)")
            # One test per row (no union here): above the point, or in a cut quarter.
            who = f"{who} AND (watermark >= {since} OR has({cut}, {_QUARTER_MICROS}))"
        # roundDown finds each event's bucket start among the bounds (a
        # binary search); the empty grouping set is the whole range.
        bucket = "roundDown(toUnixTimestamp64Micro(timestamp), {bounds:Array(Int64)})"
        sql = f"""
            SELECT {bucket} AS bucket, {columns}, grouping(bucket) AS whole
            FROM {self._db}.events FINAL
            WHERE organization_id = {{org:UUID}}
              AND timestamp >= fromUnixTimestamp64Micro({{start:Int64}}, 'UTC')
              AND timestamp < fromUnixTimestamp64Micro({{end:Int64}}, 'UTC')
              AND {who} AND {where}
            GROUP BY GROUPING SETS ((bucket), ())
        """  # noqa: S608 - every value and key is a bound parameter
        index = {start: i for i, start in enumerate(starts[:-1])}
        function = meter.aggregation.function
        buckets = [Aggregate()] * (len(bounds) - 1)
        total = Aggregate()
        for row in await self._read(sql, params):
            if row[-1]:
                total = _aggregate(function, row, 1)
            else:
                buckets[index[row[0]]] = _aggregate(function, row, 1)
        return Bucketed(buckets, total)

    async def roll_up(
        self,
        scope: DataScope,
        meter_id: uuid.UUID,
        meter: MeterSpec,
        watermarks: tuple[int, int],
    ) -> None:
        params = _Params(org=scope.organization_id, after=watermarks[0], until=watermarks[1])
        columns = aggregate_columns(meter.aggregation, params)
        source = self._windowed(meter, {}, params)
        sql = f"""
            SELECT assumeNotNull(customer_id), {_QUARTER_MICROS} AS quarter,
                   {columns}
            {source} GROUP BY customer_id, quarter
        """
        function = meter.aggregation.function
        rows = [
            (customer, _EPOCH + quarter * _MICROSECOND, _aggregate(function, row, 2))
            for row in await self._read(sql, params)
            for customer, quarter in [row[:2]]
        ]
        rows = [r for r in rows if r[2].count]
        if not rows:
            return
        connection = await scope.connection()
        await connection.execute(
            upsert_sql(function),
            meter_id,
            scope.organization_id,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2].count for r in rows],
            [r[2].total for r in rows],
            [r[2].extreme for r in rows],
        )

    async def counted(
        self,
        scope: DataScope,
        meter: MeterSpec,
        customer_id: uuid.UUID,
        start: dt.datetime,
        end: dt.datetime,
        watermarks: tuple[int, int],
    ) -> Aggregate:
        params = _Params(
            org=scope.organization_id,
            customer=customer_id,
            start=_micros(start),
            end=_micros(end),
            after=watermarks[0],
            until=watermarks[1],
        )
        columns = aggregate_columns(meter.aggregation, params)
        where = filter_sql(meter.filter, params)
        sql = f"""
            SELECT {columns} FROM {self._db}.events FINAL
            WHERE organization_id = {{org:UUID}} AND customer_id = {{customer:UUID}}
              AND timestamp >= fromUnixTimestamp64Micro({{start:Int64}}, 'UTC')
              AND timestamp < fromUnixTimestamp64Micro({{end:Int64}}, 'UTC')
              AND watermark >= {{after:Int64}} AND watermark < {{until:Int64}}
              AND {where}
        """  # noqa: S608 - every value and key is a bound parameter
        return _aggregate(meter.aggregation.function, (await self._read(sql, params))[0])

    async def watermark(self, scope: DataScope) -> int:
        return await safe_watermark(await scope.connection())

    async def organizations_with_events(
        self, scope: DataScope, after: int, until: int
    ) -> set[uuid.UUID]:
        # Not FINAL (that would collapse the whole table): a copy that lost
        # to another only adds an organization with nothing to count.
        params = _Params(after=after, until=until)
        rows = await self._read(
            f"SELECT DISTINCT organization_id FROM {self._db}.events"  # noqa: S608 - values are bound
            " WHERE watermark >= {after:Int64} AND watermark < {until:Int64}",
            params,
        )
        return {row[0] for row in rows}

    def _windowed(
        self,
        meter: MeterSpec,
        windows: Mapping[uuid.UUID, int],
        params: _Params,
    ) -> str:
        where = filter_sql(meter.filter, params)
        window_test = ""
        if windows:
            customers = params.add(list(windows), "Array(UUID)")
            marks = params.add(list(windows.values()), "Array(Int64)")
            window_test = (
                f"AND watermark >= transform(assumeNotNull(customer_id), {customers}, {marks},"
                " toInt64(0))"
            )
        return f"""
            FROM {self._db}.events FINAL
            WHERE organization_id = {{org:UUID}}
              AND watermark >= {{after:Int64}} AND watermark < {{until:Int64}}
              AND customer_id IS NOT NULL {window_test} AND {where}
        """

    async def customer_aggregates(
        self,
        scope: DataScope,
        meter: MeterSpec,
        watermarks: tuple[int, int],
        windows: Mapping[uuid.UUID, int],
    ) -> dict[uuid.UUID, Aggregate]:
        params = _Params(org=scope.organization_id, after=watermarks[0], until=watermarks[1])
        columns = aggregate_columns(meter.aggregation, params)
        source = self._windowed(meter, windows, params)
        sql = f"SELECT assumeNotNull(customer_id), {columns} {source} GROUP BY customer_id"
        function = meter.aggregation.function
        return {row[0]: _aggregate(function, row, 1) for row in await self._read(sql, params)}

    async def customer_values(
        self,
        scope: DataScope,
        meter: MeterSpec,
        watermarks: tuple[int, int],
        windows: Mapping[uuid.UUID, int],
    ) -> dict[uuid.UUID, set[str]]:
        assert meter.aggregation.function is Function.UNIQUE
        assert meter.aggregation.key
        params = _Params(org=scope.organization_id, after=watermarks[0], until=watermarks[1])
        key = params.add(meter.aggregation.key, "String")
        source = self._windowed(meter, windows, params)
        kind = (
            f"multiIf(mapContains(strings, {key}), 1, mapContains(numbers, {key}), 2,"
            f" mapContains(bools, {key}), 3, 0)"
        )
        sql = f"""
            SELECT DISTINCT assumeNotNull(customer_id), {kind} AS kind, strings[{key}],
                   mantissas[{key}], exponents[{key}], bools[{key}]
            {source} AND kind != 0
        """
        found: dict[uuid.UUID, set[str]] = {}
        for customer, *value in await self._read(sql, params):
            found.setdefault(customer, set()).add(
                distinct_text(int(value[0]), value[1], int(value[2]), int(value[3]), value[4])
            )
        return found


def _audience_sql(audience: Audience, params: _Params) -> str:
    if audience.customer_id is not None:
        return f"customer_id = {params.add(audience.customer_id, 'UUID')}"
    if audience.external_customer_id is not None:
        bound = params.add(audience.external_customer_id, "String")
        return f"customer_id IS NULL AND external_customer_id = {bound}"
    return "true"
