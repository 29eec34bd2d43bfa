"""An organization's branding: UpdateOrganization (its rules at their bounds,
the mask, tenancy, idempotency, the event) and the anonymous public read by
id or slug."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import func, select

from billingos.common.v1 import options_pb2
from billingos.customers.v1 import events_pb2, organizations_pb2, organizations_pb2_grpc
from billingos_customers.models import kit_tables
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, gateway_metadata

Branding = organizations_pb2.OrganizationBranding
LOGO = "https://cdn.example.com/acme/logo.png"
GOOD_BRANDING = Branding(logo_url=LOGO, brand_color="#1a2b3c", support_email="help@example.com")


@pytest.fixture
def organizations(
    customers_service: RunningService,
) -> organizations_pb2_grpc.OrganizationServiceStub:
    return organizations_pb2_grpc.OrganizationServiceStub(customers_service.channel)


@pytest.fixture
def public(
    customers_service: RunningService,
) -> organizations_pb2_grpc.PublicOrganizationServiceStub:
    return organizations_pb2_grpc.PublicOrganizationServiceStub(customers_service.channel)


def patch(
    tenant, *paths: str, organization_id: object = None, **fields: object
) -> organizations_pb2.UpdateOrganizationRequest:
    """An UpdateOrganizationRequest for the tenant's organization (or the one
    named), with `paths` as its mask (none: no mask)."""
    organization = organizations_pb2.Organization(
        id=str(organization_id or tenant.organization_id),
        **fields,  # type: ignore[arg-type]
    )
    return organizations_pb2.UpdateOrganizationRequest(
        organization=organization, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )


async def own(organizations, tenant) -> organizations_pb2.Organization:
    return await organizations.GetOrganization(
        organizations_pb2.GetOrganizationRequest(id=str(tenant.organization_id)),
        metadata=tenant.metadata(),
    )


async def updated_events(service: RunningService, organization_id: uuid.UUID) -> int:
    count = await scalar(
        service.app.database,
        select(func.count())
        .select_from(kit_tables.outbox)
        .where(
            kit_tables.outbox.c.organization_id == organization_id,
            kit_tables.outbox.c.event_type == "organization.updated",
        ),
    )
    return int(count or 0)


def email_of_length(length: int) -> str:
    """A well-formed address of exactly `length` characters (local part 64,
    DNS labels of at most 63)."""
    local = "s" * 64
    labels: list[str] = []
    remaining = length - len(local) - 1 - len(".com")
    while remaining > 0:
        label = min(63, remaining if remaining <= 63 else remaining - 2)
        labels.append("d" * label)
        remaining -= label + 1
    domain = ".".join(labels) + ".com"
    address = f"{local}@{domain}"
    assert len(address) == length, len(address)
    return address


def url_of_length(length: int) -> str:
    base = "https://cdn.example.com/"
    return base + "a" * (length - len(base))


# ---- the rules, each at its bound and one past it ----------------------------


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        pytest.param("logo_url", url_of_length(2048), None, id="logo-2048"),
        pytest.param("logo_url", "https://example.com", None, id="logo-host-only"),
        pytest.param("logo_url", "https://Example.COM/Logo.PNG", None, id="logo-upper-case-host"),
        pytest.param(
            "logo_url", "https://cdn.example.com:8443/a%20b.png?v=1&s=2#x", None, id="logo-full"
        ),
        pytest.param("logo_url", "https://[2606:4700::1111]:8443/l.svg", None, id="logo-ipv6"),
        pytest.param("logo_url", "https://93.184.216.34/logo.png", None, id="logo-ipv4"),
        pytest.param("logo_url", "", None, id="logo-empty"),
        pytest.param("brand_color", "#1A2b3C", "#1a2b3c", id="color-mixed-case"),
        pytest.param("brand_color", "#000000", None, id="color-black"),
        pytest.param("brand_color", "", None, id="color-empty"),
        pytest.param("support_email", email_of_length(254), None, id="email-254"),
        pytest.param("support_email", "  help@example.com ", "help@example.com", id="email-padded"),
        pytest.param("support_email", "hilfe@bücher.de", None, id="email-international"),
        pytest.param("support_email", "", None, id="email-empty"),
    ],
)
async def test_a_branding_value_within_the_rules_is_stored(
    organizations, tenant, field: str, value: str, stored: str | None
) -> None:
    request = patch(tenant, f"branding.{field}", branding=Branding(**{field: value}))
    updated = await organizations.UpdateOrganization(request, metadata=tenant.metadata())
    assert getattr(updated.branding, field) == (value if stored is None else stored)
    assert (await own(organizations, tenant)).branding == updated.branding


LOGO_FIELD = "organization.branding.logo_url"
COLOR_FIELD = "organization.branding.brand_color"
EMAIL_FIELD = "organization.branding.support_email"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        pytest.param("logo_url", url_of_length(2049), "at most 2048", id="logo-2049"),
        pytest.param("logo_url", "http://example.com/logo.png", "https", id="logo-http"),
        pytest.param("logo_url", "javascript:alert(1)", "https", id="logo-javascript"),
        pytest.param("logo_url", "data:image/png;base64,iVBORw0K", "https", id="logo-data"),
        pytest.param("logo_url", "//example.com/logo.png", "https", id="logo-relative"),
        pytest.param("logo_url", "/logo.png", "https", id="logo-path"),
        pytest.param(
            "logo_url", "https://user:secret@example.com/l.png", "password", id="logo-credentials"
        ),
        pytest.param("logo_url", "https://token@example.com/l.png", "password", id="logo-user"),
        pytest.param("logo_url", "https://example.com\\@evil.test/", "RFC 3986", id="logo-bslash"),
        pytest.param("logo_url", "https://exa mple.com/", "RFC 3986", id="logo-space"),
        pytest.param("logo_url", 'https://example.com/"onerror=x', "RFC 3986", id="logo-quote"),
        pytest.param("logo_url", "https://example.com/<script>", "RFC 3986", id="logo-angle"),
        pytest.param("logo_url", "https://exämple.com/logo.png", "RFC 3986", id="logo-unicode"),
        pytest.param("logo_url", "https://example.com/\nx", "RFC 3986", id="logo-newline"),
        pytest.param("logo_url", " https://example.com/", "RFC 3986", id="logo-leading-space"),
        pytest.param("logo_url", "https://example.com/%zz", "RFC 3986", id="logo-bad-percent"),
        pytest.param("logo_url", "https:///logo.png", "host", id="logo-no-host"),
        pytest.param("logo_url", "https://", "host", id="logo-nothing"),
        pytest.param("logo_url", "https://example.com:99999/", "port", id="logo-bad-port"),
        pytest.param("logo_url", "HTTPS://example.com/l.png", "lower case", id="logo-upper-scheme"),
        pytest.param("logo_url", "https://127.0.0.1/a.png", "public", id="logo-loopback"),
        pytest.param("logo_url", "https://[::1]/a.png", "public", id="logo-loopback-v6"),
        pytest.param(
            "logo_url", "https://169.254.169.254/latest/meta-data", "public", id="logo-metadata"
        ),
        pytest.param("logo_url", "https://10.1.2.3/a.png", "public", id="logo-private"),
        pytest.param("logo_url", "https://localhost/a.png", "public", id="logo-localhost"),
        pytest.param("logo_url", "https://cdn.internal/a.png", "public", id="logo-internal"),
        pytest.param("logo_url", "https://intranet/a.png", "public", id="logo-single-label"),
        pytest.param("logo_url", "https://[::1/logo.png", "host", id="logo-open-bracket"),
        pytest.param("logo_url", "https://-example.com/", "host", id="logo-bad-label"),
        pytest.param("logo_url", "https://%65xample.com/", "host", id="logo-encoded-host"),
        pytest.param("brand_color", "#12345", "#RRGGBB", id="color-5-digits"),
        pytest.param("brand_color", "#1234567", "#RRGGBB", id="color-7-digits"),
        pytest.param("brand_color", "123456", "#RRGGBB", id="color-no-hash"),
        pytest.param("brand_color", "#GG0000", "#RRGGBB", id="color-not-hex"),
        pytest.param("brand_color", "red", "#RRGGBB", id="color-name"),
        pytest.param("brand_color", "#123456\n", "#RRGGBB", id="color-newline"),
        pytest.param("brand_color", "#١٢٣٤٥٦", "#RRGGBB", id="color-arabic-digits"),
        pytest.param("brand_color", "＃123456", "#RRGGBB", id="color-fullwidth-hash"),
        pytest.param("support_email", email_of_length(255), "valid email", id="email-255"),
        pytest.param(
            "support_email", "a" * 308 + "@example.com", "valid email", id="email-320-chars"
        ),
        pytest.param(
            "support_email", "a" * 309 + "@example.com", "at most 320", id="email-321-chars"
        ),
        pytest.param("support_email", "help\n@example.com", "control", id="email-newline"),
        pytest.param("support_email", "help@example.com\r\n", "control", id="email-crlf"),
        pytest.param("support_email", "he\u202elp@example.com", "control", id="email-bidi"),
        pytest.param("support_email", "help\x00@example.com", "NUL", id="email-nul"),
        pytest.param("support_email", "not-an-email", "valid email", id="email-no-at"),
        pytest.param("support_email", "help@localhost", "valid email", id="email-no-dot"),
        pytest.param("support_email", "a b@example.com", "valid email", id="email-space"),
    ],
)
async def test_a_branding_value_past_the_rules_is_refused_naming_it(
    organizations, tenant, customers_service: RunningService, field: str, value: str, says: str
) -> None:
    before = await own(organizations, tenant)
    request = patch(tenant, f"branding.{field}", branding=Branding(**{field: value}))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await organizations.UpdateOrganization(request, metadata=tenant.metadata())
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [f"organization.branding.{field}"]
    assert says in error.message
    assert await own(organizations, tenant) == before
    assert await updated_events(customers_service, tenant.organization_id) == 0


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("n" * 256, True),
        ("n" * 257, False),
        ("  ", False),
        ("", False),
        (" Acme 2 ", True),
        ("Acme\nInc", False),
        ("Acme \u202eInc", False),
    ],
)
async def test_the_name_is_required_single_line_and_at_most_256_characters(
    organizations, tenant, name: str, accepted: bool
) -> None:
    request = patch(tenant, "name", name=name)
    if accepted:
        updated = await organizations.UpdateOrganization(request, metadata=tenant.metadata())
        assert updated.name == name.strip()
        return
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await organizations.UpdateOrganization(request, metadata=tenant.metadata())
    assert call_error(refused.value).fields == ["organization.name"]


async def test_every_bad_field_is_named_at_once_and_nothing_is_half_written(
    organizations, tenant, customers_service: RunningService
) -> None:
    await organizations.UpdateOrganization(
        patch(tenant, "branding", branding=GOOD_BRANDING), metadata=tenant.metadata()
    )
    before = await own(organizations, tenant)
    events_before = await updated_events(customers_service, tenant.organization_id)
    bad = patch(
        tenant,
        "name",
        "branding",
        name="A new name",
        branding=Branding(
            logo_url="http://example.com/l.png", brand_color="#12", support_email="nope"
        ),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await organizations.UpdateOrganization(bad, metadata=tenant.metadata())
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [LOGO_FIELD, COLOR_FIELD, EMAIL_FIELD]
    assert await own(organizations, tenant) == before
    assert await updated_events(customers_service, tenant.organization_id) == events_before


# ---- what changes: the mask ------------------------------------------------------


async def test_a_change_is_announced_with_the_fields_that_changed(
    organizations, tenant, servers: SessionServers, customers_service: RunningService
) -> None:
    updated = await organizations.UpdateOrganization(
        patch(tenant, "name", "branding", name="Acme Rockets", branding=GOOD_BRANDING),
        metadata=tenant.metadata(),
    )
    assert updated.name == "Acme Rockets"
    assert updated.branding == GOOD_BRANDING
    assert updated.slug == tenant.slug
    [event] = await published_events(
        servers.nats_url, "billingos.customers.organization.updated", tenant.organization_id
    )
    payload = events_pb2.OrganizationUpdatedEvent()
    assert event.data.Unpack(payload)
    assert payload.organization == updated
    assert list(payload.update_mask.paths) == [
        "name",
        "branding.logo_url",
        "branding.brand_color",
        "branding.support_email",
    ]
    # The latest state: the state stream keeps the organization as changed,
    # which a read copy started later (the catalog's) learns it from.
    state_subjects = await scalar(
        customers_service.app.database,
        select(func.array_agg(kit_tables.outbox.c.state_subject)).where(
            kit_tables.outbox.c.organization_id == tenant.organization_id,
            kit_tables.outbox.c.event_type == "organization.updated",
        ),
    )
    assert state_subjects == [f"billingos.state.customers.organization.{tenant.organization_id}"]


async def test_a_nested_path_changes_that_field_only(organizations, tenant) -> None:
    await organizations.UpdateOrganization(
        patch(tenant, "branding", branding=GOOD_BRANDING), metadata=tenant.metadata()
    )
    updated = await organizations.UpdateOrganization(
        patch(
            tenant,
            "branding.brand_color",
            name="Ignored",
            branding=Branding(logo_url="https://other.example/x.png", brand_color="#FFFFFF"),
        ),
        metadata=tenant.metadata(),
    )
    assert updated.branding == Branding(
        logo_url=LOGO, brand_color="#ffffff", support_email="help@example.com"
    )
    assert updated.name == "Acme"


async def test_the_whole_branding_path_replaces_all_of_it(organizations, tenant) -> None:
    await organizations.UpdateOrganization(
        patch(tenant, "branding", branding=GOOD_BRANDING), metadata=tenant.metadata()
    )
    updated = await organizations.UpdateOrganization(
        patch(tenant, "branding", branding=Branding(brand_color="#abcdef")),
        metadata=tenant.metadata(),
    )
    assert updated.branding == Branding(brand_color="#abcdef")
    cleared = await organizations.UpdateOrganization(
        patch(tenant, "branding"), metadata=tenant.metadata()
    )
    assert cleared.branding == Branding()


async def test_without_a_mask_only_the_fields_set_change(organizations, tenant) -> None:
    await organizations.UpdateOrganization(
        patch(tenant, "branding", branding=GOOD_BRANDING), metadata=tenant.metadata()
    )
    updated = await organizations.UpdateOrganization(
        patch(tenant, branding=Branding(brand_color="#00ff00")), metadata=tenant.metadata()
    )
    assert updated.name == "Acme"
    assert updated.branding == Branding(
        logo_url=LOGO, brand_color="#00ff00", support_email="help@example.com"
    )
    # The whole resource sent back with one change: that change only.
    current = await own(organizations, tenant)
    current.name = "Acme Renamed"
    request = organizations_pb2.UpdateOrganizationRequest(organization=current)
    renamed = await organizations.UpdateOrganization(request, metadata=tenant.metadata())
    assert renamed.name == "Acme Renamed"
    assert renamed.branding == updated.branding
    assert renamed.slug == tenant.slug


async def test_an_update_that_changes_nothing_announces_nothing(
    organizations, tenant, customers_service: RunningService
) -> None:
    first = await organizations.UpdateOrganization(
        patch(tenant, "branding", branding=GOOD_BRANDING), metadata=tenant.metadata()
    )
    again = await organizations.UpdateOrganization(
        patch(tenant, "branding", branding=GOOD_BRANDING), metadata=tenant.metadata()
    )
    assert again == first
    assert await updated_events(customers_service, tenant.organization_id) == 1


@pytest.mark.parametrize(
    ("paths", "fields", "field"),
    [
        pytest.param(("slug",), {"slug": "new-slug"}, "organization.slug", id="slug"),
        pytest.param(("name", "slug"), {"slug": "x-y-z"}, "organization.slug", id="name-and-slug"),
        pytest.param(
            ("development_mode",),
            {"development_mode": True},
            "organization.development_mode",
            id="development-mode",
        ),
        pytest.param((), {"slug": "another-slug"}, "organization.slug", id="implied-slug"),
        pytest.param(
            (),
            {"development_mode": True},
            "organization.development_mode",
            id="implied-development-mode",
        ),
        pytest.param(("id",), {}, "update_mask", id="id"),
        pytest.param(("create_time",), {}, "update_mask", id="create-time"),
        pytest.param(("branding.colour",), {}, "update_mask", id="unknown-branding-field"),
        pytest.param(("branding.*",), {}, "update_mask", id="wildcard"),
        pytest.param(("nope",), {}, "update_mask", id="unknown"),
    ],
)
async def test_what_cannot_change_is_refused_never_ignored(
    organizations, tenant, paths: tuple[str, ...], fields: dict[str, object], field: str
) -> None:
    before = await own(organizations, tenant)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await organizations.UpdateOrganization(
            patch(tenant, *paths, **fields), metadata=tenant.metadata()
        )
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]
    if field == "organization.slug":
        assert "URL" in error.message
    assert await own(organizations, tenant) == before


async def test_the_slug_sent_back_unchanged_is_accepted(organizations, tenant) -> None:
    updated = await organizations.UpdateOrganization(
        patch(tenant, "name", name="Same Slug", slug=tenant.slug), metadata=tenant.metadata()
    )
    assert (updated.name, updated.slug) == ("Same Slug", tenant.slug)


# ---- whose organization -----------------------------------------------------------


async def test_another_organization_is_not_found_and_unchanged(
    organizations, tenant, other_tenant, customers_service: RunningService
) -> None:
    before = await own(organizations, other_tenant)
    for metadata in (tenant.metadata(), gateway_metadata(tenant.api_key_secret)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await organizations.UpdateOrganization(
                patch(
                    tenant,
                    "name",
                    "branding",
                    organization_id=other_tenant.organization_id,
                    name="Hijacked",
                    branding=GOOD_BRANDING,
                ),
                metadata=metadata,
            )
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert await own(organizations, other_tenant) == before
    assert await updated_events(customers_service, other_tenant.organization_id) == 0


async def test_an_unknown_or_malformed_id_is_refused(organizations, tenant) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await organizations.UpdateOrganization(
            patch(tenant, "name", organization_id=uuid.uuid4(), name="X"),
            metadata=tenant.metadata(),
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await organizations.UpdateOrganization(
            patch(tenant, "name", organization_id="not-an-id", name="X"),
            metadata=tenant.metadata(),
        )
    assert call_error(malformed.value).fields == ["organization.id"]


async def test_through_the_gateway_it_takes_a_key_with_the_write_scope(
    organizations, tenant, customers_service: RunningService
) -> None:
    admin = organizations_pb2_grpc.OrganizationAdminServiceStub(customers_service.channel)
    read_only = await admin.IssueApiKey(
        organizations_pb2.IssueApiKeyRequest(
            organization_id=str(tenant.organization_id), scopes=[options_pb2.SCOPE_READ]
        ),
        metadata=call_metadata(),
    )
    request = patch(tenant, "branding.brand_color", branding=Branding(brand_color="#123456"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await organizations.UpdateOrganization(request, metadata=gateway_metadata(read_only.secret))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    updated = await organizations.UpdateOrganization(
        request, metadata=gateway_metadata(tenant.api_key_secret)
    )
    assert updated.branding.brand_color == "#123456"


# ---- retries --------------------------------------------------------------------


async def test_a_retry_with_its_idempotency_key_replays_the_answer(
    organizations, tenant, customers_service: RunningService
) -> None:
    request = patch(tenant, "name", "branding", name="Acme Once", branding=GOOD_BRANDING)
    first = await organizations.UpdateOrganization(request, metadata=tenant.metadata("org-1"))
    # Changed in between: the replay still answers what the first call did.
    await organizations.UpdateOrganization(
        patch(tenant, "name", name="Acme Later"), metadata=tenant.metadata()
    )
    replayed = await organizations.UpdateOrganization(request, metadata=tenant.metadata("org-1"))
    assert replayed == first
    assert (await own(organizations, tenant)).name == "Acme Later"
    assert await updated_events(customers_service, tenant.organization_id) == 2
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await organizations.UpdateOrganization(
            patch(tenant, "name", name="Something else"), metadata=tenant.metadata("org-1")
        )
    assert call_error(reused.value).reason == "IDEMPOTENCY_KEY_REUSED"


# ---- the public read ------------------------------------------------------------


def lookup(organization: str) -> organizations_pb2.GetPublicOrganizationRequest:
    return organizations_pb2.GetPublicOrganizationRequest(organization=organization)


async def test_anyone_reads_the_public_face_by_id_or_slug(organizations, public, tenant) -> None:
    updated = await organizations.UpdateOrganization(
        patch(tenant, "branding", branding=GOOD_BRANDING), metadata=tenant.metadata()
    )
    expected = organizations_pb2.PublicOrganization(
        id=str(tenant.organization_id), name="Acme", slug=tenant.slug, branding=GOOD_BRANDING
    )
    for spelling in (str(tenant.organization_id), tenant.slug, tenant.slug.upper()):
        found = await public.GetPublicOrganization(
            lookup(spelling), metadata=gateway_metadata(None)
        )
        assert found == expected
    assert updated.branding == expected.branding
    # An internal caller reads the same.
    assert await public.GetPublicOrganization(lookup(tenant.slug), metadata=call_metadata()) == (
        expected
    )


@pytest.mark.parametrize(
    "organization",
    [
        pytest.param(str(uuid.uuid4()), id="unknown-id"),
        pytest.param("no-such-shop", id="unknown-slug"),
        pytest.param("Not A Slug!", id="not-a-slug"),
        pytest.param("..", id="dots"),
        pytest.param("ab", id="too-short"),
        pytest.param("s" * 5000, id="5k"),
        pytest.param("019B0000-0000-7000-8000-000000000000", id="upper-case-id"),
        pytest.param("{019b0000-0000-7000-8000-000000000000}", id="braced-id"),
        pytest.param("acme\u212a", id="kelvin-sign"),
    ],
)
async def test_every_miss_is_the_same_not_found(public, organization: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await public.GetPublicOrganization(lookup(organization), metadata=gateway_metadata(None))
    error = call_error(refused.value)
    assert (error.code, error.message, error.reason, error.fields) == (
        grpc.StatusCode.NOT_FOUND,
        "organization not found",
        "ORGANIZATION_NOT_FOUND",
        [],
    )


async def test_an_empty_lookup_is_invalid(public) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await public.GetPublicOrganization(lookup(""), metadata=gateway_metadata(None))
    assert call_error(refused.value).fields == ["organization"]


async def test_the_public_face_follows_an_update(organizations, public, tenant) -> None:
    await organizations.UpdateOrganization(
        patch(tenant, "name", "branding.logo_url", name="Acme Blue", branding=GOOD_BRANDING),
        metadata=tenant.metadata(),
    )
    found = await public.GetPublicOrganization(lookup(tenant.slug), metadata=gateway_metadata(None))
    assert (found.name, found.branding) == ("Acme Blue", Branding(logo_url=LOGO))


# ---- at creation (platform administration) ----------------------------------------


async def test_branding_given_at_creation_follows_the_same_rules(
    customers_service: RunningService, organizations
) -> None:
    admin = organizations_pb2_grpc.OrganizationAdminServiceStub(customers_service.channel)
    created = await admin.CreateOrganization(
        organizations_pb2.CreateOrganizationRequest(
            organization=organizations_pb2.Organization(
                name="Branded", branding=Branding(brand_color="#ABCDEF", logo_url=LOGO)
            )
        ),
        metadata=call_metadata(),
    )
    assert created.organization.branding == Branding(brand_color="#abcdef", logo_url=LOGO)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.CreateOrganization(
            organizations_pb2.CreateOrganizationRequest(
                organization=organizations_pb2.Organization(
                    name="Branded badly", branding=Branding(support_email="nope")
                )
            ),
            metadata=call_metadata(),
        )
    assert call_error(refused.value).fields == [EMAIL_FIELD]
