"""Which failed charges a retry can turn around. Stripe's "hard declines"
(its decline-code reference says: do not retry; ask for another card) can
never succeed with the same card, so dunning skips ahead instead of retrying
them; everything else (insufficient funds, a processing error, an issuer
that is unavailable, an unspecific `generic_decline`) may pass later.
"""

from __future__ import annotations

HARD_DECLINES = frozenset(
    {
        "card_not_supported",
        "currency_not_supported",
        "do_not_try_again",
        "expired_card",
        "fraudulent",
        "incorrect_number",
        "invalid_account",
        "invalid_number",
        "lost_card",
        "merchant_blacklist",
        "new_account_information_available",
        "pickup_card",
        "restricted_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "stolen_card",
        "stop_payment_order",
        "transaction_not_allowed",
    }
)
# Failures of ours that only a change (a new card, a live customer) repairs.
PERMANENT_FAILURES = frozenset({"customer_not_found", "expired_card", "incorrect_number"})


def retry_can_succeed(failure_code: str, decline_code: str) -> bool:
    return decline_code not in HARD_DECLINES and failure_code not in PERMANENT_FAILURES
