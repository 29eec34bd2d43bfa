"""Organizations and their API keys: creation, the key lifecycle, and turning a
presented secret into the organization it acts for.

A secret is `bos_` + 40 random URL-safe characters (240 bits). Only its SHA-256
is stored: with that much entropy a slow hash adds nothing, and the gateway's
check must stay fast. The first 12 characters are kept as a visible prefix.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from billingos_customers import events
from billingos_customers.errors import SlugTaken
from billingos_customers.models import ApiKey, Organization
from billingos_customers.repository import ApiKeyRepository, OrganizationRepository
from billingos_kit.db import violated_constraint
from billingos_kit.errors import FieldViolation, NotFound, PermissionDenied
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import PageRequest
from billingos_kit.scopes import ALL_SCOPES, SCOPE_CODEC, Scope, with_implied
from billingos_kit.validation import ORGANIZATION_SLUG, Violations, check_text

SECRET_PREFIX = "bos_"
VISIBLE_PREFIX_LENGTH = 12
MAX_NAME_LENGTH = 256
# What a key gets when its creator names no scopes.
DEFAULT_SCOPES = frozenset({Scope.READ, Scope.WRITE})


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(30)


def slugify(name: str) -> str:
    """A slug from a display name: ASCII, lower case, dashes between words."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-")
    return slug if len(slug) >= 3 else f"org-{slug}".strip("-")


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once


@dataclass(frozen=True)
class CreatedOrganization:
    organization: Organization
    first_key: CreatedKey


@dataclass(frozen=True)
class ApiKeyPage:
    keys: Sequence[ApiKey]
    next_page_token: str


class OrganizationService:
    """Platform-level organization operations, and a tenant's view of its own."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._organizations = OrganizationRepository(scope.session)

    async def create(self, name: str, slug: str) -> CreatedOrganization:
        """Creates an organization with a first API key; announces `organization.created`."""
        violations = Violations()
        check_text(violations, "organization.name", name, max_length=MAX_NAME_LENGTH, required=True)
        if slug:
            ORGANIZATION_SLUG.check(violations, "organization.slug", slug)
        violations.raise_if_any()
        if slug:
            if await self._organizations.slug_taken(slug):
                raise SlugTaken("organization.slug")
        else:
            slug = await self._free_slug(slugify(name))
        now = self._scope.clock.now()
        organization = Organization(
            id=new_id(self._scope.clock),
            name=name.strip(),
            slug=slug,
            created_at=now,
            updated_at=now,
        )
        try:
            await self._organizations.add(organization)
        except IntegrityError as error:
            if violated_constraint(error) == "uq_organizations_slug":
                raise SlugTaken("organization.slug") from None
            raise
        await events.organization_created(self._scope.outbox, organization)
        first_key = await ApiKeyService(self._scope).create_for(
            organization.id, "Default key", ALL_SCOPES
        )
        return CreatedOrganization(organization, first_key)

    async def get_own(self, organization_id: uuid.UUID) -> Organization:
        """The caller's own organization; any other id is not found."""
        if organization_id != self._scope.organization_id:
            raise NotFound("organization", str(organization_id))
        organization = await self._organizations.get(organization_id)
        if organization is None:
            raise NotFound("organization", str(organization_id))
        return organization

    async def require(self, organization_id: uuid.UUID) -> Organization:
        """Any organization by id (platform administration only)."""
        organization = await self._organizations.get(organization_id)
        if organization is None:
            raise NotFound("organization", str(organization_id))
        return organization

    async def _free_slug(self, base: str) -> str:
        candidate = base
        while await self._organizations.slug_taken(candidate):
            candidate = f"{base}-{secrets.token_hex(3)}"
        return candidate


class ApiKeyService:
    """API keys of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._keys = ApiKeyRepository(scope.session)

    async def create(self, name: str, scopes: frozenset[Scope]) -> CreatedKey:
        """A key for the caller's organization, with at most the caller's scopes
        (`scopes` empty: read and write)."""
        granted = with_implied(scopes or DEFAULT_SCOPES)
        _refuse_stronger(granted, self._scope.caller_scopes, "a key cannot create a key")
        return await self.create_for(self._scope.organization_id, name, granted)

    async def create_for(
        self, organization_id: uuid.UUID, name: str, scopes: frozenset[Scope]
    ) -> CreatedKey:
        """A key with exactly `scopes` (which must already include what they imply)."""
        violations = Violations()
        check_text(violations, "api_key.name", name, max_length=MAX_NAME_LENGTH)
        violations.raise_if_any()
        secret = new_secret()
        key = ApiKey(
            id=new_id(self._scope.clock),
            organization_id=organization_id,
            name=name.strip(),
            prefix=secret[:VISIBLE_PREFIX_LENGTH],
            secret_hash=hash_secret(secret),
            scopes=sorted(scopes),
            created_at=self._scope.clock.now(),
            revoked_at=None,
        )
        await self._keys.add(key)
        return CreatedKey(key, secret)

    async def list_page(self, page: PageRequest) -> ApiKeyPage:
        rows = await self._keys.list_page(
            self._scope.organization_id, limit=page.fetch_size, before_id=page.after
        )
        return ApiKeyPage(*page.cut(rows))

    async def revoke(self, key_id: uuid.UUID) -> ApiKey:
        """Revokes a key; revoking a revoked key changes nothing."""
        key = await self._keys.get(self._scope.organization_id, key_id, for_update=True)
        if key is None:
            raise NotFound("api_key", str(key_id))
        _refuse_stronger(
            frozenset(Scope(s) for s in key.scopes),
            self._scope.caller_scopes,
            "a key cannot revoke a key",
        )
        if key.revoked_at is None:
            key.revoked_at = self._scope.clock.now()
        return key

    async def authenticate(self, secret: str) -> ApiKey | None:
        """The active key for a presented secret, or None."""
        if not secret.startswith(SECRET_PREFIX):
            return None
        return await self._keys.find_active_by_hash(hash_secret(secret))


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
