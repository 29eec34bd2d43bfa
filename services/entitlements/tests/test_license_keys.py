"""License keys: made with a grant of a license-keys benefit, shown on the
grant, validated and activated by the merchant's app within the activation
limit (also when activations race), revoked with the grant and valid again
when it is granted again; another organization's key is not there."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import pytest

from billingos.entitlements.v1 import benefits_pb2, license_keys_pb2, license_keys_pb2_grpc
from billingos.subscriptions.v1 import events_pb2 as subscription_events
from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

from .conftest import Merchant

Validity = license_keys_pb2.LicenseKeyValidity


async def keyed(merchant: Merchant, limit: int = 2) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]:
    """A customer subscribed to a product with a license-keys benefit; its key."""
    benefit = await merchant.benefit(
        "desktop",
        type=benefits_pb2.BENEFIT_TYPE_LICENSE_KEYS,
        license_keys=benefits_pb2.LicenseKeysProperties(prefix="acme", activation_limit=limit),
    )
    product, customer, subscription = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, benefit.id)
    await merchant.hear(merchant.subscription(subscription, customer, product))
    [grant] = await merchant.granted(customer, 1)
    assert grant.WhichOneof("properties") == "license_key"
    return product, customer, subscription, grant.license_key.display_key


def keys_of(
    merchant: Merchant, service: RunningService
) -> license_keys_pb2_grpc.LicenseKeyServiceStub:
    return license_keys_pb2_grpc.LicenseKeyServiceStub(service.channel)


async def test_a_granted_key_validates_and_activates_up_to_its_limit(
    merchant: Merchant, entitlements_service: RunningService
) -> None:
    _, customer, _, key = await keyed(merchant, limit=2)
    assert key.startswith("ACME-")
    assert len(key) == 5 + 4 * 8 + 3
    keys = keys_of(merchant, entitlements_service)
    meta = merchant.metadata()
    valid = await keys.ValidateLicenseKey(
        license_keys_pb2.ValidateLicenseKeyRequest(key=f"  {key.lower()} "), metadata=meta
    )
    assert (valid.valid, valid.validity) == (True, Validity.LICENSE_KEY_VALIDITY_VALID)
    assert valid.license_key.customer_id == str(customer)
    # Five activations at once against a limit of two: exactly two.
    results = await asyncio.gather(
        *(
            keys.ActivateLicenseKey(
                license_keys_pb2.ActivateLicenseKeyRequest(key=key, label=f"laptop {n}"),
                metadata=merchant.metadata(),
            )
            for n in range(5)
        ),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, license_keys_pb2.LicenseKeyActivation)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert (len(made), len(refused)) == (2, 3)
    assert {call_error(r).reason for r in refused} == {"LICENSE_KEY_ACTIVATION_LIMIT"}
    with_activation = await keys.ValidateLicenseKey(
        license_keys_pb2.ValidateLicenseKeyRequest(key=key, activation_id=made[0].id), metadata=meta
    )
    assert with_activation.valid
    assert with_activation.license_key.activations == 2
    freed = await keys.DeactivateLicenseKey(
        license_keys_pb2.DeactivateLicenseKeyRequest(key=key, activation_id=made[0].id),
        metadata=meta,
    )
    assert freed.activations == 1
    gone = await keys.ValidateLicenseKey(
        license_keys_pb2.ValidateLicenseKeyRequest(key=key, activation_id=made[0].id), metadata=meta
    )
    assert (gone.valid, gone.validity) == (False, Validity.LICENSE_KEY_VALIDITY_NOT_ACTIVATED)
    await keys.ActivateLicenseKey(
        license_keys_pb2.ActivateLicenseKeyRequest(key=key, label="desktop"), metadata=meta
    )
    listed = await keys.ListLicenseKeys(
        license_keys_pb2.ListLicenseKeysRequest(customer_id=str(customer)), metadata=meta
    )
    assert [k.key for k in listed.license_keys] == [key]


async def test_a_revoked_grants_key_stops_validating_and_a_regrant_revives_it(
    merchant: Merchant, entitlements_service: RunningService
) -> None:
    product, customer, subscription, key = await keyed(merchant)
    keys = keys_of(merchant, entitlements_service)
    await merchant.hear(
        merchant.subscription(
            subscription, customer, product, subscriptions_pb2.SUBSCRIPTION_STATUS_UNPAID
        ),
        subscription_events.SubscriptionUpdatedEvent,
    )
    await merchant.granted(customer, 1, is_granted=False)
    revoked = await keys.ValidateLicenseKey(
        license_keys_pb2.ValidateLicenseKeyRequest(key=key), metadata=merchant.metadata()
    )
    assert (revoked.valid, revoked.validity) == (False, Validity.LICENSE_KEY_VALIDITY_REVOKED)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await keys.ActivateLicenseKey(
            license_keys_pb2.ActivateLicenseKeyRequest(key=key, label="x"),
            metadata=merchant.metadata(),
        )
    assert call_error(raised.value).reason == "LICENSE_KEY_REVOKED"
    await merchant.hear(merchant.subscription(subscription, customer, product))
    [grant] = await merchant.granted(customer, 1)
    assert grant.license_key.display_key == key
    again = await keys.ValidateLicenseKey(
        license_keys_pb2.ValidateLicenseKeyRequest(key=key), metadata=merchant.metadata()
    )
    assert again.valid


async def test_a_key_expires_its_days_after_the_grant(
    merchant: Merchant, entitlements_service: RunningService
) -> None:
    """Days from the grant's own time (a test clock's, here long past):
    expired, it neither validates nor activates; a key without expiry does."""
    lasting = await merchant.benefit(
        "lasting",
        type=benefits_pb2.BENEFIT_TYPE_LICENSE_KEYS,
        license_keys=benefits_pb2.LicenseKeysProperties(prefix="keep"),
    )
    dated = await merchant.benefit(
        "dated",
        type=benefits_pb2.BENEFIT_TYPE_LICENSE_KEYS,
        license_keys=benefits_pb2.LicenseKeysProperties(prefix="old", expires_after_days=30),
    )
    product, customer, subscription = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await merchant.product(product, lasting.id, dated.id)
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    await merchant.hear(merchant.subscription(subscription, customer, product, moment=long_ago))
    grants = {g.benefit_key: g for g in await merchant.granted(customer, 2)}
    keys = keys_of(merchant, entitlements_service)
    expired_key = grants["dated"].license_key
    expired = await keys.ValidateLicenseKey(
        license_keys_pb2.ValidateLicenseKeyRequest(key=expired_key.display_key),
        metadata=merchant.metadata(),
    )
    assert (expired.valid, expired.validity) == (False, Validity.LICENSE_KEY_VALIDITY_EXPIRED)
    ends = expired.license_key.expire_time.ToDatetime(tzinfo=dt.UTC)
    assert ends == long_ago + dt.timedelta(days=30)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await keys.ActivateLicenseKey(
            license_keys_pb2.ActivateLicenseKeyRequest(key=expired_key.display_key, label="x"),
            metadata=merchant.metadata(),
        )
    assert call_error(raised.value).reason == "LICENSE_KEY_EXPIRED"
    kept = await keys.ValidateLicenseKey(
        license_keys_pb2.ValidateLicenseKeyRequest(key=grants["lasting"].license_key.display_key),
        metadata=merchant.metadata(),
    )
    assert kept.valid


async def test_another_organizations_key_is_not_found(
    merchant: Merchant, entitlements_service: RunningService, servers: SessionServers
) -> None:
    _, _, _, key = await keyed(merchant)
    other = Merchant(entitlements_service, servers.nats_url)
    keys = keys_of(other, entitlements_service)
    found = await keys.ValidateLicenseKey(
        license_keys_pb2.ValidateLicenseKeyRequest(key=key), metadata=other.metadata()
    )
    assert (found.valid, found.validity) == (False, Validity.LICENSE_KEY_VALIDITY_NOT_FOUND)
    assert not found.HasField("license_key")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await keys.ActivateLicenseKey(
            license_keys_pb2.ActivateLicenseKeyRequest(key=key, label="x"),
            metadata=other.metadata(),
        )
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"key": "", "label": "x"}, "key"),
        ({"key": "K" * 65, "label": "x"}, "key"),
        ({"key": "ABC", "label": ""}, "label"),
    ],
)
async def test_a_bad_activation_names_its_field(
    merchant: Merchant,
    entitlements_service: RunningService,
    request_fields: dict[str, str],
    field: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await keys_of(merchant, entitlements_service).ActivateLicenseKey(
            license_keys_pb2.ActivateLicenseKeyRequest(**request_fields),
            metadata=merchant.metadata(),
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in call_error(raised.value).fields
