"""Input rules many contexts share (text lengths, metadata bounds), each
returning field violations so a service reports every bad field at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from billingos_kit.errors import FieldViolation, ValidationFailed
from billingos_kit.protoconv import MetadataValue

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_STRING_LENGTH = 500


@dataclass
class Violations:
    """Collects violations; `raise_if_any` ends validation with all of them."""

    found: list[FieldViolation]

    def __init__(self) -> None:
        self.found = []

    def add(self, field: str, description: str) -> None:
        self.found.append(FieldViolation(field, description))

    def extend(self, violations: list[FieldViolation]) -> None:
        self.found.extend(violations)

    def raise_if_any(self) -> None:
        if self.found:
            raise ValidationFailed(self.found)


def check_text(
    violations: Violations, field: str, value: str, *, max_length: int, required: bool = False
) -> None:
    if required and not value.strip():
        violations.add(field, "is required")
    elif len(value) > max_length:
        violations.add(field, f"must be at most {max_length} characters")


def check_metadata(
    violations: Violations, field: str, metadata: Mapping[str, MetadataValue]
) -> None:
    """Stripe-like bounds: 50 keys, 40-character keys, 500-character strings."""
    if len(metadata) > MAX_METADATA_KEYS:
        violations.add(field, f"must have at most {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            violations.add(
                f"{field}.{key}", f"keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters"
            )
        if isinstance(value, str) and len(value) > MAX_METADATA_STRING_LENGTH:
            violations.add(
                f"{field}.{key}", f"must be at most {MAX_METADATA_STRING_LENGTH} characters"
            )
