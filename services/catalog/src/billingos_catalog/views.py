"""What reads return beside rows: a product together with its active prices
(the Product message holds both), and an organization's tax settings
(defaults when it never chose any)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from billingos_catalog.models import Price, Product, TaxRate
from billingos_catalog.vocabulary import TaxBehavior


@dataclass(frozen=True)
class ProductView:
    product: Product
    prices: Sequence[Price]


@dataclass(frozen=True)
class TaxSettingsView:
    organization_id: uuid.UUID
    default_tax_behavior: TaxBehavior
    updated_at: dt.datetime | None  # None: never chosen


@dataclass(frozen=True)
class TaxResolution:
    """The rate a billing address gets (None: no tax), and the default tax
    behaviour of prices that have none."""

    rate: TaxRate | None
    default_tax_behavior: TaxBehavior
