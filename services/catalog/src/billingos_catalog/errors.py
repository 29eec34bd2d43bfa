"""Errors particular to the catalog context."""

from __future__ import annotations

from billingos_kit.errors import AlreadyExists, FailedPrecondition, FieldViolation, NotFound


class CodeTaken(AlreadyExists):
    def __init__(self, field: str) -> None:
        super().__init__(
            field, "is already used by another discount", reason="DISCOUNT_CODE_ALREADY_EXISTS"
        )


class LookupKeyTaken(AlreadyExists):
    def __init__(self, field: str) -> None:
        super().__init__(
            field,
            "is already another price's; pass transfer_lookup_key to move it to this one",
            reason="PRICE_LOOKUP_KEY_ALREADY_EXISTS",
        )


class TaxRateTaken(AlreadyExists):
    def __init__(self, field: str) -> None:
        super().__init__(
            field,
            "this country and region already have a tax rate; update or delete it",
            reason="TAX_RATE_ALREADY_EXISTS",
        )


class StaticPriceTaken(FailedPrecondition):
    """A second static price (fixed, free, custom or seat-based) for a
    currency and billing period that has one: a subscription could not tell
    which of them it buys."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(
            f"{field}: {description}",
            reason="STATIC_PRICE_EXISTS",
            violations=[FieldViolation(field, description)],
        )


class PriceUsed(FailedPrecondition):
    """A change a price no longer accepts once it has been bought."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(
            f"{field}: {description}",
            reason="PRICE_USED",
            violations=[FieldViolation(field, description)],
        )


class BenefitNotFound(NotFound):
    """A benefit a product cannot name: not one the catalog knows of this
    organization (unknown, another organization's, deleted), or, detaching,
    not attached. One error for all, naming the request's field, so another
    organization's benefit looks exactly like a missing one."""

    def __init__(self, benefit_id: str, description: str) -> None:
        super().__init__("benefit", benefit_id)
        self.message = f"benefit_id: {self.message}: {description}"
        self.violations = (FieldViolation("benefit_id", description),)


class BenefitLimitReached(FailedPrecondition):
    """A product already lists as many benefits as it may."""

    def __init__(self, limit: int) -> None:
        description = f"a product lists at most {limit} benefits; detach one first"
        super().__init__(
            f"benefit_id: {description}",
            reason="PRODUCT_BENEFIT_LIMIT",
            violations=[FieldViolation("benefit_id", description)],
        )
