"""What a product's prices mean together. Per currency and billing period a
product has at most one active static price (fixed, free, custom or
seat-based) and any number of metered ones; subscribing in that currency and
period buys the static price and every metered price beside it. Two static
prices for one currency and period would leave a subscription not knowing
which it buys, so the second is refused (StaticPriceTaken naming the field).

Checked by the product aggregate with the product row locked (products.py),
so concurrent creates and unarchives of one product's prices take turns and
cannot both pass. Pure: no database, no protobuf.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from billingos_catalog.errors import StaticPriceTaken
from billingos_catalog.models import Price
from billingos_catalog.vocabulary import AmountType, Interval

PeriodKey = tuple[str, str | None, int | None]

# Units that are a whole number of another: equal periods compare equal
# ("every 7 days" is "every 1 week", "12 months" is "1 year"). Only the
# comparison is normalised; a price keeps the period it was given.
_IN_SMALLER_UNITS = {Interval.WEEK: (Interval.DAY, 7), Interval.YEAR: (Interval.MONTH, 12)}


def period_key(price: Price) -> PeriodKey:
    """Currency and billing period (none for a one-time product's price), the
    period in days or months, so equal periods give equal keys."""
    interval, count = price.recurring_interval, price.recurring_count
    if interval is not None and interval in _IN_SMALLER_UNITS:
        unit, factor = _IN_SMALLER_UNITS[Interval(interval)]
        interval, count = unit.value, (count or 1) * factor
    return price.currency, interval, count


def is_static(price: Price) -> bool:
    return AmountType(price.amount_type).static


def check_price_mix(existing: Iterable[Price], added: Sequence[tuple[str, Price]]) -> None:
    """Refuses the first of `added` (each with the request field it came
    from) that would be a second active static price for its currency and
    period, beside the product's `existing` active prices or an earlier one
    of `added`."""
    held: dict[PeriodKey, Price] = {
        period_key(price): price
        for price in existing
        if is_static(price) and price.archived_at is None
    }
    for field, price in added:
        if not is_static(price):
            continue
        key = period_key(price)
        other = held.get(key)
        if other is not None:
            raise StaticPriceTaken(field, _refusal(price, other))
        held[key] = price


def replaces(old: Price, new: Price) -> bool:
    """Whether `new`, taking `old`'s lookup key, takes its place too: both
    static, `old` active, of one product, currency and billing period. A
    create with `transfer_lookup_key` then archives `old` in the same
    transaction, so changing an amount is one call (Stripe's recipe: a new
    price with the key transferred, the old one archived) and the key never
    names a price a subscription could not buy beside the new one."""
    return (
        old.archived_at is None
        and old.product_id == new.product_id
        and is_static(old)
        and is_static(new)
        and period_key(old) == period_key(new)
    )


def _refusal(price: Price, other: Price) -> str:
    period = (
        "one-time"
        if price.recurring_interval is None
        else f"every {price.recurring_count} {price.recurring_interval}"
    )
    return (
        f"the product already has a static price for {price.currency} {period} "
        f"({other.amount_type} price {other.id}); a product has at most one fixed, free, custom "
        "or seat-based price per currency and billing period, beside any number of metered "
        "prices: archive that one first, or give this one another currency or period"
    )
