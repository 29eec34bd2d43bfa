"""The idempotency store (DESIGN §6) on real Postgres: the same key and request
replay the stored response, the same key with another request is refused,
expired keys count as absent, and concurrent callers with one key serialize."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from google.protobuf import wrappers_pb2
from sqlalchemy import func, select

from billingos_kit.clock import UTC, FrozenClock
from billingos_kit.db import Connection, Database, UnitOfWork
from billingos_kit.errors import InvalidArgument
from billingos_kit.idempotency import (
    IDEMPOTENCY_FIELD,
    MAX_KEY_LENGTH,
    IdempotencyKeyReused,
    IdempotencyStore,
    request_fingerprint,
    validate_key,
)
from billingos_kit.tables import KitTables
from billingos_kit.testing.db import scalar

START = dt.datetime(2026, 8, 1, tzinfo=UTC)
TTL = dt.timedelta(hours=24)
SCOPE = "01900000-0000-7000-8000-0000000000bb"
METHOD = "/billingos.demo.v1.WidgetService/CreateWidget"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def store(kit_tables: KitTables, clock: FrozenClock) -> IdempotencyStore:
    return IdempotencyStore(kit_tables, clock, TTL)


def fingerprint(value: str, method: str = METHOD) -> bytes:
    return request_fingerprint(method, wrappers_pb2.StringValue(value=value))


async def replay(
    database: Database,
    store: IdempotencyStore,
    key: str,
    request: bytes,
    *,
    scope: str = SCOPE,
    method: str = METHOD,
) -> bytes | None:
    async with database.transaction() as connection:
        return await store.replay(connection, scope, key, method, request)


async def record(
    database: Database, store: IdempotencyStore, key: str, request: bytes, response: bytes
) -> None:
    async with database.transaction() as connection:
        await store.record(connection, SCOPE, key, METHOD, request, response)


async def test_an_unknown_key_lets_the_call_run(
    kit_database: Database, store: IdempotencyStore
) -> None:
    assert await replay(kit_database, store, "fresh", fingerprint("a")) is None


async def test_the_same_key_and_request_replay_the_stored_response(
    kit_database: Database, store: IdempotencyStore
) -> None:
    await record(kit_database, store, "k1", fingerprint("a"), b"stored response")
    assert await replay(kit_database, store, "k1", fingerprint("a")) == b"stored response"
    assert await replay(kit_database, store, "k1", fingerprint("a")) == b"stored response"


async def test_the_same_key_with_another_request_is_refused(
    kit_database: Database, store: IdempotencyStore
) -> None:
    await record(kit_database, store, "k2", fingerprint("a"), b"stored response")
    with pytest.raises(IdempotencyKeyReused) as refused:
        await replay(kit_database, store, "k2", fingerprint("b"))
    assert [v.field for v in refused.value.violations] == [IDEMPOTENCY_FIELD]
    assert refused.value.reason == "IDEMPOTENCY_KEY_REUSED"


async def test_the_same_key_on_another_method_is_refused(
    kit_database: Database, store: IdempotencyStore
) -> None:
    other_method = "/billingos.demo.v1.WidgetService/DeleteWidget"
    await record(kit_database, store, "k3", fingerprint("a"), b"stored response")
    with pytest.raises(IdempotencyKeyReused):
        await replay(kit_database, store, "k3", fingerprint("a", other_method), method=other_method)


async def test_keys_of_one_scope_are_unknown_in_another(
    kit_database: Database, store: IdempotencyStore
) -> None:
    await record(kit_database, store, "shared", fingerprint("a"), b"mine")
    assert await replay(kit_database, store, "shared", fingerprint("b"), scope="platform") is None


async def test_a_key_is_honoured_until_it_expires_and_then_is_absent(
    kit_database: Database, store: IdempotencyStore, clock: FrozenClock
) -> None:
    await record(kit_database, store, "k4", fingerprint("a"), b"first answer")
    clock.advance(TTL)
    assert await replay(kit_database, store, "k4", fingerprint("a")) == b"first answer"

    clock.advance(dt.timedelta(seconds=1))
    assert await replay(kit_database, store, "k4", fingerprint("b")) is None
    # The expired key is gone, so the new call can record its own answer under it.
    await record(kit_database, store, "k4", fingerprint("b"), b"second answer")
    assert await replay(kit_database, store, "k4", fingerprint("b")) == b"second answer"


async def test_a_response_recorded_in_a_rolled_back_transaction_is_not_kept(
    kit_database: Database, kit_tables: KitTables, store: IdempotencyStore
) -> None:
    with pytest.raises(ZeroDivisionError):
        await record_then_fail(kit_database, store, "k5")
    assert await count_keys(kit_database, kit_tables) == 0
    assert await replay(kit_database, store, "k5", fingerprint("b")) is None


async def record_then_fail(database: Database, store: IdempotencyStore, key: str) -> None:
    async with database.transaction() as connection:
        await store.record(connection, SCOPE, key, METHOD, fingerprint("a"), b"lost")
        _ = 1 / 0


async def test_a_second_caller_with_the_same_key_waits_for_the_first_and_gets_its_answer(
    kit_database: Database, store: IdempotencyStore
) -> None:
    async with kit_database.transaction() as first:
        assert await store.replay(first, SCOPE, "k6", METHOD, fingerprint("a")) is None
        second = asyncio.create_task(replay(kit_database, store, "k6", fingerprint("a")))
        await wait_for_a_blocked_advisory_lock(kit_database)
        assert not second.done()
        await store.record(first, SCOPE, "k6", METHOD, fingerprint("a"), b"first's answer")
    assert await asyncio.wait_for(second, timeout=10) == b"first's answer"


async def test_a_call_that_commits_midway_keeps_its_twin_waiting_until_it_finishes(
    kit_database: Database, store: IdempotencyStore
) -> None:
    """The twin must not run while the first call is between its mid-call
    commit and its stored response (payments' refunds commit before asking
    Stripe): a transaction-level lock alone would let it in."""
    unit = UnitOfWork(kit_database, transactional=True)
    first = await unit.connection()
    assert await store.replay(first, SCOPE, "k7", METHOD, fingerprint("a")) is None

    async def hold(connection: Connection) -> None:
        await store.hold(connection, SCOPE, "k7")

    async def release(connection: Connection) -> None:
        await store.release(connection, SCOPE, "k7")

    unit.keep_across_commits(hold, release)
    await unit.commit_and_continue()
    second = asyncio.create_task(replay(kit_database, store, "k7", fingerprint("a")))
    await wait_for_a_blocked_advisory_lock(kit_database)
    await asyncio.sleep(0.2)
    assert not second.done()
    await store.record(first, SCOPE, "k7", METHOD, fingerprint("a"), b"first's answer")
    await unit.finish(succeeded=True)
    assert await asyncio.wait_for(second, timeout=10) == b"first's answer"
    # Released by finish, not left on the pooled connection (where the same
    # session could take it again unnoticed, advisory locks being reentrant).
    assert await advisory_locks_on(kit_database, store, "k7") == 0


async def test_a_failed_call_that_committed_midway_lets_its_twin_run_after_it(
    kit_database: Database, store: IdempotencyStore
) -> None:
    unit = UnitOfWork(kit_database, transactional=True)
    first = await unit.connection()
    assert await store.replay(first, SCOPE, "k8", METHOD, fingerprint("a")) is None

    async def hold(connection: Connection) -> None:
        await store.hold(connection, SCOPE, "k8")

    async def release(connection: Connection) -> None:
        await store.release(connection, SCOPE, "k8")

    unit.keep_across_commits(hold, release)
    await unit.commit_and_continue()
    await unit.finish(succeeded=False)
    assert await advisory_locks_on(kit_database, store, "k8") == 0
    assert await asyncio.wait_for(replay(kit_database, store, "k8", fingerprint("a")), 10) is None


async def advisory_locks_on(database: Database, store: IdempotencyStore, key: str) -> int:
    """Advisory locks anyone holds on the key (Postgres splits the 64-bit
    id into classid, the high half, and objid, the low half)."""
    lock_id = store._lock_id(SCOPE, key)
    unsigned = lock_id & 0xFFFFFFFFFFFFFFFF
    async with database.connection() as connection:
        found = await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
            " AND classid::bigint = $1 AND objid::bigint = $2",
            unsigned >> 32,
            unsigned & 0xFFFFFFFF,
        )
    return int(found)


async def wait_for_a_blocked_advisory_lock(database: Database) -> None:
    """Until some session waits on an advisory lock (the second caller's)."""
    deadline = time.monotonic() + 10
    query = (
        "SELECT count(*) FROM pg_locks JOIN pg_database ON pg_database.oid = pg_locks.database"
        " WHERE datname = current_database() AND locktype = 'advisory' AND NOT granted"
    )
    while True:
        async with database.connection() as connection:
            if await connection.fetchval(query):
                return
        assert time.monotonic() < deadline, "the second caller never waited for the lock"
        await asyncio.sleep(0.02)


def test_fingerprints_tell_methods_and_requests_apart() -> None:
    assert fingerprint("a") == fingerprint("a")
    assert fingerprint("a") != fingerprint("b")
    assert fingerprint("a") != fingerprint("a", "/billingos.demo.v1.WidgetService/Other")


@pytest.mark.parametrize("key", ["a", "order-42_retry.1", "x" * MAX_KEY_LENGTH])
def test_printable_ascii_keys_up_to_the_limit_are_valid(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * (MAX_KEY_LENGTH + 1), "clé", "tab\there", "nl\n"])
def test_other_keys_are_refused_naming_the_header(key: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_key(key)
    assert [v.field for v in refused.value.violations] == [IDEMPOTENCY_FIELD]


async def count_keys(database: Database, tables: KitTables) -> int:
    return int(
        await scalar(database, select(func.count()).select_from(tables.idempotency_keys)) or 0
    )


def test_the_callers_scopes_are_part_of_the_fingerprint() -> None:
    """A replay skips the handler's own checks of the caller; a weaker caller
    repeating a stronger one's key and request must not get its answer."""
    request = wrappers_pb2.StringValue(value="same")
    strong = request_fingerprint("/m", request, ["api_keys", "read", "write"])
    assert strong == request_fingerprint("/m", request, ["write", "read", "api_keys"])
    assert strong != request_fingerprint("/m", request, ["api_keys"])
