"""The current state of every entity the entitlements context announces,
read from its tables: what seeds the latest-state stream for entities that
last changed before it existed, and what `reseed-state` republishes
(billingos_kit.snapshot)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from google.protobuf.message import Message
from sqlalchemy import select

from billingos_entitlements import events
from billingos_entitlements.models import (
    Benefit,
    BenefitGrant,
    benefit_grants,
    benefits,
)
from billingos_kit.db import Connection
from billingos_kit.snapshot import StateSource, rows_as_states
from billingos_kit.sql import Query

_GRANTS_WITH_BENEFITS = Query.of(
    select(benefit_grants, *[c.label(f"benefit_{c.name}") for c in benefits.c])
    .join(
        benefits,
        (benefits.c.id == benefit_grants.c.benefit_id)
        & (benefits.c.organization_id == benefit_grants.c.organization_id),
    )
    .order_by(benefit_grants.c.id)
)


def benefit_state(benefit: Benefit) -> Message:
    if benefit.deleted_at is None:
        return events.benefit_created(benefit)
    return events.benefit_deleted(benefit)


async def grant_states(connection: Connection) -> AsyncIterator[tuple[Message, uuid.UUID]]:
    grant_columns = [c.name for c in benefit_grants.c]
    async for record in _GRANTS_WITH_BENEFITS.cursor(connection):
        grant = BenefitGrant(**{name: record[name] for name in grant_columns})
        benefit = Benefit(**{c.name: record[f"benefit_{c.name}"] for c in benefits.c})
        state = (
            events.grant_granted(grant, benefit)
            if grant.is_granted
            else events.grant_revoked(grant, benefit)
        )
        yield state, grant.organization_id


def state_sources() -> list[StateSource]:
    return [
        rows_as_states("benefit", benefits, Benefit, benefit_state),
        StateSource("benefit_grant", grant_states),
    ]
