"""Package prices: Lago's published example, Stripe's transform_quantity
rounding both ways, refusals and properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_pricing.amounts import MAX_AMOUNT_MINOR, PricingError
from billingos_pricing.packages import (
    MAX_PACKAGE_SIZE,
    PackagePrice,
    PackageRounding,
    check_package_price,
    package_amount,
    package_count,
)

D = Decimal


def test_lago_package_example() -> None:
    """Lago's package page: $5 per 100 units, the first 100 free; 201 units
    cost $0 (first 100) + $5 (next 100) + $5 (the last unit) = $10."""
    price = PackagePrice(package_size=100, amount_per_package=D(500), free_units=D(100))
    assert package_count(price, D(201)) == 2
    assert package_amount(price, D(201)) == 1000


@pytest.mark.parametrize(
    ("units", "up", "down"),
    [(0, 0, 0), (1, 1, 0), (99, 1, 0), (100, 1, 1), (101, 2, 1), (250, 3, 2), ("150.5", 2, 1)],
)
def test_stripe_transform_quantity_rounds_up_or_down(units: int | str, up: int, down: int) -> None:
    """Stripe's transform_quantity with divide_by 100: a started block counts
    as one (round up), or only complete blocks do (round down)."""
    for rounding, blocks in ((PackageRounding.UP, up), (PackageRounding.DOWN, down)):
        price = PackagePrice(100, D(1000), rounding)
        assert package_count(price, D(units)) == blocks
        assert package_amount(price, D(units)) == blocks * 1000


@pytest.mark.parametrize("units", [0, 50, 100])
def test_usage_within_the_free_units_costs_nothing(units: int) -> None:
    price = PackagePrice(10, D(500), free_units=D(100))
    assert package_amount(price, D(units)) == 0


def test_a_sub_cent_block_price_is_rounded_once_on_the_total() -> None:
    price = PackagePrice(1000, D("0.25"))
    assert package_amount(price, D(2000)) == 1  # 2 × 0.25 = 0.5 → 1
    assert package_amount(price, D(1000)) == 0  # 0.25 → 0


@pytest.mark.parametrize(
    ("price", "field"),
    [
        (PackagePrice(0, D(500)), "package.package_size"),  # a zero-unit package
        (PackagePrice(-100, D(500)), "package.package_size"),
        (PackagePrice(MAX_PACKAGE_SIZE + 1, D(500)), "package.package_size"),
        (PackagePrice(True, D(500)), "package.package_size"),
        (PackagePrice(100, D(-1)), "package.amount_per_package"),
        (PackagePrice(100, D("0.0000000000001")), "package.amount_per_package"),
        (PackagePrice(100, D(10**12)), "package.amount_per_package"),
        (PackagePrice(100, D(500), free_units=D(-1)), "package.free_units"),
        (PackagePrice(100, D(500), free_units=D("NaN")), "package.free_units"),
    ],
)
def test_bad_package_prices_name_the_field(price: PackagePrice, field: str) -> None:
    assert field in [problem.field for problem in check_package_price(price)]
    with pytest.raises(PricingError):
        package_amount(price, D(1))


def test_a_charge_above_the_limit_is_refused() -> None:
    price = PackagePrice(1, D(10**6))
    assert package_amount(price, D(10**6)) == MAX_AMOUNT_MINOR
    with pytest.raises(PricingError) as refused:
        package_amount(price, D(10**6 + 1))
    assert refused.value.field == "quantity"


def test_a_negative_quantity_is_refused() -> None:
    with pytest.raises(PricingError):
        package_amount(PackagePrice(100, D(500)), D(-1))


paid_quantities = st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False)
sizes = st.integers(min_value=1, max_value=10**6)
frees = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False)


@given(paid_quantities, sizes, frees)
def test_blocks_cover_the_paid_units_exactly_as_the_rounding_says(
    quantity: Decimal, size: int, free: Decimal
) -> None:
    paid = max(quantity - free, D(0))
    up = package_count(PackagePrice(size, D(1), PackageRounding.UP, free), quantity)
    down = package_count(PackagePrice(size, D(1), PackageRounding.DOWN, free), quantity)
    assert (up - 1) * size < paid <= up * size or up == paid == 0
    assert down * size <= paid < (down + 1) * size
    assert up - down == (0 if paid % size == 0 else 1)


@given(paid_quantities, paid_quantities, sizes, frees)
def test_more_usage_never_costs_less(a: Decimal, b: Decimal, size: int, free: Decimal) -> None:
    low, high = sorted([a, b])
    for rounding in PackageRounding:
        price = PackagePrice(size, D(7), rounding, free)
        assert package_amount(price, low) <= package_amount(price, high)
