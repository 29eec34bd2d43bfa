"""Organizations (organizations.proto): the merchants, created by platform
administration with a first API key; a tenant sees only its own."""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass

from billingos_customers import events
from billingos_customers.api_keys import ApiKeyService, CreatedKey
from billingos_customers.models import Organization
from billingos_customers.repository import OrganizationRepository
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.scopes import ALL_SCOPES, Scope
from billingos_kit.validation import ORGANIZATION_SLUG, Violations, check_text

MAX_NAME_LENGTH = 256


def slugify(name: str) -> str:
    """A slug from a display name: ASCII, lower case, dashes between words."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-")
    return slug if len(slug) >= 3 else f"org-{slug}".strip("-")


@dataclass(frozen=True)
class CreatedOrganization:
    organization: Organization
    first_key: CreatedKey


class OrganizationService:
    """Platform-level organization operations, and a tenant's view of its own."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._organizations = OrganizationRepository(scope)

    async def create(
        self, name: str, slug: str, *, development_mode: bool = False
    ) -> CreatedOrganization:
        """Creates an organization with a first API key (every scope);
        announces `organization.created`. A slug given must be free (the
        unique constraint decides); none given, one is made from the name.
        `development_mode` (fixed after) lets its webhooks reach http and
        private addresses: for a developer's own machine."""
        violations = Violations()
        check_text(violations, "organization.name", name, max_length=MAX_NAME_LENGTH, required=True)
        if slug:
            ORGANIZATION_SLUG.check(violations, "organization.slug", slug)
        violations.raise_if_any()
        now = self._scope.clock.now()
        organization = Organization(
            id=new_id(self._scope.clock),
            name=name.strip(),
            slug=slug or await self._free_slug(slugify(name)),
            created_at=now,
            updated_at=now,
            development_mode=development_mode,
        )
        await self._organizations.insert(organization)
        await self._scope.outbox.add(
            events.organization_created(organization), organization_id=organization.id
        )
        first_key = await ApiKeyService(self._scope, organization.id).issue(
            "Default key", ALL_SCOPES
        )
        return CreatedOrganization(organization, first_key)

    async def get_own(self, organization_id: uuid.UUID) -> Organization:
        """The caller's own organization; any other id is not found."""
        if organization_id != self._scope.organization_id:
            raise self._organizations.not_found(str(organization_id))
        return await self._organizations.require(organization_id)

    async def issue_key(
        self, organization_id: uuid.UUID, name: str, scopes: frozenset[Scope]
    ) -> CreatedKey:
        """A new key for any organization (platform administration: e.g. one
        that revoked all its keys): the scopes named, or every scope."""
        await self._organizations.require(organization_id)
        return await ApiKeyService(self._scope, organization_id).issue(
            name or "Issued key", scopes or ALL_SCOPES
        )

    async def _free_slug(self, base: str) -> str:
        candidate = base
        while await self._organizations.slug_taken(candidate):
            candidate = f"{base}-{secrets.token_hex(3)}"
        return candidate
