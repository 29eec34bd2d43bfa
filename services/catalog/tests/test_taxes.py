"""Tax rates and tax settings over gRPC against real Postgres and JetStream:
a rate per country or region, the rate a billing address gets, the
organization's default tax behaviour, and what the invoice arithmetic
computes from them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from decimal import Decimal

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import select

from billingos.catalog.v1 import events_pb2, products_pb2, taxes_pb2, taxes_pb2_grpc
from billingos.common.v1 import address_pb2
from billingos_catalog import models
from billingos_catalog.tax_rules import invoice_tax_rate, line_tax_behavior
from billingos_catalog.vocabulary import TaxBehavior
from billingos_kit.testing.db import rows
from billingos_kit.testing.errors import CallError, call_error
from billingos_kit.testing.events import published_events
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService
from billingos_pricing.invoices import InvoiceLine, LineKind, compute_invoice

TaxStub = taxes_pb2_grpc.TaxServiceStub
Rate = taxes_pb2.TaxRate
INCLUSIVE = products_pb2.TAX_BEHAVIOR_INCLUSIVE
EXCLUSIVE = products_pb2.TAX_BEHAVIOR_EXCLUSIVE


async def new_rate(taxes: TaxStub, tenant, **fields: object) -> Rate:
    values: dict[str, object] = {"display_name": "VAT", "country": "FR", "percentage": "20"}
    values.update(fields)
    return await taxes.CreateTaxRate(
        taxes_pb2.CreateTaxRateRequest(tax_rate=Rate(**values)), metadata=tenant.metadata()
    )


async def resolve(
    taxes: TaxStub, tenant, country: str, state: str = ""
) -> taxes_pb2.ResolveTaxRateResponse:
    return await taxes.ResolveTaxRate(
        taxes_pb2.ResolveTaxRateRequest(address=address_pb2.Address(country=country, state=state)),
        metadata=tenant.metadata(),
    )


async def refusal(call: Awaitable[object]) -> CallError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return call_error(refused.value)


async def stored_rate(service: RunningService, rate_id: str) -> models.TaxRate:
    [record] = await rows(
        service.app.database,
        select(models.tax_rates).where(models.tax_rates.c.id == uuid.UUID(rate_id)),
    )
    return models.TaxRate(**record)


# ---- rates -------------------------------------------------------------------


async def test_a_rate_is_created_read_listed_updated_and_deleted(
    taxes: TaxStub, tenant, servers: SessionServers
) -> None:
    created = await new_rate(taxes, tenant, country="fr", percentage="20.0", inclusive=True)
    assert (created.country, created.region, created.percentage) == ("FR", "", "20")
    assert created.inclusive
    assert (
        await taxes.GetTaxRate(
            taxes_pb2.GetTaxRateRequest(id=created.id), metadata=tenant.metadata()
        )
        == created
    )
    california = await new_rate(
        taxes, tenant, display_name="Sales tax", country="US", region="ca", percentage="7.25"
    )
    assert california.region == "CA"
    listed = await taxes.ListTaxRates(taxes_pb2.ListTaxRatesRequest(), metadata=tenant.metadata())
    assert [r.id for r in listed.tax_rates] == [california.id, created.id]
    french = await taxes.ListTaxRates(
        taxes_pb2.ListTaxRatesRequest(country="fr"), metadata=tenant.metadata()
    )
    assert [r.id for r in french.tax_rates] == [created.id]

    updated = await taxes.UpdateTaxRate(
        taxes_pb2.UpdateTaxRateRequest(
            tax_rate=Rate(id=created.id, percentage="5.5", display_name="TVA réduite"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "percentage"]),
        ),
        metadata=tenant.metadata(),
    )
    assert (updated.percentage, updated.display_name) == ("5.5", "TVA réduite")
    announced = await published_events(
        servers.nats_url, "billingos.catalog.tax_rate.updated", tenant.organization_id
    )
    payload = events_pb2.TaxRateUpdatedEvent()
    assert announced[0].data.Unpack(payload)
    assert payload.tax_rate == updated
    assert list(payload.update_mask.paths) == ["display_name", "percentage"]

    deleted = await taxes.DeleteTaxRate(
        taxes_pb2.DeleteTaxRateRequest(id=created.id), metadata=tenant.metadata()
    )
    assert deleted.id == created.id
    gone = await refusal(
        taxes.GetTaxRate(taxes_pb2.GetTaxRateRequest(id=created.id), metadata=tenant.metadata())
    )
    assert gone.code == grpc.StatusCode.NOT_FOUND
    again = await new_rate(taxes, tenant)
    assert again.id != created.id


async def test_one_rate_per_country_and_region(taxes: TaxStub, tenant, other_tenant) -> None:
    await new_rate(taxes, tenant)
    await new_rate(taxes, tenant, country="US", region="NY", percentage="8.875")
    country = await refusal(new_rate(taxes, tenant, percentage="10"))
    assert country.code == grpc.StatusCode.ALREADY_EXISTS
    assert country.reason == "TAX_RATE_ALREADY_EXISTS"
    assert country.fields == ["tax_rate.country"]
    region = await refusal(new_rate(taxes, tenant, country="us", region="ny", percentage="4"))
    assert region.fields == ["tax_rate.region"]
    assert (await new_rate(taxes, tenant, country="US", percentage="0")).region == ""
    assert (await new_rate(taxes, other_tenant)).country == "FR"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"percentage": "100.5"}, "tax_rate.percentage"),
        ({"percentage": "-1"}, "tax_rate.percentage"),
        ({"percentage": "8.87501"}, "tax_rate.percentage"),
        ({"percentage": "2e1"}, "tax_rate.percentage"),
        ({"percentage": ""}, "tax_rate.percentage"),
        ({"country": "XX"}, "tax_rate.country"),
        ({"country": "FRA"}, "tax_rate.country"),
        ({"country": "\u0192r"}, "tax_rate.country"),
        ({"region": "CALI"}, "tax_rate.region"),
        ({"region": "C A"}, "tax_rate.region"),
        ({"display_name": " "}, "tax_rate.display_name"),
    ],
    ids=[
        "above-100",
        "negative",
        "5-places",
        "exponent",
        "no-percentage",
        "unassigned-country",
        "alpha-3",
        "lookalike-country",
        "long-region",
        "space-in-region",
        "blank-name",
    ],
)
async def test_bad_rates_name_the_field(
    taxes: TaxStub, tenant, fields: dict[str, object], field: str
) -> None:
    error = await refusal(new_rate(taxes, tenant, **fields))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]


async def test_a_rates_place_cannot_change(taxes: TaxStub, tenant) -> None:
    rate = await new_rate(taxes, tenant)
    error = await refusal(
        taxes.UpdateTaxRate(
            taxes_pb2.UpdateTaxRateRequest(
                tax_rate=Rate(id=rate.id, country="DE"),
                update_mask=field_mask_pb2.FieldMask(paths=["country"]),
            ),
            metadata=tenant.metadata(),
        )
    )
    assert error.fields == ["tax_rate.country"]


# ---- which rate applies ------------------------------------------------------


async def test_an_address_gets_its_regions_rate_else_its_countrys_else_none(
    taxes: TaxStub, tenant
) -> None:
    federal = await new_rate(taxes, tenant, display_name="Sales tax", country="US", percentage="5")
    new_york = await new_rate(
        taxes, tenant, display_name="NY sales tax", country="US", region="NY", percentage="8.875"
    )
    assert (await resolve(taxes, tenant, "US", "ny")).tax_rate == new_york
    assert (await resolve(taxes, tenant, "us", "TX")).tax_rate == federal
    assert (await resolve(taxes, tenant, "US")).tax_rate == federal
    none = await resolve(taxes, tenant, "DE", "BY")
    assert not none.HasField("tax_rate")
    bad = await refusal(resolve(taxes, tenant, "Germany"))
    assert bad.fields == ["address.country"]
    lookalike = await refusal(resolve(taxes, tenant, "\u0441a"))  # Cyrillic "с"
    assert lookalike.fields == ["address.country"]


async def test_an_addresss_state_is_a_subdivision_code_or_refused(taxes: TaxStub, tenant) -> None:
    await new_rate(taxes, tenant, display_name="Sales tax", country="US", percentage="0")
    california = await new_rate(
        taxes, tenant, display_name="CA sales tax", country="US", region="ca", percentage="7.25"
    )
    assert (await resolve(taxes, tenant, "US", "us-ca")).tax_rate == california
    assert (await resolve(taxes, tenant, "US", " US-CA ")).tax_rate == california
    for state in ["California", "\uff23\uff21", "FR-CA", "US-", "C A", "US-California"]:
        error = await refusal(resolve(taxes, tenant, "US", state))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, state
        assert error.fields == ["address.state"], state


async def test_a_resolved_rate_is_what_the_invoice_arithmetic_takes(
    taxes: TaxStub, catalog_service: RunningService, tenant
) -> None:
    """The rate an address gets, given to billingos_pricing.invoices with each
    line's tax behaviour as catalog says (the price's, else the default)."""
    exclusive = await new_rate(taxes, tenant, country="DE", percentage="19")
    inclusive = await new_rate(taxes, tenant, country="GB", percentage="20", inclusive=True)

    german = invoice_tax_rate(await stored_rate(catalog_service, exclusive.id))
    invoice = compute_invoice(
        "EUR",
        [
            InvoiceLine(
                "plan",
                LineKind.PLAN,
                10_000,
                tax_behavior=line_tax_behavior(TaxBehavior.UNSPECIFIED, TaxBehavior.UNSPECIFIED),
            ),
            InvoiceLine(
                "seats",
                LineKind.SEATS,
                11_900,
                tax_behavior=line_tax_behavior(TaxBehavior.INCLUSIVE, TaxBehavior.EXCLUSIVE),
            ),
        ],
        tax_rate=german,
    )
    assert invoice.line("plan").tax == 1900  # 19 % on top: the rate is exclusive
    assert invoice.line("seats").tax == 1900  # inside 119.00: the price is inclusive
    assert invoice.total == 10_000 + 1900 + 11_900

    british = invoice_tax_rate(await stored_rate(catalog_service, inclusive.id))
    assert british.percent == Decimal(20)
    defaulted = compute_invoice(
        "GBP",
        [
            InvoiceLine(
                "plan",
                LineKind.PLAN,
                12_000,
                tax_behavior=line_tax_behavior(TaxBehavior.UNSPECIFIED, TaxBehavior.EXCLUSIVE),
            )
        ],
        tax_rate=british,
    )
    assert defaulted.line("plan").tax == 2400  # the organization's default: on top
    assert defaulted.total == 14_400


# ---- settings ----------------------------------------------------------------


async def test_the_default_tax_behaviour_is_unspecified_until_chosen(
    taxes: TaxStub, tenant, servers: SessionServers
) -> None:
    initial = await taxes.GetTaxSettings(
        taxes_pb2.GetTaxSettingsRequest(), metadata=tenant.metadata()
    )
    assert initial.id == str(tenant.organization_id)
    assert initial.default_tax_behavior == products_pb2.TAX_BEHAVIOR_UNSPECIFIED
    assert not initial.HasField("update_time")
    chosen = await taxes.UpdateTaxSettings(
        taxes_pb2.UpdateTaxSettingsRequest(
            tax_settings=taxes_pb2.TaxSettings(default_tax_behavior=INCLUSIVE)
        ),
        metadata=tenant.metadata(),
    )
    assert chosen.default_tax_behavior == INCLUSIVE
    assert chosen.HasField("update_time")
    assert (
        await taxes.GetTaxSettings(taxes_pb2.GetTaxSettingsRequest(), metadata=tenant.metadata())
    ) == chosen
    resolved = await resolve(taxes, tenant, "FR")
    assert resolved.default_tax_behavior == INCLUSIVE
    back = await taxes.UpdateTaxSettings(
        taxes_pb2.UpdateTaxSettingsRequest(
            tax_settings=taxes_pb2.TaxSettings(),
            update_mask=field_mask_pb2.FieldMask(paths=["default_tax_behavior"]),
        ),
        metadata=tenant.metadata(),
    )
    assert back.default_tax_behavior == products_pb2.TAX_BEHAVIOR_UNSPECIFIED
    found = await published_events(
        servers.nats_url,
        "billingos.catalog.tax_settings.updated",
        tenant.organization_id,
        at_least=2,
    )
    behaviours = []
    for envelope in found:
        payload = events_pb2.TaxSettingsUpdatedEvent()
        assert envelope.data.Unpack(payload)
        behaviours.append(payload.tax_settings.default_tax_behavior)
    assert behaviours == [INCLUSIVE, products_pb2.TAX_BEHAVIOR_UNSPECIFIED]


async def test_an_unknown_default_is_refused(taxes: TaxStub, tenant) -> None:
    error = await refusal(
        taxes.UpdateTaxSettings(
            taxes_pb2.UpdateTaxSettingsRequest(
                tax_settings=taxes_pb2.TaxSettings(default_tax_behavior=7),
                update_mask=field_mask_pb2.FieldMask(paths=["default_tax_behavior"]),
            ),
            metadata=tenant.metadata(),
        )
    )
    assert error.fields == ["tax_settings.default_tax_behavior"]


async def test_another_organizations_rates_are_not_found(
    taxes: TaxStub, tenant, other_tenant
) -> None:
    theirs = await new_rate(taxes, other_tenant)
    error = await refusal(
        taxes.GetTaxRate(taxes_pb2.GetTaxRateRequest(id=theirs.id), metadata=tenant.metadata())
    )
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert not (await resolve(taxes, tenant, "FR")).HasField("tax_rate")


async def test_creating_a_rate_with_an_idempotency_key_creates_once(
    taxes: TaxStub, catalog_service: RunningService, tenant
) -> None:
    request = taxes_pb2.CreateTaxRateRequest(
        tax_rate=Rate(display_name="VAT", country="IT", percentage="22")
    )
    first = await taxes.CreateTaxRate(request, metadata=tenant.metadata("rate-1"))
    again = await taxes.CreateTaxRate(request, metadata=tenant.metadata("rate-1"))
    assert again == first
    listed = await taxes.ListTaxRates(taxes_pb2.ListTaxRatesRequest(), metadata=tenant.metadata())
    assert [r.id for r in listed.tax_rates] == [first.id]


async def test_a_negative_zero_percentage_is_zero(taxes: TaxStub, tenant) -> None:
    """ "-0" is 0: stored and echoed as "0", never as "-0"."""
    rate = await new_rate(taxes, tenant, percentage="-0.00")
    assert rate.percentage == "0"
