"""A minimum spend per period: the true-up line, Lago's example, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_pricing.amounts import MAX_AMOUNT_MINOR, PricingError
from billingos_pricing.minimums import check_minimum_spend, minimum_true_up


def test_lago_spending_minimum_example() -> None:
    """Lago's spending minimum page: a $100 commitment over $50 of usage
    makes a $50 true-up fee."""
    assert minimum_true_up(usage_total_minor=5_000, minimum_minor=10_000) == 5_000


@pytest.mark.parametrize("usage", [10_000, 10_001, 5 * MAX_AMOUNT_MINOR])
def test_no_true_up_once_usage_reaches_the_minimum(usage: int) -> None:
    assert minimum_true_up(usage, 10_000) == 0


@pytest.mark.parametrize("minimum", [-1, MAX_AMOUNT_MINOR + 1, True])
def test_bad_minimums_are_refused(minimum: int) -> None:
    assert [p.field for p in check_minimum_spend(minimum, "price.minimum_spend")] == [
        "price.minimum_spend"
    ]
    with pytest.raises(PricingError):
        minimum_true_up(0, minimum)


@pytest.mark.parametrize("usage", [-1, False])
def test_a_bad_usage_total_is_refused(usage: int) -> None:
    with pytest.raises(PricingError) as refused:
        minimum_true_up(usage, 100)
    assert refused.value.field == "usage_total_minor"


@given(st.integers(min_value=0, max_value=10**13), st.integers(0, MAX_AMOUNT_MINOR))
def test_usage_plus_true_up_is_at_least_the_minimum_and_adds_nothing_beyond(
    usage: int, minimum: int
) -> None:
    true_up = minimum_true_up(usage, minimum)
    assert true_up >= 0
    assert usage + true_up == max(usage, minimum)
