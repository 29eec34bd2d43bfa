"""What product reads return: a product together with its active prices
(the Product message holds both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from billingos_catalog.models import Price, Product


@dataclass(frozen=True)
class ProductView:
    product: Product
    prices: Sequence[Price]
