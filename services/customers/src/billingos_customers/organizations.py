"""Organizations (organizations.proto): the merchants, created by platform
administration with a first API key; a tenant sees and changes only its own
(its name and branding); anyone may read an organization's public face (name,
slug, branding) by id or slug."""

from __future__ import annotations

import ipaddress
import re
import secrets
import unicodedata
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from billingos_customers import events
from billingos_customers.api_keys import ApiKeyService, CreatedKey
from billingos_customers.drafts import Branding, OrganizationFields
from billingos_customers.errors import OrganizationNotFound
from billingos_customers.models import Organization
from billingos_customers.repository import OrganizationRepository
from billingos_kit.errors import InvalidArgument
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.repository import apply_changes
from billingos_kit.scopes import ALL_SCOPES, Scope
from billingos_kit.validation import (
    ORGANIZATION_SLUG,
    TextPattern,
    Violations,
    ascii_lower,
    check_text,
)

MAX_NAME_LENGTH = 256
MAX_LOGO_URL_LENGTH = 2048
MAX_SUPPORT_EMAIL_LENGTH = 320
# Request paths of the fields, as errors name them.
PREFIX = "organization"
BRANDING = "branding"
BRANDING_FIELDS = ("logo_url", "brand_color", "support_email")
ORGANIZATION_MASK = UpdateMask(
    PREFIX,
    # `branding` is all of its fields at once (an empty one is cleared).
    updatable=("name", BRANDING, *(f"{BRANDING}.{name}" for name in BRANDING_FIELDS)),
    immutable={
        "slug": "is fixed once made: public pages, pricing tables and checkout links name "
        "the organization by it, and a new slug would break every such URL",
        "development_mode": "is set by platform administration when the organization is created",
    },
)

BRAND_COLOR = TextPattern(r"#[0-9A-Fa-f]{6}", "a colour as #RRGGBB (six hexadecimal digits)")
# What RFC 3986 allows in a URL: unreserved, reserved, and percent-encodings.
_URL_TEXT = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*", re.ASCII)
_DNS_NAME = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?",
    re.ASCII,
)
# Characters an email address shown to customers must not hold: controls,
# format characters (bidirectional overrides) and line separators.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


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
        self,
        name: str,
        slug: str,
        *,
        development_mode: bool = False,
        branding: Branding | None = None,
    ) -> CreatedOrganization:
        """Creates an organization with a first API key (every scope);
        announces `organization.created`. A slug given must be free (the
        unique constraint decides); none given, one is made from the name.
        `development_mode` (fixed after) lets its webhooks reach http and
        private addresses: for a developer's own machine. `branding`, if
        given, follows UpdateOrganization's rules."""
        fields = OrganizationFields(name=name, branding=branding or Branding())
        whole = ("name", *branding_leaves([BRANDING]))
        violations = Violations()
        _check_fields(violations, fields, whole)
        if slug:
            ORGANIZATION_SLUG.check(violations, "organization.slug", slug)
        violations.raise_if_any()
        now = self._scope.clock.now()
        organization = Organization(
            id=new_id(self._scope.clock),
            slug=slug or await self._free_slug(slugify(name)),
            created_at=now,
            updated_at=now,
            development_mode=development_mode,
            **_column_values(fields, whole),  # type: ignore[arg-type]
        )
        await self._organizations.insert(organization)
        await self._scope.outbox.add(
            events.organization_created(organization), organization_id=organization.id
        )
        first_key = await ApiKeyService(self._scope, organization.id).issue(
            "Default key", ALL_SCOPES
        )
        return CreatedOrganization(organization, first_key)

    async def get_own(
        self, organization_id: uuid.UUID, *, for_update: bool = False
    ) -> Organization:
        """The caller's own organization; any other id is not found."""
        self._check_own(organization_id)
        return await self._organizations.require(organization_id, for_update=for_update)

    async def update(
        self, organization_id: uuid.UUID, fields: OrganizationFields, paths: Sequence[str]
    ) -> Organization:
        """Applies the fields named in `paths` (ORGANIZATION_MASK's updatable
        ones; `branding` is each of its fields) to the caller's own
        organization, every rule checked before anything is written;
        announces `organization.updated` if any changed."""
        self._check_own(organization_id)
        leaves = branding_leaves(paths)
        violations = Violations()
        _check_fields(violations, fields, leaves)
        violations.raise_if_any()
        organization = await self._organizations.require(organization_id, for_update=True)
        changed = apply_changes(organization, _column_values(fields, leaves))
        if not changed:
            return organization
        organization.updated_at = self._scope.clock.now()
        await self._organizations.update(organization, [*changed, "updated_at"])
        await self._scope.outbox.add(
            events.organization_updated(organization, [_path_of(column) for column in changed])
        )
        return organization

    async def get_public(self, organization: str) -> Organization:
        """An organization by canonical id or by slug (ASCII, any case), for
        anyone (the caller shows only its public face). Unknown, or neither
        an id nor a slug: OrganizationNotFound, the same for every miss."""
        if not organization:
            raise InvalidArgument("organization", "give the organization's id or slug")
        organization_id = canonical_id(organization)
        if organization_id is not None:
            found = await self._organizations.get(organization_id)
        elif ORGANIZATION_SLUG.matches(ascii_lower(organization)):
            found = await self._organizations.get_by_slug(ascii_lower(organization))
        else:
            found = None
        if found is None:
            raise OrganizationNotFound()
        return found

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

    def _check_own(self, organization_id: uuid.UUID) -> None:
        if organization_id != self._scope.organization_id:
            raise self._organizations.not_found(str(organization_id))


def branding_leaves(paths: Sequence[str]) -> list[str]:
    """The paths with `branding` spelled out as each of its fields, once each."""
    whole = [f"{BRANDING}.{name}" for name in BRANDING_FIELDS]
    leaves: list[str] = []
    for path in paths:
        for leaf in whole if path == BRANDING else [path]:
            if leaf not in leaves:
                leaves.append(leaf)
    return leaves


def _column_of(path: str) -> str:
    """`branding.logo_url` → the `logo_url` column; `name` → `name`."""
    return path.removeprefix(f"{BRANDING}.")


def _path_of(column: str) -> str:
    return f"{BRANDING}.{column}" if column in BRANDING_FIELDS else column


def _column_values(fields: OrganizationFields, leaves: Sequence[str]) -> dict[str, object]:
    """The row's values for the fields named (checked already), as stored:
    the name and the email without surrounding spaces, the colour in lower
    case."""
    branding = fields.branding
    values: dict[str, object] = {
        "name": fields.name.strip(),
        "logo_url": branding.logo_url,
        "brand_color": ascii_lower(branding.brand_color),
        "support_email": branding.support_email.strip(),
    }
    return {_column_of(leaf): values[_column_of(leaf)] for leaf in leaves}


def _check_fields(
    violations: Violations, fields: OrganizationFields, leaves: Sequence[str]
) -> None:
    if "name" in leaves:
        check_text(
            violations,
            f"{PREFIX}.name",
            fields.name,
            max_length=MAX_NAME_LENGTH,
            required=True,
            single_line=True,
        )
    branding = fields.branding
    if f"{BRANDING}.logo_url" in leaves:
        _check_logo_url(violations, branding.logo_url)
    if f"{BRANDING}.brand_color" in leaves and branding.brand_color:
        BRAND_COLOR.check(violations, f"{PREFIX}.{BRANDING}.brand_color", branding.brand_color)
    if f"{BRANDING}.support_email" in leaves:
        _check_support_email(violations, branding.support_email)


def _check_logo_url(violations: Violations, url: str) -> None:
    """Empty, or an absolute https URL a browser loads as written: RFC 3986's
    characters only (no spaces, quotes, backslashes or controls, which
    parsers read differently), a host, no credentials. Never fetched here, so
    any host will do (the customer's browser fetches it)."""
    field = f"{PREFIX}.{BRANDING}.logo_url"
    if not url:
        return
    if len(url) > MAX_LOGO_URL_LENGTH:
        violations.add(field, f"must be at most {MAX_LOGO_URL_LENGTH} characters")
        return
    if not _URL_TEXT.fullmatch(url):
        violations.add(
            field,
            "must be a URL of the ASCII characters RFC 3986 allows (percent-encode any other)",
        )
        return
    if not url.startswith("https://"):
        violations.add(field, "must be an absolute https URL (https://..., in lower case)")
        return
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # an unclosed [IPv6 address
        parts = None
    if parts is not None and "@" in parts.netloc:
        violations.add(field, "must not contain a user name or password")
    elif parts is None or not _valid_host(parts):
        violations.add(field, "must name a host (a DNS name or an IP address) and a valid port")
    elif not _public_host(parts.hostname or ""):
        # Every customer's browser loads it: never from their own network.
        violations.add(field, "must name a public host (not loopback, private or link-local)")


# Names that only resolve inside a network.
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".svc")


def _public_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.lower().rstrip(".")
        return name != "localhost" and "." in name and not name.endswith(_INTERNAL_SUFFIXES)
    return address.is_global


def _valid_host(parts: urllib.parse.SplitResult) -> bool:
    try:
        _ = parts.port  # raises ValueError for a port that is not one
    except ValueError:
        return False
    host = parts.hostname or ""
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return _DNS_NAME.fullmatch(host) is not None


def _check_support_email(violations: Violations, email: str) -> None:
    field = f"{PREFIX}.{BRANDING}.support_email"
    if len(email.strip()) > MAX_SUPPORT_EMAIL_LENGTH:
        violations.add(field, f"must be at most {MAX_SUPPORT_EMAIL_LENGTH} characters")
        return
    if any(unicodedata.category(character) in _CONTROL_CATEGORIES for character in email):
        violations.add(field, "must not contain control characters")
        return
    email = email.strip()
    if not email:
        return
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        violations.add(field, "must be a valid email address")
