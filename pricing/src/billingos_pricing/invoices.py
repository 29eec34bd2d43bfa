"""Invoice arithmetic: the one place an order's amounts are computed. The
billing engine gives it the lines of an invoice (each priced by amounts.py,
usage_tiers.py, packages.py, percentages.py or minimums.py, or a proration),
a discount and a tax rate; nothing else adds, splits or taxes them.
docs/billing-rules.md has these rules with worked examples.

1. Lines. Each line's amount, in minor units of the invoice currency, is
   rounded once, half up (half away from zero, so a credit mirrors the charge
   it undoes: -0.5 → -1). A usage line's cap applies after rounding. Only a
   proration line may be negative: it is the credit for unused time.
   |amount| ≤ MAX_AMOUNT_MINOR per line, at most MAX_INVOICE_LINES lines.

2. Discount, on the lines it may apply to: discountable ones (never a
   proration, as Stripe's `discountable` is always false for prorations) and,
   when the discount `applies_to` a set of products, only those products'
   lines. Their sum is the discountable subtotal, never negative (only
   prorations are). A percentage takes basis points / 10 000 of it, rounded
   half up; an amount off takes at most all of it.
   The invoice discount is then split across those lines in proportion to
   their amounts: each line gets the whole part of discount × amount /
   discountable subtotal, and the minor units left over (fewer than there are
   lines) go one each to the lines with the largest remainders, ties to the
   larger amount, then to the smaller line_id. Line ids are unique, so this
   order never depends on the order of the input: the same lines in any order
   give the same results. The line discounts add up to the invoice discount
   exactly, and none exceeds its line's amount.

3. Tax, per line, on the line's amount less its discount, rounded half up per
   line. A line's tax behaviour says whether its amount includes tax; an
   UNSPECIFIED line takes the tax rate's own (the organization's default).
   Exclusive: tax = amount × rate, added to the line. Inclusive: the amount
   already contains the tax, tax = amount × rate / (1 + rate), and the line
   total is the amount. With no tax rate there is no tax.

4. Totals. subtotal is the sum of line amounts, discount_total the invoice
   discount, tax_total the sum of line taxes (inclusive_tax_total the part of
   it already inside the amounts). subtotal − discount_total + tax_total −
   inclusive_tax_total is what the invoice comes to; when that is negative
   (credits above charges), `total` is 0 and `credit_carried` is the credit
   the caller carries forward. `total`, `credit_carried`, every discount and
   every discount total are never negative; a line amount, its tax and total,
   the subtotal and the tax totals are negative only through proration
   credits.

Bounds: with at most 1000 lines of at most 10^12 minor units and a rate of
at most 100 %, every sum stays within ±2·10^15, far inside int64.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import TypeAlias

from billingos_pricing.amounts import (
    BASIS_POINTS_IN_WHOLE,
    MAX_AMOUNT_MINOR,
    PricingError,
    fixed_discount,
    percentage_discount,
    round_minor,
    rounding_context,
)
from billingos_pricing.currencies import UnknownCurrency, normalize_currency
from billingos_pricing.exact import decimal_places, minor_problems, raise_first

MAX_INVOICE_LINES = 1000
MAX_TAX_PERCENT_PLACES = 4  # room for 8.875 % (New York City) and finer
_TAX_SCALE = 10**MAX_TAX_PERCENT_PLACES
_WHOLE_TAX = 100 * _TAX_SCALE  # 100 % in the scaled rate's units


class LineKind(enum.StrEnum):
    PLAN = "plan"
    SEATS = "seats"
    USAGE = "usage"
    PRORATION = "proration"
    MINIMUM_TRUE_UP = "minimum_true_up"


class TaxBehavior(enum.StrEnum):
    INCLUSIVE = "inclusive"
    EXCLUSIVE = "exclusive"
    UNSPECIFIED = "unspecified"


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line_id: str
    kind: LineKind
    amount: int | Decimal  # minor units, unrounded or whole
    product_id: str | None = None  # what `applies_to` discounts match
    cap_minor: int | None = None  # usage lines only, applied after rounding
    discountable: bool | None = None  # None: every kind but PRORATION
    tax_behavior: TaxBehavior = TaxBehavior.UNSPECIFIED


@dataclass(frozen=True, slots=True)
class PercentOff:
    basis_points: int  # 1..10000
    applies_to: frozenset[str] | None = None  # product ids; None: every product


@dataclass(frozen=True, slots=True)
class AmountOff:
    amount_minor: int
    currency: str
    applies_to: frozenset[str] | None = None


Discount: TypeAlias = PercentOff | AmountOff


@dataclass(frozen=True, slots=True)
class TaxRate:
    percent: Decimal  # 20 for 20 %, at most 4 decimal places
    inclusive: bool  # what an UNSPECIFIED line's amount means

    @classmethod
    def from_basis_points(cls, basis_points: int, inclusive: bool) -> TaxRate:
        return cls(Decimal(basis_points).scaleb(-2, context=rounding_context()), inclusive)


@dataclass(frozen=True, slots=True)
class LineAmounts:
    line_id: str
    amount: int  # rounded once, capped
    discount: int  # this line's share of the invoice discount
    tax: int  # on amount − discount: contained in it if inclusive, added if not
    tax_inclusive: bool
    total: int  # amount − discount, plus the tax when exclusive


@dataclass(frozen=True, slots=True)
class InvoiceAmounts:
    lines: tuple[LineAmounts, ...]  # in the order the lines were given
    subtotal: int
    discount_total: int
    tax_total: int
    inclusive_tax_total: int
    total: int  # never negative
    credit_carried: int  # never negative; non-zero only when total is 0

    def line(self, line_id: str) -> LineAmounts:
        return next(line for line in self.lines if line.line_id == line_id)


@dataclass(frozen=True, slots=True)
class _Priced:
    line_id: str
    amount: int
    eligible: bool  # for the discount given
    tax_inclusive: bool


def compute_invoice(
    currency: str,
    lines: Sequence[InvoiceLine],
    discount: Discount | None = None,
    tax_rate: TaxRate | None = None,
) -> InvoiceAmounts:
    """Every amount of an invoice by the rules above; a PricingError naming
    the field (`lines[3].amount`, `discount.currency`...) for input it
    cannot take."""
    code = _currency(currency, "currency")
    if len(lines) > MAX_INVOICE_LINES:
        raise PricingError("lines", f"must have at most {MAX_INVOICE_LINES} lines")
    scaled_rate = None if tax_rate is None else _scaled_rate(tax_rate)
    applies_to = None if discount is None else _check_discount(discount, code)
    default_inclusive = tax_rate is not None and tax_rate.inclusive
    seen: set[str] = set()
    priced: list[_Priced] = []
    for index, line in enumerate(lines):
        path = f"lines[{index}]"
        if not isinstance(line.line_id, str) or not line.line_id:
            raise PricingError(f"{path}.line_id", "must be a non-empty string")
        if line.line_id in seen:
            raise PricingError(f"{path}.line_id", f"{line.line_id!r} appears twice")
        seen.add(line.line_id)
        discountable = _discountable(line, path)
        priced.append(
            _Priced(
                line_id=line.line_id,
                amount=_line_amount(line, path),
                eligible=discount is not None
                and discountable
                and (applies_to is None or line.product_id in applies_to),
                tax_inclusive=_tax_inclusive(line, path, default_inclusive),
            )
        )
    eligible = [line for line in priced if line.eligible]
    discount_total = _discount_total(discount, sum(line.amount for line in eligible))
    shares = _split(discount_total, eligible)
    results = tuple(_taxed(line, shares.get(line.line_id, 0), scaled_rate) for line in priced)
    subtotal = sum(line.amount for line in results)
    tax_total = sum(line.tax for line in results)
    inclusive_tax_total = sum(line.tax for line in results if line.tax_inclusive)
    comes_to = subtotal - discount_total + tax_total - inclusive_tax_total
    return InvoiceAmounts(
        lines=results,
        subtotal=subtotal,
        discount_total=discount_total,
        tax_total=tax_total,
        inclusive_tax_total=inclusive_tax_total,
        total=max(comes_to, 0),
        credit_carried=max(-comes_to, 0),
    )


# ---- lines ------------------------------------------------------------------


def _currency(code: str, field: str) -> str:
    if isinstance(code, str):
        with suppress(UnknownCurrency):
            return normalize_currency(code)
    raise PricingError(field, "must be an ISO 4217 code BillingOS supports")


def _line_amount(line: InvoiceLine, path: str) -> int:
    if not isinstance(line.kind, LineKind):
        raise PricingError(f"{path}.kind", f"must be one of {', '.join(LineKind)}")
    # The sign before rounding: -0.4 rounds to 0 but is still a credit.
    if line.kind is not LineKind.PRORATION and _is_negative(line.amount):
        raise PricingError(f"{path}.amount", "must not be negative (only a proration is a credit)")
    amount = _rounded(line.amount, f"{path}.amount")
    if amount < 0 and line.kind is not LineKind.PRORATION:
        raise PricingError(f"{path}.amount", "must not be negative (only a proration is a credit)")
    if line.cap_minor is not None:
        if line.kind is not LineKind.USAGE:
            raise PricingError(f"{path}.cap_minor", "only a usage line has a cap")
        raise_first(minor_problems(line.cap_minor, f"{path}.cap_minor"))
        amount = min(amount, line.cap_minor)
    return amount


def _is_negative(amount: int | Decimal) -> bool:
    """Below zero as given (a NaN or a wrong type is _rounded's to refuse)."""
    if isinstance(amount, Decimal):
        return amount.is_finite() and amount < 0
    return isinstance(amount, int) and amount < 0


def _rounded(amount: int | Decimal, field: str) -> int:
    """THE rule, once: a whole amount as it is, a decimal one rounded half up."""
    limit = f"must be between -{MAX_AMOUNT_MINOR} and {MAX_AMOUNT_MINOR} minor units"
    if isinstance(amount, Decimal):
        if not amount.is_finite():
            raise PricingError(field, "must be a finite number")
        # Compared before rounding too, so no huge number is ever quantized.
        if abs(amount) > MAX_AMOUNT_MINOR + 1:
            raise PricingError(field, limit)
        with localcontext(rounding_context(60)):  # not the caller's: its traps would fire
            whole = round_minor(amount)
    elif isinstance(amount, int) and not isinstance(amount, bool):
        whole = amount
    else:
        raise PricingError(field, "must be an int or a Decimal of minor units")
    if abs(whole) > MAX_AMOUNT_MINOR:
        raise PricingError(field, limit)
    return whole


def _discountable(line: InvoiceLine, path: str) -> bool:
    if line.discountable is None:
        return line.kind is not LineKind.PRORATION
    if line.discountable and line.kind is LineKind.PRORATION:
        raise PricingError(f"{path}.discountable", "a proration is never discountable")
    return line.discountable


def _tax_inclusive(line: InvoiceLine, path: str, default_inclusive: bool) -> bool:
    if not isinstance(line.tax_behavior, TaxBehavior):
        raise PricingError(f"{path}.tax_behavior", f"must be one of {', '.join(TaxBehavior)}")
    if line.tax_behavior is TaxBehavior.UNSPECIFIED:
        return default_inclusive
    return line.tax_behavior is TaxBehavior.INCLUSIVE


# ---- discount ---------------------------------------------------------------


def _check_discount(discount: Discount, currency: str) -> frozenset[str] | None:
    """The discount's product restriction, once the discount is known sound."""
    if isinstance(discount, PercentOff):
        bps = discount.basis_points
        if isinstance(bps, bool) or not isinstance(bps, int):
            raise PricingError("discount.basis_points", "must be an integer")
        if not 0 < bps <= BASIS_POINTS_IN_WHOLE:
            raise PricingError("discount.basis_points", "must be between 1 and 10000")
    elif isinstance(discount, AmountOff):
        raise_first(minor_problems(discount.amount_minor, "discount.amount_minor"))
        if discount.amount_minor == 0:
            raise PricingError("discount.amount_minor", "must be greater than 0")
        if _currency(discount.currency, "discount.currency") != currency:
            raise PricingError("discount.currency", f"must be the invoice's currency, {currency}")
    else:
        raise PricingError("discount", "must be a PercentOff or an AmountOff")
    products = discount.applies_to
    if products is not None and (
        not isinstance(products, frozenset)
        or not products
        or not all(isinstance(product, str) and product for product in products)
    ):
        raise PricingError(
            "discount.applies_to",
            "must be a non-empty frozenset of product ids, or None for every product",
        )
    return products


def _discount_total(discount: Discount | None, discountable_subtotal: int) -> int:
    if discount is None or discountable_subtotal == 0:
        return 0
    if isinstance(discount, PercentOff):
        return percentage_discount(discountable_subtotal, discount.basis_points)
    return fixed_discount(discountable_subtotal, discount.amount_minor)


def _split(discount_total: int, lines: Sequence[_Priced]) -> dict[str, int]:
    """Each line's share of the discount, by largest remainder (module doc, 2)."""
    if discount_total == 0:
        return {}
    base = sum(line.amount for line in lines)
    shares: dict[str, int] = {}
    remainders: list[tuple[int, int, str]] = []
    for line in lines:
        share, remainder = divmod(discount_total * line.amount, base)
        shares[line.line_id] = share
        remainders.append((-remainder, -line.amount, line.line_id))
    leftover = discount_total - sum(shares.values())
    for _remainder, _amount, line_id in sorted(remainders)[:leftover]:
        shares[line_id] += 1
    return shares


# ---- tax --------------------------------------------------------------------


def _scaled_rate(tax_rate: TaxRate) -> int:
    """The rate in units of 1/10 000 of a percent, so tax is integer arithmetic."""
    percent = tax_rate.percent
    field = "tax_rate.percent"
    if not isinstance(percent, Decimal) or not percent.is_finite():
        raise PricingError(field, "must be a finite Decimal")
    if not 0 <= percent <= 100:
        raise PricingError(field, "must be between 0 and 100")
    if decimal_places(percent) > MAX_TAX_PERCENT_PLACES:
        raise PricingError(field, f"must have at most {MAX_TAX_PERCENT_PLACES} decimal places")
    if not isinstance(tax_rate.inclusive, bool):
        raise PricingError("tax_rate.inclusive", "must be true or false")
    return int(percent.scaleb(MAX_TAX_PERCENT_PLACES, context=rounding_context()))


def _taxed(line: _Priced, discount: int, scaled_rate: int | None) -> LineAmounts:
    taxable = line.amount - discount
    if scaled_rate is None:
        tax = 0
    elif line.tax_inclusive:
        tax = _divide_half_up(taxable * scaled_rate, _WHOLE_TAX + scaled_rate)
    else:
        tax = _divide_half_up(taxable * scaled_rate, _WHOLE_TAX)
    return LineAmounts(
        line_id=line.line_id,
        amount=line.amount,
        discount=discount,
        tax=tax,
        tax_inclusive=line.tax_inclusive,
        total=taxable if line.tax_inclusive else taxable + tax,
    )


def _divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator (> 0) rounded half away from zero, exactly."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient
