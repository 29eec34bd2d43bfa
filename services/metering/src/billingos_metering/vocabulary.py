"""The metering context's vocabularies: what rows store and the domain speaks.
Each proto enum's codec (messages.py) is checked against its StrEnum at
import, so a value added on one side only fails at start-up, not in a call."""

from __future__ import annotations

from enum import StrEnum


class Conjunction(StrEnum):
    AND = "and"
    OR = "or"


class Operator(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    LIKE = "like"
    NOT_LIKE = "not_like"


class Function(StrEnum):
    """A meter's aggregation function."""

    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    MIN = "min"
    AVG = "avg"
    UNIQUE = "unique"


class Interval(StrEnum):
    """A quantity bucket's length, in local calendar time."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class CreditMode(StrEnum):
    ADD = "add"
    RESET = "reset"
    ROLLOVER = "rollover"
