"""What requests ask for, as plain domain inputs (messages.py builds them;
the domain modules check them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from billingos_entitlements.vocabulary import BenefitType
from billingos_kit.protoconv import MetadataValue


@dataclass(frozen=True)
class BenefitDraft:
    """A benefit as asked for. `properties` are the type's, as stored
    (benefit_rules.py says their shape); `properties_type` is the type whose
    properties the request set (None: none set)."""

    type: BenefitType | None
    key: str
    description: str
    properties_type: BenefitType | None
    properties: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
