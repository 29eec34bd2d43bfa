"""Amounts Stripe will accept: our ISO 4217 minor units to Stripe's wire
amounts and back, and the limits Stripe puts on one charge.

BillingOS keeps money in ISO 4217 minor units (currencies.py). Stripe's API
takes integers in "the currency's minor unit" too, but its unit is not always
ISO's, and it refuses some amounts ISO can write. The payments service
converts every amount it sends to Stripe or reads back from it here; the
catalog asks `price_amount_problem` so a price Stripe can never charge is
refused when it is created, not at every checkout.

Every rule follows Stripe's "Supported currencies" page
(docs.stripe.com/currencies), section by section as each table says; what the
page leaves open is written down as a decision, with its reason. Pure: no I/O,
no clock, no exchange rates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Literal

from billingos_pricing.amounts import to_major_units
from billingos_pricing.currencies import MINOR_UNIT_EXPONENTS, normalize_currency

# ---- Stripe's units -----------------------------------------------------------

STRIPE_EXPONENTS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # "Special cases": ISK and UGX "transitioned to a zero-decimal currency,
        # but backwards compatibility requires you to represent it as a
        # two-decimal value, where the decimal amount is always 00" ("to charge
        # 5 ISK, provide an amount value of 500"). ISO 4217 gives both 0 digits.
        # UGX is also on the page's zero-decimal list; the special case is the
        # one Stripe's API enforces (it refuses a UGX amount that is not a
        # multiple of 100, "Currency UGX has become effectively zero-decimal and
        # charged amounts must be evenly divisible by 100"), and integrations
        # that sent whole shillings charged a hundredth of the price
        # (woocommerce-gateway-stripe#2674, WordPress/wordcamp.org#1320).
        "ISK": 2,
        "UGX": 2,
        # "Zero-decimal currencies": MGA is on Stripe's list; ISO 4217 gives the
        # ariary 2 digits, so only whole ariary can be charged (our 12300 is 123).
        "MGA": 0,
    }
)
"""Stripe's digits after the decimal point, where they differ from ISO 4217's.

Every other currency has ISO's: the rest of ISO's zero-decimal currencies
(BIF CLP DJF GNF JPY KMF KRW PYG RWF VND VUV XAF XOF XPF) are exactly the rest
of Stripe's zero-decimal list, the three-decimal ones stay three-decimal
(below), and everything else is two-decimal on both sides ("Currencies are
two-decimal currencies unless otherwise specified").

HUF and TWD are not here, nor in STRIPE_AMOUNT_STEPS: the special cases say
"Stripe treats HUF [TWD] as a zero-decimal currency for payouts, even though
you can charge two-decimal amounts" and require whole units only "when you
create a manual payout". BillingOS charges and makes no manual payouts, so a
HUF or TWD charge is an ordinary two-decimal amount (17501 is 175.01 HUF).
"""

_STRIPE_THREE_DECIMAL = ("BHD", "JOD", "KWD", "OMR", "TND")

STRIPE_AMOUNT_STEPS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # "Special cases", as above: "the decimal amount is always 00", "You
        # can't charge fractions of ISK [UGX]" - whole units only.
        "ISK": 100,
        "UGX": 100,
        # "Three-decimal currencies" (BHD JOD KWD OMR TND): the API takes them
        # with three decimals but, "to ensure compatibility with Stripe's
        # payments partners, these API calls require the least-significant
        # (last) digit to be 0" (5.124 KWD must become 5120 or 5130).
        **dict.fromkeys(_STRIPE_THREE_DECIMAL, 10),
        # IQD and LYD are three-decimal in ISO 4217 but on none of Stripe's
        # lists, not even its presentment currencies, so Stripe refuses the
        # currency itself today. Decision: the rule of the three-decimal
        # currencies Stripe documents, as the card networks behind it are the
        # same. Stripe's default ("two-decimal unless otherwise specified")
        # would allow exactly the same amounts, so which reading is right only
        # changes the wire number, never whether a price is accepted.
        "IQD": 10,
        "LYD": 10,
    }
)
"""What Stripe's wire amount must be a multiple of, where it is not 1."""

# ---- Stripe's limits ------------------------------------------------------------

MINIMUM_CHARGES: Final[Mapping[str, int]] = MappingProxyType(
    {
        # "Minimum and maximum charge amounts", "Minimum charge amount by
        # currency", transcribed in our minor units (each of these currencies
        # has the same exponent for ISO and Stripe). The older version of the
        # table also had BGN 1.00; the lev is no longer priced in (currencies.py).
        "USD": 50,
        "AED": 200,
        "ARS": 50,
        "AUD": 50,
        "BRL": 50,
        "CAD": 50,
        "CHF": 50,
        "COP": 50,
        "CZK": 1500,
        "DKK": 250,
        "EUR": 50,
        "GBP": 30,
        "HKD": 400,
        "HUF": 17500,
        "IDR": 50,
        "ILS": 50,
        "INR": 50,
        "JPY": 50,
        "KRW": 50,
        "MXN": 1000,
        "MYR": 200,
        "NOK": 300,
        "NZD": 50,
        "PHP": 50,
        "PLN": 200,
        "RON": 200,
        "RUB": 50,
        "SEK": 300,
        "SGD": 50,
        "THB": 1000,
        "ZAR": 50,
    }
)
"""Stripe's documented minimum charge per currency, in our minor units.

Stripe sets the minimum by the account's settlement currency: "Charges
requiring conversion into your account's default settlement currency must meet
the equivalent minimum of the settlement currency". The charge currency's own
minimum is therefore exact only for an account settling in it, and otherwise a
close proxy (the table's amounts are about the same value, 0.50 USD, 10 MXN,
50 JPY). A currency Stripe lists no minimum for gets the smallest amount it can
charge at all, one of its steps (0.01 KES, 1 ISK, 1 MGA, 0.010 KWD): the real
floor is the settlement currency's minimum at the day's rate, which a pure
function cannot know, so Stripe may still refuse a small charge
(`amount_too_small`) and the payments service must expect that.
"""

MAXIMUM_DIGITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # "Maximum charge amounts", "Other payment methods": "12 digits for
        # IDR", "10 digits for COP", "9 digits for INR".
        "IDR": 12,
        "COP": 10,
        "INR": 9,
    }
)
"""Digits Stripe's wire amount may have, where it is not DEFAULT_MAXIMUM_DIGITS."""

DEFAULT_MAXIMUM_DIGITS: Final = 8
"""The API reference: "The amount value supports up to eight digits (e.g., a
value of 99999999 for a USD charge of $999,999.99)"; the currencies page: "8
digits for all other currencies". Card payments may go higher (12 digits for
most cards, 9 for American Express), but not every payment method does, so the
limit that holds for all of them is the one checked. It counts the digits of
Stripe's wire amount, not ours: the largest charge is 999,999.99 USD
(99,999,999), 999,999 ISK (99,999,900, the last multiple of 100) and
99,999,999 MGA (our 9,999,999,900)."""

# ---- the API ----------------------------------------------------------------------

UnchargeableReason = Literal[
    "AMOUNT_NOT_POSITIVE",
    "AMOUNT_BELOW_MINIMUM",
    "AMOUNT_ABOVE_MAXIMUM",
    "AMOUNT_NOT_REPRESENTABLE",
]


class UnchargeableAmount(ValueError):
    """An amount Stripe would refuse to charge. `reason` is one of
    UnchargeableReason, `message` says why in the currency's own terms, and
    `limit_minor` is the minimum or maximum it broke, in our minor units
    (None for the other reasons)."""

    def __init__(
        self, reason: UnchargeableReason, message: str, limit_minor: int | None = None
    ) -> None:
        super().__init__(message)
        self.reason: UnchargeableReason = reason
        self.message = message
        self.limit_minor = limit_minor


class UnrepresentableAmount(ValueError):
    """A Stripe amount that is no whole number of our minor units (550 ISK,
    that is 5.50 krónur, for ISO's whole krónur). Stripe never charges one;
    reading one back means the data is not what Stripe documents."""


@dataclass(frozen=True)
class StripeAmount:
    """An amount as Stripe's API takes it: `amount` in Stripe's minor unit,
    `currency` in lower case ("You must use all lowercase letters when passing
    the three-letter ISO code in any payment request")."""

    amount: int
    currency: str


def stripe_amount(amount_minor: int, currency: str) -> StripeAmount:
    """Our ISO minor units as Stripe's wire amount (5 ISK → 500, 12300 MGA →
    123, 1010 KWD → 1010), or UnchargeableAmount when Stripe would refuse the
    charge; UnknownCurrency for a currency BillingOS does not price in. The
    first problem in this order is the one reported: not positive, not
    representable, above the maximum, below the minimum (so 0.005 KWD is "not
    representable", which a price check must see, not merely "below the
    minimum", which it allows)."""
    units = _units(currency)
    _require_int(amount_minor)
    shown = _show(amount_minor, units.code)
    if amount_minor <= 0:
        raise UnchargeableAmount(
            "AMOUNT_NOT_POSITIVE", f"Stripe charges only amounts greater than 0, not {shown}"
        )
    wire = units.to_wire(amount_minor)
    if wire is None:
        step = _show(units.from_wire(units.wire_step), units.code)
        raise UnchargeableAmount(
            "AMOUNT_NOT_REPRESENTABLE",
            f"{shown} cannot be charged through Stripe, which charges {units.code} "
            f"in multiples of {step}",
        )
    maximum = units.maximum_minor()
    if amount_minor > maximum:
        raise UnchargeableAmount(
            "AMOUNT_ABOVE_MAXIMUM",
            f"{shown} is above Stripe's maximum charge of {_show(maximum, units.code)}",
            maximum,
        )
    minimum = units.minimum_minor()
    if amount_minor < minimum:
        raise UnchargeableAmount(
            "AMOUNT_BELOW_MINIMUM",
            f"{shown} is below Stripe's minimum charge of {_show(minimum, units.code)}",
            minimum,
        )
    return StripeAmount(amount=wire, currency=units.code.lower())


def stripe_refund_amount(amount_minor: int, currency: str) -> StripeAmount:
    """Our minor units as Stripe's wire amount for a refund: representable and
    positive, but no charge minimum applies (a partial refund of 0.10 USD is
    fine); UnchargeableAmount otherwise."""
    units = _units(currency)
    _require_int(amount_minor)
    shown = _show(amount_minor, units.code)
    if amount_minor <= 0:
        raise UnchargeableAmount(
            "AMOUNT_NOT_POSITIVE", f"Stripe refunds only amounts greater than 0, not {shown}"
        )
    wire = units.to_wire(amount_minor)
    if wire is None:
        step = _show(units.from_wire(units.wire_step), units.code)
        raise UnchargeableAmount(
            "AMOUNT_NOT_REPRESENTABLE",
            f"{shown} cannot be refunded through Stripe, which moves {units.code} "
            f"in multiples of {step}",
        )
    return StripeAmount(amount=wire, currency=units.code.lower())


def from_stripe_amount(amount: int, currency: str) -> int:
    """Stripe's wire amount (a webhook's, a refund's) in our ISO minor units:
    500 ISK → 5, 123 MGA → 12300. Any sign: balance movements can be negative.
    UnrepresentableAmount when it is a fraction of our minor unit."""
    units = _units(currency)
    _require_int(amount)
    return units.from_wire(amount)


def minimum_charge(currency: str) -> int:
    """The smallest amount Stripe charges in `currency`, in our minor units:
    its documented minimum (MINIMUM_CHARGES), else the smallest amount it can
    charge at all."""
    return _units(currency).minimum_minor()


def maximum_charge(currency: str) -> int:
    """The largest amount Stripe charges in `currency`, in our minor units:
    the largest chargeable wire amount within its digits (MAXIMUM_DIGITS)."""
    return _units(currency).maximum_minor()


def price_amount_problem(amount_minor: int, currency: str) -> str | None:
    """Why Stripe can never charge a price charged as it is (a fixed amount, a
    pay-what-you-want bound or preset), or None. Only what no checkout can fix:
    an amount Stripe cannot represent, or one above its maximum (and a negative
    one). Zero is a free price, and an amount below Stripe's minimum is a valid
    price, since billing carries a charge that small forward to the next one."""
    _require_int(amount_minor)
    if amount_minor == 0:
        return None
    try:
        stripe_amount(amount_minor, currency)
    except UnchargeableAmount as problem:
        return None if problem.reason == "AMOUNT_BELOW_MINIMUM" else problem.message
    return None


# ---- how ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Units:
    code: str
    iso_exponent: int
    stripe_exponent: int
    step: int  # what the wire amount must be a multiple of

    @property
    def wire_step(self) -> int:
        """The smallest positive wire amount that is both allowed by Stripe and
        a whole number of our minor units: every chargeable wire amount is a
        multiple of it."""
        ours = _ten_to(max(0, self.stripe_exponent - self.iso_exponent))
        return math.lcm(self.step, ours)

    def to_wire(self, amount_minor: int) -> int | None:
        """The wire amount, or None when Stripe cannot express it."""
        shift = self.stripe_exponent - self.iso_exponent
        if shift >= 0:
            wire = amount_minor * _ten_to(shift)
        else:
            wire, remainder = divmod(amount_minor, _ten_to(-shift))
            if remainder:
                return None
        return None if wire % self.step else wire

    def from_wire(self, wire: int) -> int:
        shift = self.iso_exponent - self.stripe_exponent
        if shift >= 0:
            return wire * _ten_to(shift)
        amount_minor, remainder = divmod(wire, _ten_to(-shift))
        if remainder:
            raise UnrepresentableAmount(
                f"Stripe amount {wire} {self.code.lower()} is not a whole number of "
                f"{self.code} minor units ({self.iso_exponent} decimal places)"
            )
        return amount_minor

    def minimum_minor(self) -> int:
        smallest = self.from_wire(self.wire_step)
        return max(MINIMUM_CHARGES.get(self.code, smallest), smallest)

    def maximum_minor(self) -> int:
        digits = MAXIMUM_DIGITS.get(self.code, DEFAULT_MAXIMUM_DIGITS)
        largest_wire = _ten_to(digits) - 1
        return self.from_wire(largest_wire - largest_wire % self.wire_step)


def _units(currency: str) -> _Units:
    code = normalize_currency(currency)
    iso = MINOR_UNIT_EXPONENTS[code]
    return _Units(
        code=code,
        iso_exponent=iso,
        stripe_exponent=STRIPE_EXPONENTS.get(code, iso),
        step=STRIPE_AMOUNT_STEPS.get(code, 1),
    )


def _ten_to(power: int) -> int:
    """10 ** `power` for a power that is never negative (typed as such: `int **
    int` is Any to the type checker, as a negative power would be a float)."""
    if power < 0:
        raise ValueError(f"negative power of ten: {power}")
    result: int = 10**power
    return result


def _require_int(amount: int) -> None:
    # True is an int to Python and to mypy; it is no amount of money.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"an amount is an int of minor units, not {type(amount).__name__}")


def _show(amount_minor: int, code: str) -> str:
    """`0.50 USD`, `999,999.99 USD`, `1.005 KWD`: exact, grouped by thousands."""
    major: Decimal = to_major_units(amount_minor, code)
    return f"{major:,f} {code}"
