"""Idempotency keys (DESIGN §6): same key + same request returns the stored
response; same key + a different request is an error; keys are kept at least
the configured TTL (24 h by default).

The stored response is written in the same transaction as the call's effect,
and concurrent calls with one key serialize on a transaction-level advisory
lock, so the second caller waits and then receives the first caller's answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import Message
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billingos_kit.clock import Clock
from billingos_kit.errors import DomainError, ErrorKind, FieldViolation, InvalidArgument
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


@dataclass(frozen=True)
class IdempotencyStore:
    """Reads and writes one service's `idempotency_keys` table."""

    tables: KitTables
    clock: Clock
    ttl: dt.timedelta

    async def replay(
        self, session: AsyncSession, scope: str, key: str, method: str, fingerprint: bytes
    ) -> bytes | None:
        """The stored response for this key, or None when the call should run.

        Takes the key's lock for the rest of the transaction.
        """
        table = self.tables.idempotency_keys
        lock_id = int.from_bytes(
            hashlib.sha256(f"{self.tables.schema}:{scope}:{key}".encode()).digest()[:8],
            "big",
            signed=True,
        )
        await session.execute(select(func.pg_advisory_xact_lock(lock_id)))
        # An expired key counts as absent (housekeeping deletes it later).
        row = (
            await session.execute(
                select(table.c.method, table.c.request_hash, table.c.response).where(
                    table.c.scope == scope,
                    table.c.key == key,
                    table.c.expires_at >= self.clock.now(),
                )
            )
        ).one_or_none()
        if row is None:
            return None
        if row.method != method or row.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        return bytes(row.response)

    async def record(
        self,
        session: AsyncSession,
        scope: str,
        key: str,
        method: str,
        fingerprint: bytes,
        response: bytes,
    ) -> None:
        """Stores the response, inside the call's own transaction."""
        now = self.clock.now()
        values = {
            "method": method,
            "request_hash": fingerprint,
            "response": response,
            "created_at": now,
            "expires_at": now + self.ttl,
        }
        # Under the key's lock, a row still there is an expired one: replace it.
        statement = insert(self.tables.idempotency_keys).values(scope=scope, key=key, **values)
        await session.execute(
            statement.on_conflict_do_update(index_elements=["scope", "key"], set_=values)
        )
