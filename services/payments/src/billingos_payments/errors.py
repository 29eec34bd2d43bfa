"""Errors particular to the payments context: what Stripe's answers mean to
BillingOS's callers."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from billingos_kit.errors import FailedPrecondition, Unavailable
from billingos_payments.stripe_gateway import StripeRefused, StripeUnavailable

T = TypeVar("T")


class StripeDown(Unavailable):
    """Stripe did not answer usefully: nothing is known to have happened, and
    asking again (the same attempt) is safe."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"Stripe is unavailable ({detail}); retry later", reason="STRIPE_UNAVAILABLE"
        )


class StripeSaidNo(FailedPrecondition):
    def __init__(self, refused: StripeRefused) -> None:
        super().__init__(
            f"Stripe refused the request: {refused.message}",
            reason="STRIPE_REFUSED",
            metadata={"stripe_code": refused.code, "stripe_param": refused.param},
        )


async def from_stripe(work: Awaitable[T]) -> T:
    """Stripe's answer, or the domain error its failure means to our caller
    (a decline is the caller's to handle: charges record it)."""
    try:
        return await work
    except StripeUnavailable as error:
        raise StripeDown(str(error)) from None
    except StripeRefused as error:
        raise StripeSaidNo(error) from None
