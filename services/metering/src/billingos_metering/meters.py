"""Meters (meters.proto): which usage events count, and how. A meter reads
the events already stored as well as the ones to come: quantities are
computed from the events at read time, and a new meter's customer meters are
caught up by the balance worker from the first event on. A new filter or
aggregation recounts every customer meter of the meter (credits and windows
stay). Works in the caller's scope; raises domain errors; knows no protobuf."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from billingos_kit.errors import FailedPrecondition
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.validation import Violations, check_text
from billingos_metering import events
from billingos_metering.filters import (
    Aggregation,
    Filter,
    check_aggregation,
    check_filter,
    filter_from_json,
    filter_to_json,
)
from billingos_metering.models import MeterRow
from billingos_metering.progress import global_progress
from billingos_metering.repository import CustomerMeterRepository, MeterFilter, MeterRepository
from billingos_metering.store import MeterSpec
from billingos_metering.vocabulary import Function

MAX_NAME_LENGTH = 256

METER_MASK = UpdateMask(
    "meter",
    updatable=("name", "filter", "aggregation", "archived"),
    immutable={
        "id": "is assigned by the server",
        "organization_id": "is assigned by the server",
        "create_time": "is assigned by the server",
        "update_time": "is assigned by the server",
    },
)


@dataclass(frozen=True)
class MeterDraft:
    name: str
    # None where the request left it out (a create then refuses it).
    filter: Filter | None
    aggregation: Aggregation | None
    archived: bool


def spec_of(meter: MeterRow) -> MeterSpec:
    return MeterSpec(
        filter=filter_from_json(meter.filter),
        aggregation=Aggregation(Function(meter.aggregation_function), meter.aggregation_property),
    )


def _check(violations: Violations, draft: MeterDraft, paths: Sequence[str]) -> None:
    if "name" in paths:
        before = len(violations.found)
        check_text(violations, "meter.name", draft.name, max_length=MAX_NAME_LENGTH, required=True)
        # Stricter than the kit's rule (every formatting character: a meter's
        # name is an identifier in reports), said once.
        if len(violations.found) == before and any(
            unicodedata.category(char) in ("Cc", "Cf") for char in draft.name
        ):
            violations.add("meter.name", "must not contain control or formatting characters")
    if "filter" in paths:
        if draft.filter is None:
            violations.add("meter.filter", "is required")
        else:
            check_filter(violations, "meter.filter", draft.filter)
    if "aggregation" in paths:
        if draft.aggregation is None:
            violations.add("meter.aggregation", "is required")
        else:
            check_aggregation(violations, "meter.aggregation", draft.aggregation)


class MeterService:
    def __init__(self, scope: CallScope, max_meters: int = 100) -> None:
        self._scope = scope
        self._meters = MeterRepository(scope)
        self._max_meters = max_meters

    async def _check_room(self) -> None:
        """At most `max_meters` unarchived meters (one create or unarchive of
        the organization at a time, so two cannot both take the last place)."""
        connection = await self._scope.connection()
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext('metering.meters:' || $1::text))",
            str(self._scope.organization_id),
        )
        count = await connection.fetchval(
            "SELECT count(*) FROM metering.meters WHERE organization_id = $1"
            " AND archived_at IS NULL",
            self._scope.organization_id,
        )
        if count >= self._max_meters:
            raise FailedPrecondition(
                f"the organization has {count} meters; at most {self._max_meters} may be"
                " unarchived (archive one first)",
                reason="METER_LIMIT_REACHED",
            )

    async def create(self, draft: MeterDraft) -> MeterRow:
        violations = Violations()
        _check(violations, draft, ("name", "filter", "aggregation"))
        violations.raise_if_any()
        if not draft.archived:
            await self._check_room()
        assert draft.filter is not None
        assert draft.aggregation is not None
        now = self._scope.clock.now()
        meter = MeterRow(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            name=draft.name.strip(),
            filter=filter_to_json(draft.filter),
            aggregation_function=draft.aggregation.function.value,
            aggregation_property=draft.aggregation.key,
            archived_at=now if draft.archived else None,
            # From the first event on: the balance worker catches it up.
            counted_watermark=0,
            created_at=now,
            updated_at=now,
        )
        await self._meters.insert(meter)
        await self._scope.outbox.add(events.meter_created(meter))
        return meter

    async def get(self, meter_id: uuid.UUID, *, for_update: bool = False) -> MeterRow:
        return await self._meters.require(meter_id, for_update=for_update)

    async def list_page(self, where: MeterFilter, page: PageRequest) -> Page[MeterRow]:
        return await self._meters.page(where, page)

    async def update(
        self, meter_id: uuid.UUID, draft: MeterDraft, paths: Sequence[str]
    ) -> MeterRow:
        """Applies the fields in `paths`. Archiving announces `meter.archived`;
        any other change `meter.updated`; no change, nothing."""
        meter = await self._meters.require(meter_id, for_update=True)
        violations = Violations()
        _check(violations, draft, paths)
        violations.raise_if_any()
        changed: list[str] = []
        columns: list[str] = []
        recount = False
        if "name" in paths and draft.name.strip() != meter.name:
            meter.name = draft.name.strip()
            changed.append("name")
            columns.append("name")
        if "filter" in paths and draft.filter is not None:
            stored = filter_to_json(draft.filter)
            if stored != meter.filter:
                meter.filter = stored
                changed.append("filter")
                columns.append("filter")
                recount = True
        if "aggregation" in paths and draft.aggregation is not None:
            function, key = draft.aggregation.function.value, draft.aggregation.key
            if (function, key) != (meter.aggregation_function, meter.aggregation_property):
                meter.aggregation_function, meter.aggregation_property = function, key
                changed.append("aggregation")
                columns += ["aggregation_function", "aggregation_property"]
                recount = True
        archiving = "archived" in paths and (meter.archived_at is not None) != draft.archived
        if archiving and not draft.archived:
            await self._check_room()
        now = self._scope.clock.now()
        if archiving:
            meter.archived_at = now if draft.archived else None
            changed.append("archived")
            columns.append("archived_at")
            if draft.archived and meter.counted_watermark is None:
                # Counting stops here; unarchiving catches up from here.
                connection = await self._scope.connection()
                meter.counted_watermark = await global_progress(connection)
                columns.append("counted_watermark")
        if not changed:
            return meter
        if recount:
            # Every customer meter counts again from its window's start.
            meter.counted_watermark = 0
            columns.append("counted_watermark")
            await CustomerMeterRepository(self._scope).clear_counts(meter.id)
        meter.updated_at = now
        await self._meters.update(meter, [*dict.fromkeys(columns), "updated_at"])
        if archiving and draft.archived:
            await self._scope.outbox.add(events.meter_archived(meter))
            changed.remove("archived")
        if changed:
            await self._scope.outbox.add(events.meter_updated(meter, changed))
        return meter


def require_unarchived(meter: MeterRow, field: str) -> None:
    if meter.archived_at is not None:
        raise FailedPrecondition(
            f"{field}: the meter is archived; unarchive it first", reason="METER_ARCHIVED"
        )
