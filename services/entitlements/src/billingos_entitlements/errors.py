"""The entitlements context's own domain errors."""

from __future__ import annotations

from billingos_kit.errors import AlreadyExists


class KeyTaken(AlreadyExists):
    def __init__(self) -> None:
        super().__init__(
            "benefit.key",
            "is already the key of another of the organization's benefits",
            reason="BENEFIT_KEY_ALREADY_EXISTS",
        )
