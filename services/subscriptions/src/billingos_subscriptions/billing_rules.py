"""An organization's billing rules (time zone, proration default, dunning):
read with their defaults, and changed through UpdateBillingSettings."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass

from google.protobuf import field_mask_pb2

from billingos.subscriptions.v1 import subscriptions_pb2
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.repository import DataScope
from billingos_kit.validation import Violations
from billingos_subscriptions.dunning import DunningPolicy
from billingos_subscriptions.models import BillingSettingsRow
from billingos_subscriptions.repository import BillingSettingsRepository
from billingos_subscriptions.vocabulary import DunningFinalAction, ProrationBehavior

MAX_RETRIES = 10
MAX_RETRY_HOURS = 1440
UPDATABLE = ("billing_time_zone", "proration_behavior", "retry_schedule", "dunning_final_action")


@dataclass(frozen=True)
class BillingRules:
    organization_id: uuid.UUID
    time_zone_name: str  # "" for UTC
    proration_behavior: ProrationBehavior
    dunning: DunningPolicy
    custom_retries: bool
    final_action: DunningFinalAction
    updated_at: dt.datetime | None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone_name or "UTC")


def _rules(organization_id: uuid.UUID, row: BillingSettingsRow | None) -> BillingRules:
    if row is None:
        return BillingRules(
            organization_id,
            "",
            ProrationBehavior.NEXT_INVOICE,
            DunningPolicy.default(),
            False,
            DunningFinalAction.CANCEL,
            None,
        )
    dunning = (
        DunningPolicy.default()
        if row.retry_hours is None
        else DunningPolicy(tuple(dt.timedelta(hours=hours) for hours in row.retry_hours))
    )
    return BillingRules(
        organization_id,
        row.billing_time_zone,
        ProrationBehavior(row.proration_behavior),
        dunning,
        row.retry_hours is not None,
        DunningFinalAction(row.dunning_final_action),
        row.updated_at,
    )


async def rules_of(scope: DataScope) -> BillingRules:
    found = await BillingSettingsRepository(scope).find()
    return _rules(scope.organization_id, found)


def _zone_problem(name: str) -> str | None:
    if not name:
        return None
    if name.startswith(("right/", "posix/")) or name in {"localtime", "Factory", "posixrules"}:
        return "must be an IANA time zone of a place, e.g. Europe/Berlin"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "must be an IANA time zone, e.g. Europe/Berlin"
    return None


async def update_rules(
    scope: DataScope,
    now: dt.datetime,
    settings: subscriptions_pb2.BillingSettings,
    mask: field_mask_pb2.FieldMask,
) -> BillingRules:
    current = await rules_of(scope)
    paths = UpdateMask("billing_settings", UPDATABLE).paths(mask, settings)
    violations = Violations()
    zone = current.time_zone_name
    behavior = current.proration_behavior
    retries: list[int] | None = (
        [int(d.total_seconds() // 3600) for d in current.dunning.retry_delays]
        if current.custom_retries
        else None
    )
    final = current.final_action
    if "billing_time_zone" in paths:
        problem = _zone_problem(settings.billing_time_zone)
        if problem:
            violations.add("billing_settings.billing_time_zone", problem)
        zone = settings.billing_time_zone
    if "proration_behavior" in paths:
        try:
            behavior = (
                ProrationBehavior.from_proto(settings.proration_behavior)
                or ProrationBehavior.NEXT_INVOICE
            )
        except ValueError:
            violations.add("billing_settings.proration_behavior", "is not a proration behaviour")
    if "retry_schedule" in paths:
        if settings.HasField("retry_schedule"):
            retries = list(settings.retry_schedule.retry_hours)
            _check_retries(violations, retries)
        else:
            retries = None
    if "dunning_final_action" in paths:
        if settings.dunning_final_action not in subscriptions_pb2.DunningFinalAction.values():
            violations.add("billing_settings.dunning_final_action", "is not a final action")
        final = (
            DunningFinalAction.MARK_UNPAID
            if settings.dunning_final_action == subscriptions_pb2.DUNNING_FINAL_ACTION_MARK_UNPAID
            else DunningFinalAction.CANCEL
        )
    violations.raise_if_any()
    row = BillingSettingsRow(scope.organization_id, zone, behavior.value, retries, final.value, now)
    await BillingSettingsRepository(scope).save(row)
    return _rules(scope.organization_id, row)


def _check_retries(violations: Violations, hours: list[int]) -> None:
    field = "billing_settings.retry_schedule.retry_hours"
    if len(hours) > MAX_RETRIES:
        violations.add(field, f"at most {MAX_RETRIES} retries")
        return
    previous = 0
    for index, value in enumerate(hours):
        if not 1 <= value <= MAX_RETRY_HOURS:
            violations.add(f"{field}[{index}]", f"must be 1 to {MAX_RETRY_HOURS} hours")
        elif value <= previous:
            violations.add(f"{field}[{index}]", "must be later than the retry before it")
        previous = max(previous, value)
