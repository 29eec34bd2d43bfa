"""The payments context's closed vocabularies: what the status columns hold
(the protos' enums map onto them in messages.py, checked at import)."""

from __future__ import annotations

from enum import StrEnum


class SetupIntentStatus(StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Nothing Stripe says later changes it (a failed attempt is retried
        as a new attempt, never by reopening this one)."""
        return self in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self is not RefundStatus.PENDING

    @property
    def final_failure(self) -> bool:
        """No money went back: the amount is refundable again."""
        return self in (RefundStatus.FAILED, RefundStatus.CANCELED)


class WebhookOutcome(StrEnum):
    """What processing a stored Stripe event came to."""

    APPLIED = "applied"
    IGNORED = "ignored"  # a type we do not act on, or about nothing of ours
    FAILED = "failed"  # given up after webhooks.MAX_ATTEMPTS
