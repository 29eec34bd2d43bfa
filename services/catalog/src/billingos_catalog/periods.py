"""Billing periods and trials: an interval unit and a count."""

from __future__ import annotations

from dataclasses import dataclass

from billingos_kit.validation import Violations

INTERVALS = ("day", "week", "month", "year")
MAX_COUNT = 365


@dataclass(frozen=True)
class PeriodSpec:
    """As given in a request: `interval` is None when the request left it unset."""

    interval: str | None
    count: int


def check_period(violations: Violations, field: str, period: PeriodSpec) -> None:
    if period.interval not in INTERVALS:
        violations.add(f"{field}.interval", "must be one of INTERVAL_DAY, _WEEK, _MONTH, _YEAR")
    if not 0 <= period.count <= MAX_COUNT:
        violations.add(f"{field}.count", f"must be between 1 and {MAX_COUNT}")


def effective_count(period: PeriodSpec) -> int:
    """A count of 0 (unset) means 1."""
    return period.count or 1
