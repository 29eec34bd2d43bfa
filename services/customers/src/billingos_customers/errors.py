"""Errors particular to the customers context."""

from __future__ import annotations

from billingos_kit.errors import AlreadyExists


class ExternalIdTaken(AlreadyExists):
    def __init__(self, field: str) -> None:
        super().__init__(
            field, "is already used by another customer", reason="EXTERNAL_ID_ALREADY_EXISTS"
        )


class SlugTaken(AlreadyExists):
    def __init__(self, field: str) -> None:
        super().__init__(
            field, "is already used by another organization", reason="SLUG_ALREADY_EXISTS"
        )
