"""Idempotency keys (DESIGN §6): same key + same request returns the stored
response; same key + a different request is an error; keys are kept at least
the configured TTL (24 h by default).

The stored response is written in the same transaction as the call's effect,
and concurrent calls with one key serialize on a transaction-level advisory
lock, so the second caller waits and then receives the first caller's answer.
A call that commits midway (`UnitOfWork.commit_and_continue`) holds the same
key as a session-level lock from before that commit until it finishes, so
its twin still waits for the whole call, never runs beside it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from google.protobuf.message import Message
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert

from billingos_kit.clock import Clock
from billingos_kit.db import Connection
from billingos_kit.errors import DomainError, ErrorKind, FieldViolation, InvalidArgument
from billingos_kit.sql import Query
from billingos_kit.tables import KitTables

# Shown to HTTP callers: the header they send.
IDEMPOTENCY_FIELD = "Idempotency-Key"
MAX_KEY_LENGTH = 255
PLATFORM_SCOPE = "platform"


class IdempotencyKeyReused(DomainError):
    """The key was first used for a different request."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self) -> None:
        description = "was already used with a different request; use a new key"
        super().__init__(
            f"{IDEMPOTENCY_FIELD}: {description}",
            violations=[FieldViolation(IDEMPOTENCY_FIELD, description)],
        )


def request_fingerprint(method: str, request: Message, caller_scopes: Iterable[str] = ()) -> bytes:
    """A digest of the method, what the caller may do and the request's
    deterministic encoding. The scopes count because a replay skips the
    handler, and with it every check the handler makes of the caller (a key
    may not create a key stronger than itself): a weaker key repeating a
    stronger one's request and key is a different request, never a replay."""
    digest = hashlib.sha256(method.encode())
    digest.update(b"\x00")
    digest.update(" ".join(sorted(caller_scopes)).encode())
    digest.update(b"\x00")
    digest.update(request.SerializeToString(deterministic=True))
    return digest.digest()


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(IDEMPOTENCY_FIELD, f"must be 1 to {MAX_KEY_LENGTH} characters")
    if not key.isascii() or not key.isprintable():
        raise InvalidArgument(IDEMPOTENCY_FIELD, "must be printable ASCII")
    return key


class IdempotencyStore:
    """Reads and writes one service's `idempotency_keys` table."""

    def __init__(self, tables: KitTables, clock: Clock, ttl: dt.timedelta) -> None:
        self.tables = tables
        self.clock = clock
        self.ttl = ttl
        table = tables.idempotency_keys
        self._lock = Query.of(select(func.pg_advisory_xact_lock(bindparam("lock_id"))))
        self._hold = Query.of(select(func.pg_advisory_lock(bindparam("lock_id"))))
        self._unhold = Query.of(select(func.pg_advisory_unlock(bindparam("lock_id"))))
        # An expired key counts as absent (housekeeping deletes it later).
        self._find = Query.of(
            select(table.c.method, table.c.request_hash, table.c.response).where(
                table.c.scope == bindparam("scope"),
                table.c.key == bindparam("key"),
                table.c.expires_at >= bindparam("now"),
            )
        )
        names = ("method", "request_hash", "response", "created_at", "expires_at")
        statement = insert(table).values(
            {name: bindparam(name) for name in ("scope", "key", *names)}
        )
        # Under the key's lock, a row still there is an expired one: replace it.
        self._record = Query.of(
            statement.on_conflict_do_update(
                index_elements=["scope", "key"],
                set_={name: statement.excluded[name] for name in names},
            )
        )

    async def replay(
        self, connection: Connection, scope: str, key: str, method: str, fingerprint: bytes
    ) -> bytes | None:
        """The stored response for this key, or None when the call should run.

        Takes the key's lock for the rest of the transaction.
        """
        await self.lock(connection, scope, key)
        row = await self._find.fetch_one(connection, scope=scope, key=key, now=self.clock.now())
        if row is None:
            return None
        if row["method"] != method or row["request_hash"] != fingerprint:
            raise IdempotencyKeyReused()
        return bytes(row["response"])

    async def lock(self, connection: Connection, scope: str, key: str) -> None:
        """Takes the key's lock for the rest of the transaction."""
        await self._lock.fetch_one(connection, lock_id=self._lock_id(scope, key))

    async def hold(self, connection: Connection, scope: str, key: str) -> None:
        """Takes the key's lock for the session, past the transaction's end
        (the caller already holds it for the transaction: no wait)."""
        await self._hold.fetch_one(connection, lock_id=self._lock_id(scope, key))

    async def release(self, connection: Connection, scope: str, key: str) -> None:
        """Gives back what `hold` took."""
        await self._unhold.fetch_one(connection, lock_id=self._lock_id(scope, key))

    def _lock_id(self, scope: str, key: str) -> int:
        return int.from_bytes(
            hashlib.sha256(f"{self.tables.schema}:{scope}:{key}".encode()).digest()[:8],
            "big",
            signed=True,
        )

    async def record(
        self,
        connection: Connection,
        scope: str,
        key: str,
        method: str,
        fingerprint: bytes,
        response: bytes,
    ) -> None:
        """Stores the response, inside the call's own transaction."""
        now = self.clock.now()
        await self._record.execute(
            connection,
            scope=scope,
            key=key,
            method=method,
            request_hash=fingerprint,
            response=response,
            created_at=now,
            expires_at=now + self.ttl,
        )
