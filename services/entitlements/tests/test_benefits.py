"""Benefits: create, read, list, update, delete; each type's properties; bad
input named by field; another organization's benefit is not found."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from billingos.entitlements.v1 import benefits_pb2
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService

from .conftest import Merchant

METER = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"


async def test_a_benefit_of_each_type_comes_back_as_created(merchant: Merchant) -> None:
    meter = await merchant.new_meter()
    flag = await merchant.benefit("api-access")
    credits = await merchant.benefit(
        "api_calls",
        type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
        meter_credits=benefits_pb2.MeterCreditsProperties(
            meter_id=meter, units="1000.50", renewal=benefits_pb2.CREDIT_RENEWAL_ROLLOVER
        ),
    )
    keys = await merchant.benefit(
        "desktop.license",
        type=benefits_pb2.BENEFIT_TYPE_LICENSE_KEYS,
        license_keys=benefits_pb2.LicenseKeysProperties(
            prefix="ACME", activation_limit=3, expires_after_days=365
        ),
    )
    custom = await merchant.benefit(
        "discord",
        type=benefits_pb2.BENEFIT_TYPE_CUSTOM,
        custom=benefits_pb2.CustomProperties(
            properties={"invite": struct_pb2.Value(string_value="https://x.test/i")},
            note="Welcome!",
        ),
    )
    assert flag.WhichOneof("properties") == "feature_flag"
    assert credits.meter_credits.units == "1000.5"
    assert credits.meter_credits.renewal == benefits_pb2.CREDIT_RENEWAL_ROLLOVER
    assert keys.license_keys.activation_limit == 3
    assert custom.custom.properties["invite"].string_value == "https://x.test/i"
    for made in (flag, credits, keys, custom):
        got = await merchant.benefits.GetBenefit(
            benefits_pb2.GetBenefitRequest(id=made.id), metadata=merchant.metadata()
        )
        assert got == made
    listed = await merchant.benefits.ListBenefits(
        benefits_pb2.ListBenefitsRequest(), metadata=merchant.metadata()
    )
    assert [b.id for b in listed.benefits] == [custom.id, keys.id, credits.id, flag.id]
    only = await merchant.benefits.ListBenefits(
        benefits_pb2.ListBenefitsRequest(type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS),
        metadata=merchant.metadata(),
    )
    assert [b.id for b in only.benefits] == [credits.id]


@pytest.mark.parametrize(
    ("benefit", "field"),
    [
        (benefits_pb2.Benefit(key="x", description="d", feature_flag={}), "benefit.type"),
        (
            benefits_pb2.Benefit(
                type=benefits_pb2.BENEFIT_TYPE_FEATURE_FLAG, key="Bad Key", description="d"
            ),
            "benefit.key",
        ),
        (
            benefits_pb2.Benefit(type=benefits_pb2.BENEFIT_TYPE_FEATURE_FLAG, key="k" * 65),
            "benefit.key",
        ),
        (
            benefits_pb2.Benefit(type=benefits_pb2.BENEFIT_TYPE_FEATURE_FLAG, key="ok"),
            "benefit.description",
        ),
        (
            benefits_pb2.Benefit(
                type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
                key="ok",
                description="d",
                meter_credits=benefits_pb2.MeterCreditsProperties(meter_id=METER, units="0"),
            ),
            "benefit.meter_credits.units",
        ),
        (
            benefits_pb2.Benefit(
                type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
                key="ok",
                description="d",
                meter_credits=benefits_pb2.MeterCreditsProperties(meter_id="nope", units="5"),
            ),
            "benefit.meter_credits.meter_id",
        ),
        (
            benefits_pb2.Benefit(
                type=benefits_pb2.BENEFIT_TYPE_FEATURE_FLAG,
                key="ok",
                description="d",
                custom=benefits_pb2.CustomProperties(note="n"),
            ),
            "benefit.custom",
        ),
        (
            benefits_pb2.Benefit(
                type=benefits_pb2.BENEFIT_TYPE_LICENSE_KEYS,
                key="ok",
                description="d",
                license_keys=benefits_pb2.LicenseKeysProperties(activation_limit=1001),
            ),
            "benefit.license_keys.activation_limit",
        ),
    ],
)
async def test_a_bad_benefit_is_refused_naming_its_field(
    merchant: Merchant, benefit: benefits_pb2.Benefit, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await merchant.benefits.CreateBenefit(
            benefits_pb2.CreateBenefitRequest(benefit=benefit), metadata=merchant.metadata()
        )
    error = call_error(raised.value)
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.fields
    listed = await merchant.benefits.ListBenefits(
        benefits_pb2.ListBenefitsRequest(), metadata=merchant.metadata()
    )
    assert list(listed.benefits) == []


async def test_a_key_is_unique_among_live_benefits_even_when_created_at_once(
    merchant: Merchant,
) -> None:
    results = await asyncio.gather(
        *(merchant.benefit("seats") for _ in range(5)), return_exceptions=True
    )
    made = [r for r in results if isinstance(r, benefits_pb2.Benefit)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(made) == 1
    assert len(refused) == 4
    for error in refused:
        assert error.code() is grpc.StatusCode.ALREADY_EXISTS
        assert call_error(error).reason == "BENEFIT_KEY_ALREADY_EXISTS"
    # Deleted, its key is free again.
    await merchant.benefits.DeleteBenefit(
        benefits_pb2.DeleteBenefitRequest(id=made[0].id), metadata=merchant.metadata()
    )
    again = await merchant.benefit("seats")
    assert again.id != made[0].id


async def test_an_update_changes_what_it_may_and_refuses_the_rest(merchant: Merchant) -> None:
    meter = await merchant.new_meter()
    credits = await merchant.benefit(
        "api_calls",
        type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
        meter_credits=benefits_pb2.MeterCreditsProperties(meter_id=meter, units="100"),
    )
    changed = await merchant.benefits.UpdateBenefit(
        benefits_pb2.UpdateBenefitRequest(
            benefit=benefits_pb2.Benefit(
                id=credits.id,
                description="More calls",
                meter_credits=benefits_pb2.MeterCreditsProperties(meter_id=meter, units="250"),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["description", "meter_credits"]),
        ),
        metadata=merchant.metadata(),
    )
    assert (changed.description, changed.meter_credits.units) == ("More calls", "250")
    for benefit, paths, field in (
        (benefits_pb2.Benefit(id=credits.id, key="other"), ["key"], "benefit.key"),
        (
            benefits_pb2.Benefit(id=credits.id, type=benefits_pb2.BENEFIT_TYPE_CUSTOM),
            ["type"],
            "benefit.type",
        ),
        (
            benefits_pb2.Benefit(
                id=credits.id,
                meter_credits=benefits_pb2.MeterCreditsProperties(
                    meter_id="0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", units="5"
                ),
            ),
            ["meter_credits"],
            "benefit.meter_credits.meter_id",
        ),
        (
            benefits_pb2.Benefit(id=credits.id, custom=benefits_pb2.CustomProperties(note="n")),
            ["custom"],
            "benefit.custom",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await merchant.benefits.UpdateBenefit(
                benefits_pb2.UpdateBenefitRequest(
                    benefit=benefit, update_mask=field_mask_pb2.FieldMask(paths=paths)
                ),
                metadata=merchant.metadata(),
            )
        assert field in call_error(raised.value).fields
    got = await merchant.benefits.GetBenefit(
        benefits_pb2.GetBenefitRequest(id=credits.id), metadata=merchant.metadata()
    )
    assert got == changed


async def test_another_organizations_benefit_is_not_found(
    merchant: Merchant,
    entitlements_service: RunningService,
    servers: SessionServers,
    metering_address: str,
) -> None:
    benefit = await merchant.benefit("private")
    other = Merchant(entitlements_service, servers.nats_url, metering_address)
    for call, request in (
        (other.benefits.GetBenefit, benefits_pb2.GetBenefitRequest(id=benefit.id)),
        (other.benefits.DeleteBenefit, benefits_pb2.DeleteBenefitRequest(id=benefit.id)),
        (
            other.benefits.UpdateBenefit,
            benefits_pb2.UpdateBenefitRequest(
                benefit=benefits_pb2.Benefit(id=benefit.id, description="mine"),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            ),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=other.metadata())  # type: ignore[operator]
        assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    listed = await other.benefits.ListBenefits(
        benefits_pb2.ListBenefitsRequest(), metadata=other.metadata()
    )
    assert list(listed.benefits) == []
    still = await merchant.benefits.GetBenefit(
        benefits_pb2.GetBenefitRequest(id=benefit.id), metadata=merchant.metadata()
    )
    assert still == benefit


async def test_a_meter_credits_benefit_must_name_a_meter_of_its_organization(
    merchant: Merchant,
    entitlements_service: RunningService,
    servers: SessionServers,
    metering_address: str,
) -> None:
    other = Merchant(entitlements_service, servers.nats_url, metering_address)
    theirs = await other.new_meter()
    for meter_id in (theirs, METER):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await merchant.benefit(
                "api_calls",
                type=benefits_pb2.BENEFIT_TYPE_METER_CREDITS,
                meter_credits=benefits_pb2.MeterCreditsProperties(meter_id=meter_id, units="5"),
            )
        assert raised.value.code() is grpc.StatusCode.NOT_FOUND
        assert call_error(raised.value).reason == "METER_NOT_FOUND"
