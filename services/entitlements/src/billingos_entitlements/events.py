"""The event messages the entitlements context publishes (events.proto)."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import field_mask_pb2

from billingos.entitlements.v1 import events_pb2
from billingos_entitlements.messages import benefit_message, grant_message
from billingos_entitlements.models import Benefit, BenefitGrant


def benefit_created(benefit: Benefit) -> events_pb2.BenefitCreatedEvent:
    return events_pb2.BenefitCreatedEvent(benefit=benefit_message(benefit))


def benefit_updated(benefit: Benefit, paths: Sequence[str]) -> events_pb2.BenefitUpdatedEvent:
    return events_pb2.BenefitUpdatedEvent(
        benefit=benefit_message(benefit), update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )


def benefit_deleted(benefit: Benefit) -> events_pb2.BenefitDeletedEvent:
    return events_pb2.BenefitDeletedEvent(benefit=benefit_message(benefit))


def grant_granted(grant: BenefitGrant, benefit: Benefit) -> events_pb2.BenefitGrantGrantedEvent:
    return events_pb2.BenefitGrantGrantedEvent(benefit_grant=grant_message(grant, benefit))


def grant_revoked(grant: BenefitGrant, benefit: Benefit) -> events_pb2.BenefitGrantRevokedEvent:
    return events_pb2.BenefitGrantRevokedEvent(benefit_grant=grant_message(grant, benefit))


def grant_updated(grant: BenefitGrant, benefit: Benefit) -> events_pb2.BenefitGrantUpdatedEvent:
    return events_pb2.BenefitGrantUpdatedEvent(benefit_grant=grant_message(grant, benefit))
