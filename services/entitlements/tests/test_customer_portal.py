"""The customer portal's license keys, called as the gateway forwards a
browser's call with a customer session token: the customer's own keys, the
key itself with its status, limit and activations, what each is for; its
activations listed and one ended (once, and a replay answers the first
answer). Another customer's key or activation is NOT_FOUND, of the same
organization or another; the token opens no merchant method."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import grpc
import pytest

from billingos.entitlements.v1 import (
    benefits_pb2,
    customer_portal_pb2,
    license_keys_pb2,
    license_keys_pb2_grpc,
)
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_entitlements.license_keys import key_status
from billingos_entitlements.models import LicenseKey
from billingos_entitlements.vocabulary import KeyStatus
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, gateway_metadata
from billingos_kit.testing.sessions import KnownSessions

from .conftest import Merchant

Status = customer_portal_pb2.PortalLicenseKeyStatus


@pytest.fixture
def sessions(entitlements_service: RunningService) -> KnownSessions:
    """Customer sessions this test issues (left in place after it: every
    test's tokens are its own)."""
    known = KnownSessions()
    entitlements_service.app.use_session_lookup(known)
    return known


class Page:
    """One customer's portal page: its session token and the calls it makes."""

    def __init__(
        self, merchant: Merchant, service: RunningService, sessions: KnownSessions, customer: Any
    ) -> None:
        until = service.app.clock.now() + dt.timedelta(hours=1)
        self.token = sessions.issue(merchant.organization_id, customer, until)
        self.portal = merchant.portal

    def metadata(self, idempotency_key: str | None = None) -> Any:
        return gateway_metadata(self.token, idempotency_key=idempotency_key)

    async def keys(self) -> list[customer_portal_pb2.PortalLicenseKey]:
        found = await self.portal.ListPortalLicenseKeys(
            customer_portal_pb2.ListPortalLicenseKeysRequest(), metadata=self.metadata()
        )
        return list(found.license_keys)

    async def key(self, key_id: str) -> customer_portal_pb2.PortalLicenseKey:
        found: customer_portal_pb2.PortalLicenseKey = await self.portal.GetPortalLicenseKey(
            customer_portal_pb2.GetPortalLicenseKeyRequest(id=key_id), metadata=self.metadata()
        )
        return found

    async def activations(self, key_id: str) -> list[str]:
        found = await self.portal.ListPortalLicenseKeyActivations(
            customer_portal_pb2.ListPortalLicenseKeyActivationsRequest(license_key_id=key_id),
            metadata=self.metadata(),
        )
        return [activation.label for activation in found.activations]

    async def deactivate(
        self, key_id: str, activation_id: str, idempotency_key: str | None = None
    ) -> customer_portal_pb2.PortalLicenseKey:
        found: customer_portal_pb2.PortalLicenseKey = (
            await self.portal.DeactivatePortalLicenseKeyActivation(
                customer_portal_pb2.DeactivatePortalLicenseKeyActivationRequest(
                    license_key_id=key_id, id=activation_id
                ),
                metadata=self.metadata(idempotency_key),
            )
        )
        return found


async def refusal(call: Any) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def keyed_customers(
    merchant: Merchant, count: int, limit: int = 2
) -> tuple[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID]]]:
    """Customers subscribed to one product with a license-keys benefit: the
    product and each (customer, subscription), once each has its key."""
    benefit = await merchant.benefit(
        "desktop",
        type=benefits_pb2.BENEFIT_TYPE_LICENSE_KEYS,
        description="Acme Desktop, for up to two machines",
        license_keys=benefits_pb2.LicenseKeysProperties(prefix="acme", activation_limit=limit),
    )
    product = uuid.uuid4()
    await merchant.product(product, benefit.id)
    subscribed = []
    for _ in range(count):
        customer, subscription = uuid.uuid4(), uuid.uuid4()
        await merchant.hear(merchant.subscription(subscription, customer, product))
        await merchant.granted(customer, 1)
        subscribed.append((customer, subscription))
    return product, subscribed


async def activate(merchant: Merchant, service: RunningService, key: str, label: str) -> str:
    """What the merchant's app does on a new machine (with its API key)."""
    keys = license_keys_pb2_grpc.LicenseKeyServiceStub(service.channel)
    made = await keys.ActivateLicenseKey(
        license_keys_pb2.ActivateLicenseKeyRequest(key=key, label=label),
        metadata=merchant.metadata(str(uuid.uuid4())),
    )
    return str(made.id)


async def test_a_customer_sees_its_key_and_frees_a_machine(
    merchant: Merchant, entitlements_service: RunningService, sessions: KnownSessions
) -> None:
    _, [(customer, _)] = await keyed_customers(merchant, 1)
    page = Page(merchant, entitlements_service, sessions, customer)
    [shown] = await page.keys()
    assert shown.key.startswith("ACME-")
    assert (shown.status, shown.activation_limit, shown.activations) == (
        Status.PORTAL_LICENSE_KEY_STATUS_VALID,
        2,
        0,
    )
    assert shown.benefit_description == "Acme Desktop, for up to two machines"
    assert not shown.HasField("expire_time")
    assert await page.key(shown.id) == shown

    laptop = await activate(merchant, entitlements_service, shown.key, "laptop")
    await activate(merchant, entitlements_service, shown.key, "desktop")
    assert (await page.key(shown.id)).activations == 2
    assert await page.activations(shown.id) == ["desktop", "laptop"]  # newest first

    key = f"free-laptop-{uuid.uuid4()}"
    freed = await page.deactivate(shown.id, laptop, key)
    assert freed.activations == 1
    assert await page.deactivate(shown.id, laptop, key) == freed  # the replay
    assert (await page.deactivate(shown.id, laptop)).activations == 1  # once
    assert await page.activations(shown.id) == ["desktop"]
    # The place is free again under the limit.
    await activate(merchant, entitlements_service, shown.key, "new laptop")
    assert (await page.key(shown.id)).activations == 2


async def test_a_revoked_key_is_shown_as_revoked(
    merchant: Merchant, entitlements_service: RunningService, sessions: KnownSessions
) -> None:
    product, [(customer, subscription)] = await keyed_customers(merchant, 1)
    page = Page(merchant, entitlements_service, sessions, customer)
    [before] = await page.keys()
    await merchant.hear(
        merchant.subscription(
            subscription, customer, product, subscriptions_pb2.SUBSCRIPTION_STATUS_UNPAID
        ),
        subscription_events.SubscriptionUpdatedEvent,
    )
    await merchant.granted(customer, 1, is_granted=False)
    [after] = await page.keys()
    assert (after.id, after.key) == (before.id, before.key)
    assert after.status == Status.PORTAL_LICENSE_KEY_STATUS_REVOKED


async def test_another_customers_keys_and_activations_are_not_found(
    merchant: Merchant,
    entitlements_service: RunningService,
    sessions: KnownSessions,
    servers: SessionServers,
) -> None:
    _, [(mine, _), (neighbours, _)] = await keyed_customers(merchant, 2)
    my_page = Page(merchant, entitlements_service, sessions, mine)
    their_page = Page(merchant, entitlements_service, sessions, neighbours)
    [my_key] = await my_page.keys()
    [their_key] = await their_page.keys()
    assert my_key.key != their_key.key
    my_machine = await activate(merchant, entitlements_service, my_key.key, "mine")
    their_machine = await activate(merchant, entitlements_service, their_key.key, "theirs")
    other_merchant = Merchant(entitlements_service, servers.nats_url)
    strangers_page = Page(other_merchant, entitlements_service, sessions, mine)

    for page in (their_page, strangers_page):
        for call in (
            page.key(my_key.id),
            page.activations(my_key.id),
            page.deactivate(my_key.id, my_machine),
        ):
            error = await refusal(call)
            assert (error.code, error.reason) == (
                grpc.StatusCode.NOT_FOUND,
                "LICENSE_KEY_NOT_FOUND",
            )
    assert await strangers_page.keys() == []
    # My key with their activation: not one of my key's.
    error = await refusal(my_page.deactivate(my_key.id, their_machine))
    assert (error.code, error.reason) == (
        grpc.StatusCode.NOT_FOUND,
        "LICENSE_KEY_ACTIVATION_NOT_FOUND",
    )
    assert (await their_page.key(their_key.id)).activations == 1
    assert (await my_page.key(my_key.id)).activations == 1


async def test_the_token_opens_no_merchant_method_and_no_key_opens_the_portal(
    merchant: Merchant, entitlements_service: RunningService, sessions: KnownSessions
) -> None:
    _, [(customer, _)] = await keyed_customers(merchant, 1)
    page = Page(merchant, entitlements_service, sessions, customer)
    [shown] = await page.keys()
    keys = license_keys_pb2_grpc.LicenseKeyServiceStub(entitlements_service.channel)
    on_merchant_route = await refusal(
        keys.GetLicenseKey(
            license_keys_pb2.GetLicenseKeyRequest(id=shown.id), metadata=page.metadata()
        )
    )
    assert (on_merchant_route.code, on_merchant_route.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_NOT_ACCEPTED",
    )
    request = customer_portal_pb2.GetPortalLicenseKeyRequest(id=shown.id)
    with_a_key = await refusal(
        merchant.portal.GetPortalLicenseKey(request, metadata=gateway_metadata("bos_x"))
    )
    assert (with_a_key.code, with_a_key.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CUSTOMER_SESSION_REQUIRED",
    )
    internal = await refusal(
        merchant.portal.GetPortalLicenseKey(
            request, metadata=call_metadata(merchant.organization_id)
        )
    )
    assert (internal.code, internal.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CUSTOMER_SESSION_REQUIRED",
    )


def test_a_keys_status_is_revoked_before_expired_before_valid() -> None:
    now = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)

    def key(expires: dt.datetime | None, revoked: dt.datetime | None) -> LicenseKey:
        return LicenseKey(
            id=uuid.uuid4(),
            organization_id=uuid.uuid4(),
            grant_id=uuid.uuid4(),
            customer_id=uuid.uuid4(),
            benefit_id=uuid.uuid4(),
            key="ACME-X",
            activation_limit=0,
            expires_at=expires,
            revoked_at=revoked,
            created_at=now,
            updated_at=now,
        )

    past, future = now - dt.timedelta(days=1), now + dt.timedelta(days=1)
    assert key_status(key(None, None), now) is KeyStatus.VALID
    assert key_status(key(future, None), now) is KeyStatus.VALID
    assert key_status(key(now, None), now) is KeyStatus.EXPIRED  # at its expire time
    assert key_status(key(past, past), now) is KeyStatus.REVOKED
