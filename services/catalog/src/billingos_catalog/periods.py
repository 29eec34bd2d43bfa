"""Billing periods and trials: an interval unit and a count (pure rules)."""

from __future__ import annotations

from billingos_catalog.drafts import PeriodSpec
from billingos_kit.validation import Violations

MAX_COUNT = 365


def check_period(violations: Violations, field: str, period: PeriodSpec) -> None:
    """An interval is required; a count is 0 (meaning 1) to MAX_COUNT."""
    if period.interval is None:
        violations.add(f"{field}.interval", "must be one of INTERVAL_DAY, _WEEK, _MONTH, _YEAR")
    if not 0 <= period.count <= MAX_COUNT:
        violations.add(f"{field}.count", f"must be between 1 and {MAX_COUNT}")


def effective_count(period: PeriodSpec) -> int:
    """A count of 0 (unset) means 1."""
    return period.count or 1
