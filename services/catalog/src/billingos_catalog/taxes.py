"""Tax rates and tax settings (taxes.proto): an organization's rate per
country or region of one, the rate a billing address gets, and the default
tax behaviour of prices that chose none. The rules are in tax_rules.py.
Works in the caller's scope; raises domain errors; knows no protobuf.

One live rate per organization, country and region: the unique index
decides (TAX_RATE_ALREADY_EXISTS on the region, or on the country for a
country-wide rate). Deleting frees the place; a rate's place never changes
(a rate for another place is another rate)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from billingos_catalog import events
from billingos_catalog.drafts import BillingAddress, TaxRateDraft
from billingos_catalog.errors import TaxRateTaken
from billingos_catalog.models import TaxRate, TaxSettings
from billingos_catalog.repository import TaxRateFilter, TaxRateRepository, TaxSettingsRepository
from billingos_catalog.tax_rules import (
    AT,
    applicable_rate,
    check_created,
    check_fields,
    country_code,
    percentage,
    region_code,
)
from billingos_catalog.views import TaxResolution, TaxSettingsView
from billingos_catalog.vocabulary import TaxBehavior
from billingos_kit.errors import InvalidArgument
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.repository import apply_changes
from billingos_kit.validation import Violations

_PLACE = "a rate's place cannot change; create a rate for the other place"
TAX_RATE_MASK = UpdateMask(
    AT,
    updatable=("display_name", "percentage", "inclusive", "metadata"),
    immutable={"country": _PLACE, "region": _PLACE},
)
TAX_SETTINGS_MASK = UpdateMask("tax_settings", updatable=("default_tax_behavior",))


class TaxService:
    """Tax rates and settings of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._rates = TaxRateRepository(scope)
        self._settings = TaxSettingsRepository(scope)

    # ---- rates ------------------------------------------------------------------

    async def create(self, draft: TaxRateDraft) -> TaxRate:
        """Creates a rate for a place that has none; announces `tax_rate.created`."""
        violations = Violations()
        check_created(violations, draft)
        check_fields(violations, draft, TAX_RATE_MASK.updatable)
        violations.raise_if_any()
        country, region, rate = (
            country_code(draft.country),
            region_code(draft.region),
            percentage(draft.percentage),
        )
        assert country is not None
        assert region is not None
        assert rate is not None
        now = self._scope.clock.now()
        row = TaxRate(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            display_name=draft.display_name.strip(),
            country=country,
            region=region,
            percentage=rate,
            inclusive=draft.inclusive,
            metadata=draft.metadata,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        try:
            await self._rates.insert(row)
        except TaxRateTaken:
            raise TaxRateTaken(f"{AT}.region" if region else f"{AT}.country") from None
        await self._scope.outbox.add(events.tax_rate_created(row))
        return row

    async def get(self, rate_id: uuid.UUID, *, for_update: bool = False) -> TaxRate:
        """A live rate; changes nothing."""
        return await self._rates.require(rate_id, for_update=for_update)

    async def list_page(self, where: TaxRateFilter, page: PageRequest) -> Page[TaxRate]:
        """One page of live rates, newest first; changes nothing."""
        return await self._rates.page(where, page)

    async def update(
        self, rate_id: uuid.UUID, draft: TaxRateDraft, paths: Sequence[str]
    ) -> TaxRate:
        """Applies the fields named in `paths` (TAX_RATE_MASK's); announces
        `tax_rate.updated` with the paths that changed, nothing if none did.
        Invoices already made keep the tax they computed."""
        violations = Violations()
        check_fields(violations, draft, paths)
        violations.raise_if_any()
        rate = await self._rates.require(rate_id, for_update=True)
        wanted: dict[str, object] = {
            "display_name": draft.display_name.strip(),
            "percentage": percentage(draft.percentage),
            "inclusive": draft.inclusive,
            "metadata": draft.metadata,
        }
        changed = apply_changes(rate, {path: wanted[path] for path in paths})
        if not changed:
            return rate
        rate.updated_at = self._scope.clock.now()
        await self._rates.update(rate, [*changed, "updated_at"])
        await self._scope.outbox.add(events.tax_rate_updated(rate, changed))
        return rate

    async def delete(self, rate_id: uuid.UUID) -> TaxRate:
        """Soft-deletes; its place becomes free. Announces `tax_rate.deleted`."""
        rate = await self._rates.require(rate_id, for_update=True)
        await self._rates.soft_delete(rate, self._scope.clock.now())
        await self._scope.outbox.add(events.tax_rate_deleted(rate))
        return rate

    async def resolve(self, address: BillingAddress) -> TaxResolution:
        """The rate a billing address gets (its country and region, as the
        address's `state`, in any ASCII case), and the default tax behaviour.
        Changes nothing."""
        country = country_code(address.country.strip())
        if country is None:
            raise InvalidArgument("address.country", "must be an ISO 3166-1 alpha-2 country code")
        region = _address_region(country, address.state.strip())
        rate = applicable_rate(await self._rates.of_country(country), region)
        settings = await self.settings()
        return TaxResolution(rate, settings.default_tax_behavior)

    # ---- settings ---------------------------------------------------------------

    async def settings(self) -> TaxSettingsView:
        """The organization's settings, or the defaults; changes nothing."""
        return _view(self._scope.organization_id, await self._settings.current())

    async def update_settings(
        self, default_tax_behavior: TaxBehavior | None, paths: Sequence[str]
    ) -> TaxSettingsView:
        """Sets the default tax behaviour; announces `tax_settings.updated`
        when it changed."""
        if "default_tax_behavior" not in paths:
            return await self.settings()
        if default_tax_behavior is None:
            raise InvalidArgument(
                "tax_settings.default_tax_behavior",
                "must be TAX_BEHAVIOR_UNSPECIFIED, _INCLUSIVE or _EXCLUSIVE",
            )
        current = await self._settings.current(for_update=True)
        if _view(self._scope.organization_id, current).default_tax_behavior == default_tax_behavior:
            return _view(self._scope.organization_id, current)
        saved = TaxSettings(
            id=self._scope.organization_id,
            organization_id=self._scope.organization_id,
            default_tax_behavior=default_tax_behavior,
            updated_at=self._scope.clock.now(),
        )
        await self._settings.save(saved)
        view = _view(self._scope.organization_id, saved)
        await self._scope.outbox.add(events.tax_settings_updated(view, ["default_tax_behavior"]))
        return view


def _address_region(country: str, state: str) -> str:
    """The region code of an address's `state`: an ISO 3166-2 subdivision
    code ("CA"), also with its own country's prefix ("US-CA"), in any ASCII
    case; "" for none. Anything else (a full name, a lookalike) is refused,
    never read as "no region": that would silently give the country's rate."""
    prefix = f"{country}-"
    code = state[len(prefix) :] if state[: len(prefix)].upper() == prefix else state
    # A bare "US-" names no subdivision: refused, not read as none.
    region = region_code(code) if code or not state else None
    if region is None:
        raise InvalidArgument(
            "address.state",
            "must be empty or an ISO 3166-2 subdivision code (1 to 3 ASCII letters or digits), "
            'e.g. "CA"',
        )
    return region


def _view(organization_id: uuid.UUID, settings: TaxSettings | None) -> TaxSettingsView:
    if settings is None:
        return TaxSettingsView(organization_id, TaxBehavior.UNSPECIFIED, None)
    return TaxSettingsView(
        organization_id, TaxBehavior(settings.default_tax_behavior), settings.updated_at
    )
