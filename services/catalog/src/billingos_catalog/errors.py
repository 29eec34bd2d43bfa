"""Errors particular to the catalog context."""

from __future__ import annotations

from billingos_kit.errors import AlreadyExists


class CodeTaken(AlreadyExists):
    def __init__(self, field: str) -> None:
        super().__init__(
            field, "is already used by another discount", reason="DISCOUNT_CODE_ALREADY_EXISTS"
        )
