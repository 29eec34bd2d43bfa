"""The check (entitlements.proto): may this customer use this feature now?
Answered from the entitlement view in memory, never the database. An
unknown feature key is an answer (not allowed, UNKNOWN_FEATURE), not an
error; a customer the organization does not have is NOT_FOUND (another
organization's customer looks exactly like a missing one)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from billingos_entitlements.entitlement_view import EntitlementView
from billingos_entitlements.vocabulary import BenefitType, EntitlementReason
from billingos_kit.errors import InvalidArgument, NotFound, Unavailable
from billingos_kit.ids import canonical_id

MAX_FEATURES = 100
MAX_FEATURE_LENGTH = 64
# How long a check waits for a view still loading (a process just started).
READY_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Answer:
    feature: str
    allowed: bool
    reason: EntitlementReason
    benefit_id: uuid.UUID | None = None
    benefit_type: BenefitType | None = None
    meter_id: uuid.UUID | None = None
    balance: str = ""
    credited: str = ""
    consumed: str = ""
    as_of: dt.datetime | None = None


async def current_view(view: EntitlementView) -> None:
    """Refuses to answer from a view still loading (a process just
    started: waits a moment for it) or older than its bound (NATS has not
    confirmed it lately): an answer is never staler than the bound."""
    staleness = view.staleness()
    if staleness is None:
        if not await view.wait_ready(READY_WAIT_SECONDS):
            raise Unavailable("the entitlement view is still loading; retry in a moment")
        return
    if staleness > view.max_staleness_seconds:
        raise Unavailable(
            f"the entitlement view has not been confirmed current for {staleness:.0f} s "
            "(events are not reaching this process); retry in a moment",
            reason="VIEW_STALE",
        )


class EntitlementChecks:
    """Checks for one organization."""

    def __init__(self, view: EntitlementView, organization_id: uuid.UUID) -> None:
        self._view = view
        self._organization_id = organization_id

    async def check(
        self, customer_id: str, external_customer_id: str, features: Sequence[str]
    ) -> list[Answer]:
        if not features:
            raise InvalidArgument("features", "name at least one feature")
        if len(features) > MAX_FEATURES:
            raise InvalidArgument("features", f"name at most {MAX_FEATURES} features")
        for index, feature in enumerate(features):
            if not feature or len(feature) > MAX_FEATURE_LENGTH:
                field = "feature" if len(features) == 1 else f"features[{index}]"
                raise InvalidArgument(field, f"must be 1 to {MAX_FEATURE_LENGTH} characters")
        await current_view(self._view)
        customer = self._customer(customer_id, external_customer_id)
        return [self._answer(customer, feature) for feature in features]

    def _customer(self, customer_id: str, external_customer_id: str) -> uuid.UUID:
        if bool(customer_id) == bool(external_customer_id):
            raise InvalidArgument(
                "customer_id", "name exactly one of customer_id and external_customer_id"
            )
        if external_customer_id:
            found = self._view.customer_by_external_id(self._organization_id, external_customer_id)
            if found is None:
                raise NotFound("customer", external_customer_id)
            return found
        parsed = canonical_id(customer_id)
        if parsed is None:
            raise InvalidArgument("customer_id", "must be a customer id (canonical UUID form)")
        if not self._view.customer(self._organization_id, parsed):
            raise NotFound("customer", customer_id)
        return parsed

    def _answer(self, customer_id: uuid.UUID, feature: str) -> Answer:
        benefit = self._view.benefit(self._organization_id, feature)
        if benefit is None:
            return Answer(feature, False, EntitlementReason.UNKNOWN_FEATURE)
        granted = self._view.is_granted(self._organization_id, customer_id, benefit.id)
        if not granted:
            return Answer(
                feature,
                False,
                EntitlementReason.NOT_GRANTED,
                benefit.id,
                benefit.type,
                benefit.meter_id,
                as_of=benefit.updated,
            )
        if benefit.type is BenefitType.METER_CREDITS and benefit.meter_id is None:
            # Never open by default: a credits benefit without its meter has none.
            return Answer(
                feature, False, EntitlementReason.NO_CREDITS_LEFT, benefit.id, benefit.type
            )
        if benefit.type is not BenefitType.METER_CREDITS or benefit.meter_id is None:
            return Answer(
                feature,
                True,
                EntitlementReason.GRANTED,
                benefit.id,
                benefit.type,
                as_of=benefit.updated,
            )
        meter = self._view.meter(self._organization_id, customer_id, benefit.meter_id)
        balance = _decimal(meter.balance) if meter is not None else Decimal(0)
        return Answer(
            feature,
            balance > 0,
            EntitlementReason.GRANTED if balance > 0 else EntitlementReason.NO_CREDITS_LEFT,
            benefit.id,
            benefit.type,
            benefit.meter_id,
            balance=meter.balance if meter is not None else "0",
            credited=meter.credited if meter is not None else "0",
            consumed=meter.consumed if meter is not None else "0",
            as_of=meter.updated if meter is not None else benefit.updated,
        )


def _decimal(value: str) -> Decimal:
    """A balance as metering wrote it; anything else (NaN too) is none."""
    try:
        found = Decimal(value or "0")
    except InvalidOperation:
        return Decimal(0)
    return found if found.is_finite() else Decimal(0)
