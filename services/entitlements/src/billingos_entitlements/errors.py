"""The entitlements context's own domain errors."""

from __future__ import annotations

from billingos_kit.errors import AlreadyExists, NotFound


class KeyTaken(AlreadyExists):
    def __init__(self) -> None:
        super().__init__(
            "benefit.key",
            "is already the key of another of the organization's benefits",
            reason="BENEFIT_KEY_ALREADY_EXISTS",
        )


class MeterNotFound(NotFound):
    """A meter-credits benefit names a meter its organization does not have."""

    def __init__(self, meter_id: str) -> None:
        super().__init__("meter", meter_id)
