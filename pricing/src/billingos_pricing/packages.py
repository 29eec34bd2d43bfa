"""Package prices: an amount per block of N units, after free units (Lago's
`package`; Stripe's `transform_quantity` with `divide_by` N).

The paid quantity is the usage less the free units, never below 0; the block
count is the paid quantity over N rounded UP (a started block is a whole one:
Lago's package, Stripe's `round: up`) or DOWN (complete blocks only: Stripe's
`round: down`). The count is a whole number computed exactly, so the one
rounding in minor units is THE rule, once, on count × amount per block.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from billingos_pricing.amounts import PricingError
from billingos_pricing.exact import (
    MAX_QUANTITY_PLACES,
    QUANTITY_BELOW,
    charge_minor,
    checked_quantity,
    decimal_problems,
    exact,
    raise_first,
)

# A trillion units to a block: past any real package, and the count stays exact.
MAX_PACKAGE_SIZE = 10**12


class PackageRounding(enum.StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class PackagePrice:
    package_size: int  # units in one block
    amount_per_package: Decimal  # minor units per block, sub-cent allowed
    rounding: PackageRounding = PackageRounding.UP
    free_units: Decimal = Decimal(0)  # units free before the first block


def check_package_price(price: PackagePrice, field: str = "package") -> list[PricingError]:
    """Every problem with a package price, each named by its path."""
    problems: list[PricingError] = []
    size = price.package_size
    if isinstance(size, bool) or not isinstance(size, int):
        problems.append(PricingError(f"{field}.package_size", "must be a whole number of units"))
    elif not 1 <= size <= MAX_PACKAGE_SIZE:
        problems.append(
            PricingError(
                f"{field}.package_size",
                f"must be between 1 and {MAX_PACKAGE_SIZE} (a block holds at least one unit)",
            )
        )
    problems += decimal_problems(price.amount_per_package, f"{field}.amount_per_package")
    problems += decimal_problems(
        price.free_units, f"{field}.free_units", places=MAX_QUANTITY_PLACES, below=QUANTITY_BELOW
    )
    if not isinstance(price.rounding, PackageRounding):
        problems.append(PricingError(f"{field}.rounding", "must be up or down"))
    return problems


def package_count(price: PackagePrice, quantity: Decimal) -> int:
    """Blocks charged for `quantity`: 201 units, 100 free, blocks of 100,
    rounded up → 2 (101 paid units start a second block)."""
    raise_first(check_package_price(price))
    checked_quantity(quantity)
    with exact():
        paid = max(quantity - price.free_units, Decimal(0))
        whole, rest = divmod(paid, price.package_size)
        count = int(whole)
    return count + 1 if rest and price.rounding is PackageRounding.UP else count


def package_amount(price: PackagePrice, quantity: Decimal) -> int:
    """The charge for `quantity` in minor units, rounded once."""
    count = package_count(price, quantity)
    with exact():
        charge = count * price.amount_per_package
    return charge_minor(charge, "quantity")
