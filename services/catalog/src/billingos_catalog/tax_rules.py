"""The rules of tax rates and tax behaviour: a rate's place (a country, or a
region of one) and percentage, which rate a billing address gets, and what
the invoice arithmetic (billingos_pricing.invoices) is given for a price.
Pure: no database, no protobuf; taxes.py applies them.

A price's tax behaviour is its own when it chose one, else the
organization's default; when neither chose, the line is UNSPECIFIED and the
rate's own `inclusive` decides (invoices.py, rule 3). That holds only until
the price is used: its first purchase freezes the behaviour then in effect
into the price (`frozen_tax_behavior`), so a used price is never UNSPECIFIED. A tax service (Stripe
Tax) computing rates per address and product is a later seam: it would
replace `applicable_rate`, not the invoice arithmetic."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from billingos_catalog.decimals import parse_decimal
from billingos_catalog.drafts import TaxRateDraft
from billingos_catalog.models import TaxRate
from billingos_catalog.vocabulary import TaxBehavior
from billingos_kit.countries import is_country_code
from billingos_kit.validation import TextPattern, Violations, check_metadata, check_text
from billingos_pricing import invoices
from billingos_pricing.exact import decimal_places
from billingos_pricing.invoices import MAX_TAX_PERCENT_PLACES

AT = "tax_rate"
MAX_DISPLAY_NAME_LENGTH = 256
# ISO 3166-2 subdivision codes are 1 to 3 letters or digits after the country.
REGION = TextPattern(r"[A-Za-z0-9]{1,3}", "1 to 3 letters or digits (an ISO 3166-2 subdivision)")
_COUNTRY = TextPattern(r"[A-Za-z]{2}", "an ISO 3166-1 alpha-2 country code, e.g. FR")


def country_code(text: str) -> str | None:
    """The upper-case ISO 3166-1 alpha-2 code, or None. Only ASCII letters
    are folded (the pattern refuses anything else first), so no lookalike
    becomes a code."""
    if not _COUNTRY.matches(text):
        return None
    code = text.upper()
    return code if is_country_code(code) else None


def region_code(text: str) -> str | None:
    """The upper-case region code ("" for none), or None if it is no code."""
    if not text:
        return ""
    return text.upper() if REGION.matches(text) else None


def check_created(violations: Violations, draft: TaxRateDraft) -> None:
    """What a rate is given once: its place."""
    if country_code(draft.country) is None:
        violations.add(f"{AT}.country", f"must be {_COUNTRY.description}")
    if region_code(draft.region) is None:
        violations.add(f"{AT}.region", f"must be empty or {REGION.description}")


def check_fields(violations: Violations, draft: TaxRateDraft, paths: Sequence[str]) -> None:
    """The updatable fields named in `paths`."""
    if "display_name" in paths:
        check_text(
            violations,
            f"{AT}.display_name",
            draft.display_name,
            max_length=MAX_DISPLAY_NAME_LENGTH,
            required=True,
        )
    if "percentage" in paths and percentage(draft.percentage) is None:
        violations.add(
            f"{AT}.percentage",
            f"must be a decimal from 0 to 100 with at most {MAX_TAX_PERCENT_PLACES} decimal "
            "places, e.g. 20 or 8.875",
        )
    if "metadata" in paths:
        check_metadata(violations, f"{AT}.metadata", draft.metadata)


def percentage(text: str) -> Decimal | None:
    """The rate as the invoice arithmetic takes it, or None if it is none."""
    value = parse_decimal(text)
    if value is None or not 0 <= value <= 100 or decimal_places(value) > MAX_TAX_PERCENT_PLACES:
        return None
    return value


def applicable_rate(rates: Sequence[TaxRate], region: str) -> TaxRate | None:
    """Of one country's rates, the region's if it has one, else the
    country's own (region ''), else None: no tax."""
    by_region = {rate.region: rate for rate in rates}
    return by_region.get(region) if region and region in by_region else by_region.get("")


def invoice_tax_rate(rate: TaxRate) -> invoices.TaxRate:
    """The rate as billingos_pricing.invoices.compute_invoice takes it."""
    return invoices.TaxRate(percent=rate.percentage, inclusive=rate.inclusive)


def frozen_tax_behavior(price: TaxBehavior, default: TaxBehavior) -> TaxBehavior:
    """What a price's tax behaviour becomes when it is first bought, and
    stays: its own choice, else the organization's default at that moment,
    else EXCLUSIVE. Frozen because what was charged must keep its meaning:
    left UNSPECIFIED, a later change of the default (or of a rate's
    `inclusive`) would reinterpret amounts already invoiced (Stripe too:
    once a price's tax_behavior is inclusive or exclusive it cannot change).
    EXCLUSIVE when nobody chose: Stripe Tax will not price an item whose
    behaviour neither its price nor the account's default gives, so there
    is no Stripe answer to copy; exclusive (tax added on top, Stripe's
    "common in US markets and for B2B") never makes the merchant absorb a
    tax it did not price in, and a customer-facing amount that must include
    tax is a choice a merchant makes explicitly."""
    if price is not TaxBehavior.UNSPECIFIED:
        return price
    return default if default is not TaxBehavior.UNSPECIFIED else TaxBehavior.EXCLUSIVE


def line_tax_behavior(price: TaxBehavior, default: TaxBehavior) -> invoices.TaxBehavior:
    """What an invoice line of a price says about tax: the price's own
    choice, else the organization's default, else unspecified (the rate's
    `inclusive` decides)."""
    chosen = price if price is not TaxBehavior.UNSPECIFIED else default
    return invoices.TaxBehavior(chosen.value)
