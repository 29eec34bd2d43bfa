"""Webhook endpoints through the API: their lifecycle, idempotency, tenancy
and the URL rules (server-side request forgery) for organizations in and
out of development mode."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import func, select

from billingos.customers.v1 import (
    events_pb2,
    webhook_endpoints_pb2,
    webhook_endpoints_pb2_grpc,
)
from billingos_customers import webhook_urls
from billingos_customers.models import webhook_endpoints
from billingos_customers.webhook_endpoints import DEFAULT_MAX_ENDPOINTS
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.db import scalar
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

pb = webhook_endpoints_pb2
Stub = webhook_endpoints_pb2_grpc.WebhookEndpointServiceStub
# A public address written as a literal: accepted without asking DNS.
PUBLIC_URL = "https://93.184.215.14/hooks"


@pytest.fixture
def endpoints(customers_service: RunningService) -> Stub:
    return Stub(customers_service.channel)


def create_request(url: str = PUBLIC_URL, **fields: object) -> pb.CreateWebhookEndpointRequest:
    return pb.CreateWebhookEndpointRequest(webhook_endpoint=pb.WebhookEndpoint(url=url, **fields))


async def refusal(call: object) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call  # type: ignore[misc]
    error = call_error(refused.value)
    return error.code, error.reason, error.fields


async def test_an_endpoint_is_created_with_a_secret_shown_once_then_read_listed_updated_and_deleted(
    endpoints: Stub, tenant, servers: SessionServers
) -> None:
    created = await endpoints.CreateWebhookEndpoint(
        create_request(description="fulfilment", event_types=["order.paid", "customer.created"]),
        metadata=tenant.metadata(),
    )
    assert created.secret.startswith("whsec_")
    assert len(created.secret) > 40
    assert created.organization_id == str(tenant.organization_id)
    assert list(created.event_types) == ["customer.created", "order.paid"]
    assert not created.disabled

    got = await endpoints.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(id=created.id), metadata=tenant.metadata()
    )
    assert got.secret == ""
    assert got.url == PUBLIC_URL
    listed = await endpoints.ListWebhookEndpoints(
        pb.ListWebhookEndpointsRequest(), metadata=tenant.metadata()
    )
    assert [e.id for e in listed.webhook_endpoints] == [created.id]
    assert created.secret not in str(listed)

    updated = await endpoints.UpdateWebhookEndpoint(
        pb.UpdateWebhookEndpointRequest(
            webhook_endpoint=pb.WebhookEndpoint(id=created.id, description="all", disabled=True),
            update_mask=field_mask_pb2.FieldMask(paths=["description", "event_types", "disabled"]),
        ),
        metadata=tenant.metadata(),
    )
    assert (updated.description, list(updated.event_types)) == ("all", [])
    assert (updated.disabled, updated.disabled_reason) == (True, "by_request")

    await endpoints.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(id=created.id), metadata=tenant.metadata()
    )
    code, reason, _ = await refusal(
        endpoints.GetWebhookEndpoint(
            pb.GetWebhookEndpointRequest(id=created.id), metadata=tenant.metadata()
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND")

    announced = await published_events(
        servers.nats_url,
        "billingos.customers.webhook_endpoint.>",
        tenant.organization_id,
        at_least=3,
    )
    assert [e.type for e in announced] == [
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.deleted",
    ]
    change = events_pb2.WebhookEndpointUpdatedEvent()
    assert announced[1].data.Unpack(change)
    assert list(change.update_mask.paths) == ["description", "event_types", "disabled"]
    for envelope in announced:
        assert created.secret.encode() not in envelope.SerializeToString()


async def test_create_with_the_same_idempotency_key_makes_one_endpoint(
    endpoints: Stub, customers_service: RunningService, tenant
) -> None:
    first = await endpoints.CreateWebhookEndpoint(
        create_request(), metadata=tenant.metadata("hook-1")
    )
    again = await endpoints.CreateWebhookEndpoint(
        create_request(), metadata=tenant.metadata("hook-1")
    )
    assert again.id == first.id
    # The secret is stored nowhere but the endpoint: a replay cannot show it.
    assert first.secret
    assert again.secret == ""
    count = await scalar(
        customers_service.app.database,
        select(func.count())
        .select_from(webhook_endpoints)
        .where(webhook_endpoints.c.organization_id == tenant.organization_id),
    )
    assert count == 1
    code, reason, fields = await refusal(
        endpoints.CreateWebhookEndpoint(
            create_request(description="other"), metadata=tenant.metadata("hook-1")
        )
    )
    assert (code, reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "IDEMPOTENCY_KEY_REUSED",
        ["Idempotency-Key"],
    )


async def test_another_organizations_endpoint_is_not_found(
    endpoints: Stub, tenant, other_tenant
) -> None:
    theirs = await endpoints.CreateWebhookEndpoint(
        create_request(), metadata=other_tenant.metadata()
    )
    calls = [
        endpoints.GetWebhookEndpoint(
            pb.GetWebhookEndpointRequest(id=theirs.id), metadata=tenant.metadata()
        ),
        endpoints.UpdateWebhookEndpoint(
            pb.UpdateWebhookEndpointRequest(
                webhook_endpoint=pb.WebhookEndpoint(id=theirs.id, description="mine"),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            ),
            metadata=tenant.metadata(),
        ),
        endpoints.DeleteWebhookEndpoint(
            pb.DeleteWebhookEndpointRequest(id=theirs.id), metadata=tenant.metadata()
        ),
        endpoints.RotateWebhookEndpointSecret(
            pb.RotateWebhookEndpointSecretRequest(id=theirs.id), metadata=tenant.metadata()
        ),
        endpoints.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(endpoint_id=theirs.id), metadata=tenant.metadata()
        ),
    ]
    for call in calls:
        code, reason, _ = await refusal(call)
        assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND")
    mine = await endpoints.ListWebhookEndpoints(
        pb.ListWebhookEndpointsRequest(), metadata=tenant.metadata()
    )
    assert theirs.id not in [e.id for e in mine.webhook_endpoints]
    still = await endpoints.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(id=theirs.id), metadata=other_tenant.metadata()
    )
    assert still.description == ""


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://93.184.215.14/hooks", "WEBHOOK_URL_NOT_HTTPS"),
        ("https://127.0.0.1/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://10.1.2.3/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://192.168.0.10:8443/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://169.254.169.254/latest/meta-data", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://100.64.0.7/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://0.0.0.0/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://224.0.0.1/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://[::1]/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://[fe80::1]/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://[::ffff:10.0.0.1]/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://localhost/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        # Host names, not IP literals, that the system resolver turns into
        # private addresses (the legacy inet_aton spellings).
        ("https://0x0a000001/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://2130706433/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://name-that-does-not-exist.invalid/hooks", "WEBHOOK_URL_UNRESOLVABLE"),
        ("https://user:secret@93.184.215.14/hooks", "WEBHOOK_URL_HAS_USERINFO"),
        ("https://93.184.215.14/hooks#part", "WEBHOOK_URL_HAS_FRAGMENT"),
        ("ftp://93.184.215.14/hooks", "WEBHOOK_URL_INVALID"),
        ("/hooks", "WEBHOOK_URL_INVALID"),
        ("https://93.184.215.14/caf\u00e9", "WEBHOOK_URL_INVALID"),
        ("https://b\u00fccher.example/hooks", "WEBHOOK_URL_INVALID"),
        ("https://[2002:a00:1::]/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://[2002:7f00:1::]/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://[fec0::1]/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        # Names only a private network resolves: refused before any lookup,
        # so the answer never tells which internal names exist.
        ("https://vm/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://db.svc.cluster.local/hooks", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://metadata.google.internal/computeMetadata/v1/", "WEBHOOK_URL_PRIVATE_ADDRESS"),
        ("https://93.184.215.14:0/hooks", "WEBHOOK_URL_INVALID"),
    ],
)
async def test_urls_that_could_reach_private_networks_are_refused(
    endpoints: Stub, tenant, url: str, reason: str
) -> None:
    code, got, fields = await refusal(
        endpoints.CreateWebhookEndpoint(create_request(url), metadata=tenant.metadata())
    )
    assert (code, got, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        reason,
        ["webhook_endpoint.url"],
    )


async def test_an_update_checks_the_new_url_too(endpoints: Stub, tenant) -> None:
    created = await endpoints.CreateWebhookEndpoint(create_request(), metadata=tenant.metadata())
    code, reason, fields = await refusal(
        endpoints.UpdateWebhookEndpoint(
            pb.UpdateWebhookEndpointRequest(
                webhook_endpoint=pb.WebhookEndpoint(id=created.id, url="https://10.0.0.1/"),
                update_mask=field_mask_pb2.FieldMask(paths=["url"]),
            ),
            metadata=tenant.metadata(),
        )
    )
    assert (reason, fields) == ("WEBHOOK_URL_PRIVATE_ADDRESS", ["webhook_endpoint.url"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_development_mode_allows_http_and_loopback(endpoints: Stub, dev_tenant) -> None:
    for url in ("http://127.0.0.1:9/hooks", "http://localhost:8000/", "https://10.0.0.1/"):
        created = await endpoints.CreateWebhookEndpoint(
            create_request(url), metadata=dev_tenant.metadata()
        )
        assert created.url == url
    _code, reason, _ = await refusal(
        endpoints.CreateWebhookEndpoint(
            create_request("http://user@127.0.0.1/"), metadata=dev_tenant.metadata()
        )
    )
    assert reason == "WEBHOOK_URL_HAS_USERINFO"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.1.1]/",
        # The same, inside IPv6 forms that carry an IPv4 address.
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://[2002:a9fe:a9fe::]/",
        "http://[::169.254.169.254]/",
        "http://[::ffff:0:a9fe:a9fe]/",
        # A Teredo tunnel; cloud metadata services off link-local addresses.
        "http://[2001:0:4136:e378:8000:63bf:567f:5601]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
    ],
)
async def test_link_local_addresses_are_refused_even_in_development_mode(
    endpoints: Stub, dev_tenant, url: str
) -> None:
    code, reason, fields = await refusal(
        endpoints.CreateWebhookEndpoint(create_request(url), metadata=dev_tenant.metadata())
    )
    assert (code, reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "WEBHOOK_URL_PRIVATE_ADDRESS",
        ["webhook_endpoint.url"],
    )


async def test_event_types_must_be_types_webhooks_post(endpoints: Stub, tenant) -> None:
    code, _reason, fields = await refusal(
        endpoints.CreateWebhookEndpoint(
            create_request(event_types=["customer.created", "stripe_customer.created", "nope"]),
            metadata=tenant.metadata(),
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == ["webhook_endpoint.event_types[1]", "webhook_endpoint.event_types[2]"]


async def test_rotation_returns_a_new_secret_and_keeps_the_old_one_for_the_grace(
    endpoints: Stub, tenant, session_clock: FrozenClock
) -> None:
    created = await endpoints.CreateWebhookEndpoint(create_request(), metadata=tenant.metadata())
    rotated = await endpoints.RotateWebhookEndpointSecret(
        pb.RotateWebhookEndpointSecretRequest(id=created.id), metadata=tenant.metadata("rot-1")
    )
    assert rotated.secret.startswith("whsec_")
    assert rotated.secret != created.secret
    grace_end = rotated.previous_secret_expire_time.ToDatetime(tzinfo=dt.UTC)
    assert grace_end == session_clock.now() + dt.timedelta(hours=24)
    replay = await endpoints.RotateWebhookEndpointSecret(
        pb.RotateWebhookEndpointSecretRequest(id=created.id), metadata=tenant.metadata("rot-1")
    )
    assert replay.secret == ""  # the same rotation, not another one
    short = await endpoints.RotateWebhookEndpointSecret(
        pb.RotateWebhookEndpointSecretRequest(id=created.id, grace_seconds=60),
        metadata=tenant.metadata(),
    )
    end = short.previous_secret_expire_time.ToDatetime(tzinfo=dt.UTC)
    assert end == session_clock.now() + dt.timedelta(seconds=60)
    _, _, fields = await refusal(
        endpoints.RotateWebhookEndpointSecret(
            pb.RotateWebhookEndpointSecretRequest(id=created.id, grace_seconds=8 * 86400),
            metadata=tenant.metadata(),
        )
    )
    assert fields == ["grace_seconds"]


async def test_a_redelivery_of_an_unknown_delivery_is_not_found(endpoints: Stub, tenant) -> None:
    created = await endpoints.CreateWebhookEndpoint(create_request(), metadata=tenant.metadata())
    code, reason, _ = await refusal(
        endpoints.RedeliverWebhookDelivery(
            pb.RedeliverWebhookDeliveryRequest(endpoint_id=created.id, id=str(uuid.uuid4())),
            metadata=tenant.metadata(),
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "WEBHOOK_DELIVERY_NOT_FOUND")


async def test_an_organization_has_at_most_the_endpoint_limit(endpoints: Stub, tenant) -> None:
    """Each event is posted once per endpoint: the limit (50 by default)
    bounds what one event costs. A deleted endpoint frees its place."""
    made = [
        await endpoints.CreateWebhookEndpoint(create_request(), metadata=tenant.metadata())
        for _ in range(DEFAULT_MAX_ENDPOINTS)
    ]
    code, reason, _ = await refusal(
        endpoints.CreateWebhookEndpoint(create_request(), metadata=tenant.metadata())
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "WEBHOOK_ENDPOINT_LIMIT_REACHED")
    await endpoints.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(id=made[0].id), metadata=tenant.metadata()
    )
    await endpoints.CreateWebhookEndpoint(create_request(), metadata=tenant.metadata())


async def test_a_host_that_does_not_resolve_in_time_is_unresolvable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow resolver answers nothing rather than holding the request: with
    no time at all, even a name the resolver knows is refused."""
    monkeypatch.setattr(webhook_urls, "RESOLVE_TIMEOUT_SECONDS", 0.0)
    assert await webhook_urls.resolve("localhost", 443) == []
    with pytest.raises(webhook_urls.WebhookUrlRefused) as refused:
        await webhook_urls.vetted_addresses("localhost", 443, development_mode=True)
    assert refused.value.reason == "WEBHOOK_URL_UNRESOLVABLE"


async def test_an_endpoint_of_another_organization_cannot_be_created(
    endpoints: Stub, tenant, other_tenant
) -> None:
    """An `organization_id` in the body must be the key's own (or empty)."""
    code, reason, fields = await refusal(
        endpoints.CreateWebhookEndpoint(
            create_request(organization_id=str(other_tenant.organization_id)),
            metadata=tenant.metadata(),
        )
    )
    assert (code, reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "ORGANIZATION_NOT_OWN",
        ["webhook_endpoint.organization_id"],
    )
    mine = await endpoints.CreateWebhookEndpoint(
        create_request(organization_id=str(tenant.organization_id)), metadata=tenant.metadata()
    )
    assert mine.organization_id == str(tenant.organization_id)
