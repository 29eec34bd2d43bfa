"""API keys (api_keys.proto): the key lifecycle, and turning a presented
secret into the key it is (for every service's key check, keycheck.py).

A secret is `bos_` + 40 random URL-safe characters (240 bits). Only its SHA-256
is stored: with that much entropy a slow hash adds nothing, and the key check
must stay fast. The first 12 characters are kept as a visible prefix. A
key carries scopes; a key acts only on keys no stronger than itself.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from billingos_customers.models import ApiKey
from billingos_customers.repository import ApiKeyRepository, PresentedKeys
from billingos_kit.credentials import API_KEY_PREFIX
from billingos_kit.db import Connection, Database
from billingos_kit.errors import FieldViolation, NotFound, PermissionDenied, Unauthenticated
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.keycheck import VerifiedKey
from billingos_kit.pagination import ListFilter, Page, PageRequest
from billingos_kit.repository import OnConnection
from billingos_kit.scopes import SCOPE_CODEC, Scope, with_implied
from billingos_kit.validation import Violations, check_text

SECRET_PREFIX = API_KEY_PREFIX
VISIBLE_PREFIX_LENGTH = 12
MAX_NAME_LENGTH = 256
# What a key gets when its creator names no scopes.
DEFAULT_SCOPES = frozenset({Scope.READ, Scope.WRITE})
NO_FILTERS = ListFilter()


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(30)


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once


class ApiKeyService:
    """API keys of one organization: the scope's, or a named one (platform
    administration issuing a key)."""

    def __init__(self, scope: CallScope, organization_id: uuid.UUID | None = None) -> None:
        self._scope = scope
        self._keys = ApiKeyRepository(scope, organization_id)

    async def create(self, name: str, scopes: frozenset[Scope]) -> CreatedKey:
        """A key with at most the caller's scopes (`scopes` empty: read and write)."""
        await self._refuse_a_revoked_caller()
        granted = with_implied(scopes or DEFAULT_SCOPES)
        _refuse_stronger(granted, self._scope.caller_scopes, "a key cannot create a key")
        return await self.issue(name, granted)

    async def issue(self, name: str, scopes: frozenset[Scope]) -> CreatedKey:
        """A key with exactly `scopes` and what they imply (no check of the
        caller: for platform administration and an organization's first key)."""
        violations = Violations()
        check_text(violations, "api_key.name", name, max_length=MAX_NAME_LENGTH)
        violations.raise_if_any()
        secret = new_secret()
        key = ApiKey(
            id=new_id(self._scope.clock),
            organization_id=self._keys.organization_id,
            name=name.strip(),
            prefix=secret[:VISIBLE_PREFIX_LENGTH],
            secret_hash=hash_secret(secret),
            scopes=sorted(with_implied(scopes)),
            created_at=self._scope.clock.now(),
            revoked_at=None,
        )
        await self._keys.insert(key)
        return CreatedKey(key, secret)

    async def _refuse_a_revoked_caller(self) -> None:
        """The key check trusts a verified key for a few seconds (its cache);
        which keys may manage keys is decided by the table, which this context
        owns, so a key revoked a moment ago cannot mint its own successor. The
        caller's row is locked, so a revocation of it waits for this call."""
        caller_key_id = self._scope.caller_key_id
        if caller_key_id is None:
            return  # an internal caller
        caller = await self._keys.get(caller_key_id, for_update=True)
        if caller is None or caller.revoked_at is not None:
            raise Unauthenticated("API key invalid or revoked", reason="API_KEY_INVALID")

    async def list_page(self, page: PageRequest) -> Page[ApiKey]:
        return await self._keys.page(NO_FILTERS, page)

    async def revoke(self, key_id: uuid.UUID) -> ApiKey:
        """Revokes a key no stronger than the caller's; revoking a revoked key
        changes nothing."""
        await self._refuse_a_revoked_caller()
        key = await self._keys.require(key_id, for_update=True)
        _refuse_stronger(
            frozenset(Scope(s) for s in key.scopes),
            self._scope.caller_scopes,
            "a key cannot revoke a key",
        )
        if key.revoked_at is None:
            key.revoked_at = self._scope.clock.now()
            await self._keys.update(key, ["revoked_at"])
        return key


async def find_presented(connection: Connection, secret: str) -> VerifiedKey | None:
    """The active key a presented secret belongs to, in whichever organization."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    key = await PresentedKeys(OnConnection(connection)).find_active(hash_secret(secret))
    if key is None:
        return None
    return VerifiedKey(key.id, key.organization_id, frozenset(Scope(s) for s in key.scopes))


async def verify_presented(scope: CallScope, secret: str) -> VerifiedKey:
    """What `ApiKeyAdminService.VerifyApiKey` answers another service."""
    found = await find_presented(await scope.connection(), secret)
    if found is None:
        raise NotFound("api_key", "presented")
    return found


class StoredKeys:
    """The customers service's own key lookup (the others ask it over gRPC):
    the table, on a connection of its own, outside any call's unit of work."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def find(self, secret: str) -> VerifiedKey | None:
        async with self._database.connection() as connection:
            return await find_presented(connection, secret)

    async def close(self) -> None:
        return None


def _refuse_stronger(target: frozenset[Scope], caller: frozenset[Scope], what: str) -> None:
    """A key acts only on keys no stronger than itself (creating or revoking)."""
    beyond = target - caller
    if beyond:
        names = ", ".join(SCOPE_CODEC.proto_name(scope) for scope in sorted(beyond))
        raise PermissionDenied(
            f"{what} with scopes it lacks itself ({names})",
            reason="API_KEY_SCOPE_EXCEEDS_CALLER",
            violations=[FieldViolation("api_key.scopes", f"the calling key lacks {names}")],
        )
