"""Benefits (benefits.proto): what customers of the products a benefit is
attached to are granted. Works in the caller's scope; raises domain errors;
knows no protobuf. The field rules are in benefit_rules.py.

A key is unique among the organization's live benefits (the unique index
decides: of concurrent creates one wins, the others are told
BENEFIT_KEY_ALREADY_EXISTS). A type and a key never change: a merchant's app
checks the key, and grants carry what the type gives. Deleting revokes every
grant of the benefit in the same transaction (each announced); the catalog
hears `benefit.deleted` and detaches it from its products."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from billingos_entitlements import benefit_rules, events
from billingos_entitlements.clients import MeteringClient
from billingos_entitlements.drafts import BenefitDraft
from billingos_entitlements.errors import MeterNotFound
from billingos_entitlements.grants import Grants
from billingos_entitlements.models import Benefit
from billingos_entitlements.repository import BenefitFilter, BenefitRepository
from billingos_entitlements.vocabulary import BenefitType
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.repository import apply_changes
from billingos_kit.validation import Violations, check_metadata

_FIXED = "cannot change once created: a merchant's app and the grants depend on it"
BENEFIT_MASK = UpdateMask(
    "benefit",
    updatable=(
        "description",
        "feature_flag",
        "meter_credits",
        "license_keys",
        "custom",
        "metadata",
    ),
    immutable={"type": _FIXED, "key": _FIXED},
)
_PROPERTIES = {kind.value for kind in BenefitType}


class BenefitService:
    """Benefits of the scope's organization."""

    def __init__(self, scope: CallScope, metering: MeteringClient) -> None:
        self._scope = scope
        self._metering = metering
        self._benefits = BenefitRepository(scope)

    async def create(self, draft: BenefitDraft) -> Benefit:
        """Creates a benefit; announces `benefit.created`."""
        violations = Violations()
        benefit_rules.check_new(violations, draft)
        violations.raise_if_any()
        assert draft.type is not None  # check_new refuses a draft without
        properties = benefit_rules.stored_properties(draft.type, draft.properties)
        if draft.type is BenefitType.METER_CREDITS:
            await self._require_meter(uuid.UUID(properties["meter_id"]))
        now = self._scope.clock.now()
        benefit = Benefit(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            type=draft.type.value,
            key=draft.key,
            description=draft.description.strip(),
            properties=properties,
            metadata=dict(draft.metadata),
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        await self._benefits.insert(benefit)
        await self._scope.outbox.add(events.benefit_created(benefit))
        return benefit

    async def _require_meter(self, meter_id: uuid.UUID) -> None:
        """A meter of this organization's (another's looks like none)."""
        if not await self._metering.has_meter(self._scope.organization_id, meter_id):
            raise MeterNotFound(str(meter_id))

    async def get(self, benefit_id: uuid.UUID, *, for_update: bool = False) -> Benefit:
        """A live benefit (`for_update` locks it for the update that follows)."""
        return await self._benefits.require(benefit_id, for_update=for_update)

    async def get_any(self, benefit_id: uuid.UUID) -> Benefit:
        """The benefit, deleted or not."""
        found = await self._benefits.get_any(benefit_id)
        if found is None:
            raise self._benefits.not_found(str(benefit_id))
        return found

    async def list_page(self, where: BenefitFilter, page: PageRequest) -> Page[Benefit]:
        """One page of live benefits, newest first; changes nothing."""
        if where.key is not None:
            violations = Violations()
            benefit_rules.BENEFIT_KEY.check(violations, "key", where.key)
            violations.raise_if_any()
        return await self._benefits.page(where, page)

    async def update(
        self, benefit_id: uuid.UUID, draft: BenefitDraft, paths: Sequence[str]
    ) -> Benefit:
        """Applies the fields named in `paths` (BENEFIT_MASK's); announces
        `benefit.updated` with the paths that changed, nothing if none did.
        Properties are the benefit's type's, given whole; a meter credit's
        meter never changes (its grants' credits are on it)."""
        benefit = await self._benefits.require(benefit_id, for_update=True)
        kind = BenefitType(benefit.type)
        violations = Violations()
        wanted: dict[str, object] = {}
        for path in paths:
            if path == "description":
                benefit_rules.check_description(violations, draft.description)
                wanted["description"] = draft.description.strip()
            elif path == "metadata":
                check_metadata(violations, "benefit.metadata", draft.metadata)
                wanted["metadata"] = dict(draft.metadata)
            elif path in _PROPERTIES:
                if path != kind.value:
                    violations.add(
                        f"benefit.{path}", f"is not a property of a {kind.value} benefit"
                    )
                    continue
                benefit_rules.check_properties(violations, kind, draft.properties)
                if violations.found:
                    continue
                stored = benefit_rules.stored_properties(kind, draft.properties)
                if kind is BenefitType.METER_CREDITS and (
                    stored["meter_id"] != benefit.properties["meter_id"]
                ):
                    violations.add(
                        "benefit.meter_credits.meter_id",
                        "cannot change once created; create a new benefit for another meter",
                    )
                wanted["properties"] = stored
        violations.raise_if_any()
        changed = apply_changes(benefit, wanted)
        if not changed:
            return benefit
        benefit.updated_at = self._scope.clock.now()
        await self._benefits.update(benefit, [*changed, "updated_at"])
        paths_changed = [kind.value if c == "properties" else c for c in changed]
        await self._scope.outbox.add(events.benefit_updated(benefit, paths_changed))
        await Grants(self._scope).benefit_changed(benefit)
        return benefit

    async def delete(self, benefit_id: uuid.UUID) -> Benefit:
        """Soft-deletes (its key becomes free) and revokes every grant of it;
        announces `benefit.deleted` and each `benefit_grant.revoked`."""
        benefit = await self._benefits.require(benefit_id, for_update=True)
        now = self._scope.clock.now()
        await self._benefits.soft_delete(benefit, now)
        await self._scope.outbox.add(events.benefit_deleted(benefit))
        await Grants(self._scope).benefit_deleted(benefit, now)
        return benefit
