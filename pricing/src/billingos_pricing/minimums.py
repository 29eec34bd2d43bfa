"""A minimum spend per period on usage (Lago's spending minimum): when the
period's usage charges come to less than the minimum, a true-up line makes up
the difference, as its own invoice line so the usage stays what it was.

The usage total is the sum of the usage lines' amounts as the invoice shows
them, each already rounded and capped (invoices.py), in the same currency and
before discounts and tax, so the minimum is a promise about what was charged,
not about unrounded figures. Prorating a minimum for a partial period is the
caller's: it passes the minimum that applies to the period it bills.
"""

from __future__ import annotations

from billingos_pricing.amounts import PricingError
from billingos_pricing.exact import minor_problems, raise_first


def check_minimum_spend(minimum_minor: int, field: str = "minimum_spend") -> list[PricingError]:
    return minor_problems(minimum_minor, field)


def minimum_true_up(usage_total_minor: int, minimum_minor: int) -> int:
    """The true-up line's amount: what the usage falls short of the minimum by,
    or 0 when it does not (a $100 minimum over $50 of usage → $50)."""
    raise_first(check_minimum_spend(minimum_minor))
    total = usage_total_minor
    # Usage lines are never negative (only prorations are), so neither is their
    # sum; it may exceed one line's limit, since it adds up several lines.
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise PricingError("usage_total_minor", "must be a non-negative integer of minor units")
    return max(minimum_minor - total, 0)
