"""Invoice arithmetic: the worked examples of docs/billing-rules.md, each
refusal, and properties over any invoice (discount sums, signs, line order,
tax identities, caps, bounds)."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingos_pricing.amounts import MAX_AMOUNT_MINOR, PricingError
from billingos_pricing.invoices import (
    MAX_INVOICE_LINES,
    AmountOff,
    Discount,
    InvoiceAmounts,
    InvoiceLine,
    LineKind,
    PercentOff,
    TaxBehavior,
    TaxRate,
    compute_invoice,
)

D = Decimal
K = LineKind

# ---- the worked examples (docs/billing-rules.md) ------------------------------

EXAMPLE_LINES = [
    InvoiceLine("plan", K.PLAN, 2000, "prod_plan"),
    InvoiceLine("api", K.USAGE, D("1234.5"), "prod_api"),
    InvoiceLine("storage", K.USAGE, D("7500.4"), "prod_storage", cap_minor=5000),
    InvoiceLine("credit", K.PRORATION, -500, "prod_plan"),
]


def amounts_by_line(invoice: InvoiceAmounts) -> dict[str, tuple[int, int, int, int]]:
    return {
        line.line_id: (line.amount, line.discount, line.tax, line.total) for line in invoice.lines
    }


def test_example_a_rounding_and_caps() -> None:
    invoice = compute_invoice("USD", EXAMPLE_LINES)
    assert [line.amount for line in invoice.lines] == [2000, 1235, 5000, -500]
    assert (invoice.subtotal, invoice.discount_total, invoice.tax_total) == (7735, 0, 0)
    assert (invoice.total, invoice.credit_carried) == (7735, 0)


def test_example_b_percentage_discount_split_by_largest_remainder() -> None:
    invoice = compute_invoice("USD", EXAMPLE_LINES, PercentOff(1000))
    # 10 % of the discountable 8235 is 823.5 → 824; the proration gets none
    assert invoice.discount_total == 824
    assert [line.discount for line in invoice.lines] == [200, 124, 500, 0]
    assert invoice.total == 6911


def test_example_c_amount_off_applies_to_one_product_and_stops_at_zero() -> None:
    invoice = compute_invoice("USD", EXAMPLE_LINES, AmountOff(5000, "USD", frozenset({"prod_api"})))
    assert invoice.discount_total == 1235
    assert amounts_by_line(invoice)["api"] == (1235, 1235, 0, 0)
    assert [line.discount for line in invoice.lines] == [0, 1235, 0, 0]
    assert invoice.total == 6500


def test_example_d_tax_after_discount_per_line() -> None:
    invoice = compute_invoice(
        "USD", EXAMPLE_LINES, PercentOff(1000), TaxRate(D(20), inclusive=False)
    )
    assert [line.tax for line in invoice.lines] == [360, 222, 900, -100]
    assert [line.total for line in invoice.lines] == [2160, 1333, 5400, -600]
    assert (invoice.tax_total, invoice.inclusive_tax_total, invoice.total) == (1382, 0, 8293)


def test_example_e_inclusive_and_exclusive_lines() -> None:
    lines = [
        InvoiceLine("excl", K.PLAN, 1000, tax_behavior=TaxBehavior.EXCLUSIVE),
        InvoiceLine("incl", K.PLAN, 1200, tax_behavior=TaxBehavior.INCLUSIVE),
        InvoiceLine("odd", K.PLAN, 999, tax_behavior=TaxBehavior.INCLUSIVE),
        InvoiceLine("default", K.PLAN, 1000),
    ]
    invoice = compute_invoice("USD", lines, tax_rate=TaxRate(D(20), inclusive=True))
    assert amounts_by_line(invoice) == {
        "excl": (1000, 0, 200, 1200),
        "incl": (1200, 0, 200, 1200),  # 1200 × 20 / 120
        "odd": (999, 0, 167, 999),  # 166.5 → 167
        "default": (1000, 0, 167, 1000),  # unspecified: the rate's inclusive; 166.67 → 167
    }
    assert (invoice.tax_total, invoice.inclusive_tax_total, invoice.total) == (734, 534, 4399)


def test_example_f_a_credit_above_the_charges_is_carried() -> None:
    lines = [InvoiceLine("plan", K.PLAN, 1000), InvoiceLine("credit", K.PRORATION, -2500)]
    invoice = compute_invoice("USD", lines, tax_rate=TaxRate(D(20), inclusive=False))
    assert (invoice.subtotal, invoice.tax_total) == (-1500, -300)
    assert (invoice.total, invoice.credit_carried) == (0, 1800)


def test_example_g_a_tie_goes_to_the_smallest_id_in_any_order() -> None:
    for order in ("cab", "abc", "bca"):
        lines = [InvoiceLine(line_id, K.PLAN, 1000) for line_id in order]
        invoice = compute_invoice("USD", lines, AmountOff(100, "USD"))
        assert {line.line_id: line.discount for line in invoice.lines} == {
            "a": 34,
            "b": 33,
            "c": 33,
        }


# ---- single rules -------------------------------------------------------------


def test_a_half_rounds_away_from_zero_either_side() -> None:
    lines = [
        InvoiceLine("charge", K.PLAN, D("10.5")),
        InvoiceLine("credit", K.PRORATION, D("-10.5")),
    ]
    assert [line.amount for line in compute_invoice("USD", lines).lines] == [11, -11]


def test_a_cap_applies_after_rounding() -> None:
    lines = [
        InvoiceLine("under", K.USAGE, D("999.5"), cap_minor=1000),
        InvoiceLine("over", K.USAGE, D("1000.5"), cap_minor=1000),
    ]
    assert [line.amount for line in compute_invoice("USD", lines).lines] == [1000, 1000]


def test_a_proration_is_not_discounted() -> None:
    lines = [InvoiceLine("plan", K.PLAN, 1000), InvoiceLine("upgrade", K.PRORATION, 1000)]
    invoice = compute_invoice("USD", lines, PercentOff(5000))
    assert [line.discount for line in invoice.lines] == [500, 0]


def test_a_line_can_opt_out_of_discounts() -> None:
    lines = [
        InvoiceLine("plan", K.PLAN, 1000),
        InvoiceLine("true_up", K.MINIMUM_TRUE_UP, 1000, discountable=False),
    ]
    invoice = compute_invoice("USD", lines, AmountOff(1500, "USD"))
    assert [line.discount for line in invoice.lines] == [1000, 0]


def test_a_discount_for_other_products_takes_nothing() -> None:
    lines = [InvoiceLine("plan", K.PLAN, 1000, "prod_a"), InvoiceLine("x", K.PLAN, 1000)]
    invoice = compute_invoice("USD", lines, PercentOff(1000, frozenset({"prod_b"})))
    assert invoice.discount_total == 0
    assert invoice.total == 2000


def test_a_tax_rate_in_basis_points_or_a_decimal_percentage() -> None:
    lines = [InvoiceLine("plan", K.PLAN, 10_000)]
    by_basis_points = TaxRate.from_basis_points(2000, inclusive=False)
    assert by_basis_points == TaxRate(D(20), inclusive=False)
    assert compute_invoice("USD", lines, tax_rate=by_basis_points).tax_total == 2000
    # New York City's 8.875 %: 887.5 → 888
    assert compute_invoice("USD", lines, tax_rate=TaxRate(D("8.875"), False)).tax_total == 888


def test_no_tax_rate_means_no_tax() -> None:
    lines = [InvoiceLine("plan", K.PLAN, 1000, tax_behavior=TaxBehavior.INCLUSIVE)]
    invoice = compute_invoice("USD", lines)
    assert (invoice.tax_total, invoice.total) == (0, 1000)


def test_an_empty_invoice_is_zero() -> None:
    invoice = compute_invoice("USD", [], PercentOff(1000), TaxRate(D(20), False))
    assert (invoice.subtotal, invoice.total, invoice.credit_carried) == (0, 0, 0)


# ---- refusals -----------------------------------------------------------------


def line(**changes: object) -> InvoiceLine:
    fields: dict[str, object] = {"line_id": "l", "kind": K.PLAN, "amount": 100} | changes
    return InvoiceLine(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([line(), line(amount=MAX_AMOUNT_MINOR + 1, line_id="m")], "lines[1].amount"),
        ([line(amount=D(MAX_AMOUNT_MINOR) + D("0.5"))], "lines[0].amount"),
        ([line(kind=K.PRORATION, amount=-MAX_AMOUNT_MINOR - 1)], "lines[0].amount"),
        ([line(amount=D("1e40"))], "lines[0].amount"),
        ([line(amount=D("NaN"))], "lines[0].amount"),
        ([line(amount=True)], "lines[0].amount"),
        ([line(amount=1.5)], "lines[0].amount"),
        ([line(amount=-1)], "lines[0].amount"),  # only a proration is a credit
        ([line(kind=K.PRORATION, amount=-1, discountable=True)], "lines[0].discountable"),
        ([line(cap_minor=50)], "lines[0].cap_minor"),  # a plan line has no cap
        ([line(kind=K.USAGE, cap_minor=-1)], "lines[0].cap_minor"),
        ([line(kind=K.USAGE, cap_minor=MAX_AMOUNT_MINOR + 1)], "lines[0].cap_minor"),
        ([line(), line()], "lines[1].line_id"),
        ([line(line_id="")], "lines[0].line_id"),
        ([line(kind="plan")], "lines[0].kind"),
        ([line(tax_behavior="inclusive")], "lines[0].tax_behavior"),
        ([line(line_id=str(i)) for i in range(MAX_INVOICE_LINES + 1)], "lines"),
    ],
)
def test_bad_lines_name_the_field(lines: list[InvoiceLine], field: str) -> None:
    with pytest.raises(PricingError) as refused:
        compute_invoice("USD", lines)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("discount", "field"),
    [
        (PercentOff(0), "discount.basis_points"),
        (PercentOff(10_001), "discount.basis_points"),
        (AmountOff(0, "USD"), "discount.amount_minor"),
        (AmountOff(-1, "USD"), "discount.amount_minor"),
        (AmountOff(MAX_AMOUNT_MINOR + 1, "USD"), "discount.amount_minor"),
        (AmountOff(100, "EUR"), "discount.currency"),
        (AmountOff(100, "u\u017fd"), "discount.currency"),
        (PercentOff(100, frozenset()), "discount.applies_to"),
        (PercentOff(100, frozenset({""})), "discount.applies_to"),
    ],
)
def test_bad_discounts_name_the_field(discount: Discount, field: str) -> None:
    with pytest.raises(PricingError) as refused:
        compute_invoice("USD", [line()], discount)
    assert refused.value.field == field


@pytest.mark.parametrize("percent", [D(-1), D("100.01"), D("20.00001"), D("NaN")])
def test_bad_tax_rates_are_refused(percent: Decimal) -> None:
    with pytest.raises(PricingError) as refused:
        compute_invoice("USD", [line()], tax_rate=TaxRate(percent, False))
    assert refused.value.field == "tax_rate.percent"


def test_an_unknown_currency_is_refused() -> None:
    with pytest.raises(PricingError) as refused:
        compute_invoice("XXX", [line()])
    assert refused.value.field == "currency"


def test_the_largest_invoice_stays_far_inside_int64() -> None:
    lines = [
        InvoiceLine(str(i), K.PLAN, MAX_AMOUNT_MINOR, tax_behavior=TaxBehavior.EXCLUSIVE)
        for i in range(MAX_INVOICE_LINES)
    ]
    invoice = compute_invoice("USD", lines, tax_rate=TaxRate(D(100), False))
    assert invoice.total == 2 * MAX_INVOICE_LINES * MAX_AMOUNT_MINOR < 2**63 - 1
    credits = [InvoiceLine(str(i), K.PRORATION, -MAX_AMOUNT_MINOR) for i in range(1000)]
    credited = compute_invoice("USD", credits, tax_rate=TaxRate(D(100), False))
    assert credited.subtotal + credited.tax_total == -(2 * 1000 * MAX_AMOUNT_MINOR) > -(2**63)


# ---- properties ---------------------------------------------------------------

PRODUCTS = ["prod_a", "prod_b", "prod_c"]
behaviors = st.sampled_from(list(TaxBehavior))
charges = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False),
)


@st.composite
def invoice_lines(draw: st.DrawFn, with_credits: bool = True) -> list[InvoiceLine]:
    ids = draw(st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=12))
    lines = []
    for line_id in ids:
        kinds = [K.PLAN, K.SEATS, K.USAGE, K.MINIMUM_TRUE_UP] + (
            [K.PRORATION] if with_credits else []
        )
        kind = draw(st.sampled_from(kinds))
        if kind is K.PRORATION:
            amount: int | Decimal = draw(st.integers(min_value=-(10**9), max_value=10**9))
        else:
            amount = draw(charges)
        cap = draw(st.none() | st.integers(0, 10**9)) if kind is K.USAGE else None
        lines.append(
            InvoiceLine(
                line_id,
                kind,
                amount,
                draw(st.none() | st.sampled_from(PRODUCTS)),
                cap_minor=cap,
                discountable=False if kind is K.PRORATION else draw(st.none() | st.booleans()),
                tax_behavior=draw(behaviors),
            )
        )
    return lines


applies = st.none() | st.frozensets(st.sampled_from(PRODUCTS), min_size=1)
discounts = st.none() | st.one_of(
    st.builds(PercentOff, st.integers(1, 10_000), applies),
    st.builds(AmountOff, st.integers(1, 10**10), st.just("USD"), applies),
)
tax_rates = st.none() | st.builds(
    TaxRate, st.decimals(min_value=0, max_value=100, places=4, allow_nan=False), st.booleans()
)


@given(invoice_lines(), discounts, tax_rates)
def test_line_discounts_add_up_to_the_invoice_discount(
    lines: list[InvoiceLine], discount: Discount | None, rate: TaxRate | None
) -> None:
    invoice = compute_invoice("USD", lines, discount, rate)
    assert sum(line.discount for line in invoice.lines) == invoice.discount_total
    for result in invoice.lines:
        assert 0 <= result.discount <= max(result.amount, 0)


@given(invoice_lines(), discounts)
def test_the_discount_is_as_the_rule_says_and_split_in_proportion(
    lines: list[InvoiceLine], discount: Discount | None
) -> None:
    invoice = compute_invoice("USD", lines, discount)
    if discount is None:
        assert invoice.discount_total == 0
        return
    eligible = [
        result
        for given_line, result in zip(lines, invoice.lines, strict=True)
        if (given_line.discountable is not False and given_line.kind is not K.PRORATION)
        and (discount.applies_to is None or given_line.product_id in discount.applies_to)
    ]
    base = sum(result.amount for result in eligible)
    if isinstance(discount, PercentOff):
        expected = (base * discount.basis_points * 2 + 10_000) // 20_000  # half up
    else:
        expected = min(discount.amount_minor, base)
    assert invoice.discount_total == expected
    for result in eligible:
        exact = Fraction(invoice.discount_total * result.amount, base or 1)
        assert abs(result.discount - exact) < 1
    assert all(r.discount == 0 for r in invoice.lines if r not in eligible)


@given(invoice_lines(with_credits=False), discounts, tax_rates)
def test_without_credits_nothing_is_negative(
    lines: list[InvoiceLine], discount: Discount | None, rate: TaxRate | None
) -> None:
    invoice = compute_invoice("USD", lines, discount, rate)
    assert invoice.credit_carried == 0
    assert invoice.total >= 0
    assert all(result.total >= 0 and result.tax >= 0 for result in invoice.lines)
    assert invoice.total == sum(result.total for result in invoice.lines)


@given(invoice_lines(), discounts, tax_rates)
def test_totals_add_up_and_a_credit_is_carried_never_returned(
    lines: list[InvoiceLine], discount: Discount | None, rate: TaxRate | None
) -> None:
    invoice = compute_invoice("USD", lines, discount, rate)
    comes_to = sum(result.total for result in invoice.lines)
    assert comes_to == (
        invoice.subtotal - invoice.discount_total + invoice.tax_total - invoice.inclusive_tax_total
    )
    assert invoice.total - invoice.credit_carried == comes_to
    assert min(invoice.total, invoice.credit_carried) == 0 <= invoice.discount_total


@given(invoice_lines(), discounts, tax_rates, st.randoms(use_true_random=False))
def test_line_order_changes_nothing(
    lines: list[InvoiceLine],
    discount: Discount | None,
    rate: TaxRate | None,
    shuffler: random.Random,
) -> None:
    shuffled = list(lines)
    shuffler.shuffle(shuffled)
    one = compute_invoice("USD", lines, discount, rate)
    other = compute_invoice("USD", shuffled, discount, rate)
    assert {line.line_id: line for line in one.lines} == {
        line.line_id: line for line in other.lines
    }
    assert (one.subtotal, one.discount_total, one.tax_total, one.inclusive_tax_total) == (
        other.subtotal,
        other.discount_total,
        other.tax_total,
        other.inclusive_tax_total,
    )
    assert (one.total, one.credit_carried) == (other.total, other.credit_carried)


@given(invoice_lines(), discounts, tax_rates)
def test_caps_are_respected(
    lines: list[InvoiceLine], discount: Discount | None, rate: TaxRate | None
) -> None:
    invoice = compute_invoice("USD", lines, discount, rate)
    for given_line, result in zip(lines, invoice.lines, strict=True):
        if given_line.cap_minor is not None:
            assert result.amount <= given_line.cap_minor


net_amounts = st.integers(min_value=-MAX_AMOUNT_MINOR // 2, max_value=MAX_AMOUNT_MINOR // 2)
percents = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False)


@given(net_amounts, percents)
def test_inclusive_tax_taken_out_of_an_exclusive_gross_is_the_same_tax(
    net: int, percent: Decimal
) -> None:
    kind = K.PRORATION if net < 0 else K.PLAN
    exclusive = compute_invoice(
        "USD", [InvoiceLine("l", kind, net)], tax_rate=TaxRate(percent, inclusive=False)
    )
    gross = exclusive.lines[0].total
    inclusive = compute_invoice(
        "USD", [InvoiceLine("l", kind, gross)], tax_rate=TaxRate(percent, inclusive=True)
    )
    assert inclusive.tax_total == exclusive.tax_total
    assert inclusive.total - inclusive.credit_carried == gross
    assert gross - inclusive.tax_total == net


@given(net_amounts, percents)
def test_each_tax_is_within_half_a_unit_of_the_exact_one(amount: int, percent: Decimal) -> None:
    kind = K.PRORATION if amount < 0 else K.PLAN
    for inclusive in (False, True):
        invoice = compute_invoice(
            "USD", [InvoiceLine("l", kind, amount)], tax_rate=TaxRate(percent, inclusive)
        )
        rate = Fraction(percent) / 100
        share = rate / (1 + rate) if inclusive else rate
        assert abs(invoice.tax_total - amount * share) <= Fraction(1, 2)


# ---- the caller's decimal context is not the arithmetic's -------------------------


@pytest.mark.parametrize("inside_exact", [False, True], ids=["trapping-global", "inside-exact"])
def test_the_callers_decimal_traps_never_reach_the_arithmetic(inside_exact: bool) -> None:
    """Example D under a context trapping Inexact (and Rounded), the global
    one or exact()'s: rounding to minor units is inexact by nature, so the
    arithmetic must round in a context of its own, never a copy of the
    caller's."""
    from decimal import Context, Inexact, Rounded, localcontext

    from billingos_pricing.exact import exact

    trapping = Context(prec=28, traps=[Inexact, Rounded])
    with localcontext(trapping):
        if inside_exact:
            with exact():
                invoice = compute_invoice(
                    "USD", EXAMPLE_LINES, PercentOff(1000), TaxRate(D(20), inclusive=False)
                )
        else:
            invoice = compute_invoice(
                "USD", EXAMPLE_LINES, PercentOff(1000), TaxRate(D(20), inclusive=False)
            )
    assert invoice.discount_total == 824
    assert invoice.total == 8293


@pytest.mark.parametrize("amount", [D("-0.4"), D("-0.5"), D("-1E-30")])
def test_a_small_negative_decimal_is_refused_before_it_rounds(amount: Decimal) -> None:
    """-0.4 rounds to 0, but it was a credit: only a proration may be one."""
    with pytest.raises(PricingError) as refused:
        compute_invoice("USD", [InvoiceLine("api", K.USAGE, amount)])
    assert refused.value.field == "lines[0].amount"
    credit = compute_invoice("USD", [InvoiceLine("credit", K.PRORATION, D("-0.4"))])
    assert credit.total == 0
