"""Checkout links and sessions (checkout.proto, public_checkout.proto).

A link is a merchant's shareable offer: products, the discounts whose codes
a customer may type, a success URL, a trial override. A session is one
customer's checkout, opened from a link (by the customer's page, or the
merchant) or from products (by the merchant): the price chosen, seats, the
customer's email, name and billing address, a discount code, and the
totals of the first order those choices make, computed as that order will
be (`requote`: the subscription's own `bought` and `discount`, the first
period's lines, the tax rate of the address, checkout_quote.py). A price of
a one-time product (no billing period) makes a one-time purchase instead
(purchases.py): its one line, no trial.

A session is found by its client secret (`bcx_...`, shown once; only its
sha256 is kept) by the anonymous public calls, which name no organization:
they act in the session's (or the link's) organization on the call's own
transaction (billingos_kit.workscope.OrganizationWork). The kit's
idempotency keys of an anonymous call are not an organization's, so these
calls are safe without them: an update locks the session's row and sets
absolute values (a repeat changes nothing more), opening a session makes
a new one each time (an open session is cheap and expires).

States: open → processing → completed, or open → completed when nothing is
due now (the confirmation, checkout_confirmation.py, fills `order_id` and,
for a subscription, `subscription_id`); processing → open with a payment error (the first payment
failed: checkout_outcome.py); open → expired (the sweep, checkout_expiry.py,
or the merchant), announced once."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from google.protobuf import field_mask_pb2, struct_pb2

from billingos.catalog.v1 import products_pb2, public_pb2
from billingos.common.v1 import address_pb2
from billingos.subscriptions.v1 import checkout_pb2, public_checkout_pb2
from billingos_kit.countries import is_country_code
from billingos_kit.credentials import digest_of
from billingos_kit.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.ids import canonical_id, new_id, parse_id
from billingos_kit.pagination import ListFilter, Page, PageRequest
from billingos_kit.protoconv import MetadataValue, metadata_from_proto
from billingos_kit.repository import apply_changes
from billingos_kit.validation import TextPattern, Violations, check_metadata, check_text
from billingos_kit.workscope import WorkScope
from billingos_subscriptions import checkout_quote, events, order_amounts, price_lines
from billingos_subscriptions.billing import Billing, LineDraft
from billingos_subscriptions.catalog_copy import Catalog, place_of
from billingos_subscriptions.checkout_outcome import expire_session
from billingos_subscriptions.clients import CatalogClient
from billingos_subscriptions.messages import (
    address_message,
    address_values,
    checkout_link_message,
    checkout_session_message,
    public_product_message,
    totals_message,
    trial_message,
)
from billingos_subscriptions.models import CheckoutLink, CheckoutSession, CustomerCopy
from billingos_subscriptions.periods import boundary
from billingos_subscriptions.purchases import OneTime, Purchases, is_one_time, purchase_lines
from billingos_subscriptions.repository import (
    CheckoutLinkRepository,
    CheckoutSecrets,
    CheckoutSessionFilter,
    CheckoutSessionRepository,
    SessionKey,
    TaxRateCopies,
)
from billingos_subscriptions.subscriptions import (
    MAX_SEATS,
    Bought,
    Subscriptions,
    check_trial,
    first_period_line,
)
from billingos_subscriptions.vocabulary import CheckoutSessionStatus

LINK = "checkout_link"
SESSION = "checkout_session"
MAX_PRODUCTS = 10
MAX_ALLOWED_DISCOUNTS = 20
MAX_URL_LENGTH = 2048
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 256
MAX_ADDRESS_LINE_LENGTH = 200
# The catalog's rule for discount and promotion codes.
CODE = TextPattern(r"[A-Za-z0-9_-]{3,64}", "3 to 64 letters, digits, '-' or '_'")
MIN_LIFETIME = dt.timedelta(minutes=30)
MAX_LIFETIME = dt.timedelta(hours=24)
DEFAULT_LIFETIME = MAX_LIFETIME
SECRET_PREFIX = "bcx_"
MAX_SECRET_LENGTH = 128
# The first order of a merchant's customer is taxed by the customer's own
# address, so a session of one quotes with it and takes no other.
_MERCHANT_CUSTOMER_ADDRESS = (
    "is the merchant's customer's own (its first order is taxed by it); change it on the customer"
)
# What a success URL may hold for the session's id (as Stripe's).
SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
# A syntax check only: the customers context judges an email when it makes
# the customer.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

LINK_MASK = UpdateMask(
    LINK,
    updatable=(
        "product_ids",
        "allowed_discount_ids",
        "success_url",
        "trial",
        "skip_trial",
        "archived",
        "metadata",
    ),
)
PUBLIC_SESSION_MASK = UpdateMask(
    SESSION,
    updatable=(
        "price_id",
        "seats",
        "customer_email",
        "customer_name",
        "billing_address",
        "discount_code",
    ),
)
# Which of a link's columns each field of its message is (for the update
# event's mask).
_LINK_FIELD_OF_COLUMN = {
    "product_ids": "product_ids",
    "allowed_discount_ids": "allowed_discount_ids",
    "success_url": "success_url",
    "trial_interval": "trial",
    "trial_count": "trial",
    "skip_trial": "skip_trial",
    "archived_at": "archived",
    "metadata": "metadata",
}


@dataclass(frozen=True)
class CheckoutSettings:
    """The deployment's checkout rules: where its pages are reached, whether
    a success URL may be plain http to a loopback host, and what the page
    gives Stripe.js."""

    public_base_url: str = ""
    loopback_http_allowed: bool = False
    stripe_publishable_key: str = ""
    stripe_js_url: str = ""

    def require_stripe_js(self) -> None:
        """A payment cannot start where the page could not show Stripe's card
        field: refused before any customer or SetupIntent is made."""
        if not self.stripe_publishable_key or not self.stripe_js_url:
            raise Unavailable(
                "checkout cannot take cards: this deployment sets no Stripe publishable key "
                "(BILLINGOS_SUBSCRIPTIONS_STRIPE_PUBLISHABLE_KEY or STRIPE_PUBLISHABLE_KEY)",
                reason="STRIPE_PUBLISHABLE_KEY_UNSET",
            )

    def payment(
        self, setup_intent_client_secret: str = "", payment_intent_client_secret: str = ""
    ) -> public_checkout_pb2.CheckoutPayment:
        """What the page gives Stripe.js: the card's SetupIntent to confirm,
        or the first payment's PaymentIntent to authenticate (3-D Secure)."""
        return public_checkout_pb2.CheckoutPayment(
            publishable_key=self.stripe_publishable_key,
            stripe_js_url=self.stripe_js_url,
            setup_intent_client_secret=setup_intent_client_secret,
            payment_intent_client_secret=payment_intent_client_secret,
        )

    def link_url(self, row: CheckoutLink) -> str:
        return f"{self.public_base_url.rstrip('/')}/checkout/{row.organization_id}/{row.id}"

    def session_url(self, client_secret: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/checkout/session/{client_secret}"


def check_success_url(
    violations: Violations, field: str, url: str, *, loopback_http_allowed: bool
) -> None:
    """An absolute https URL (plain http only to a loopback host, where the
    deployment allows it), ASCII, without credentials; never fetched by
    BillingOS (the customer's browser goes there)."""
    if not url:
        violations.add(field, "is required")
        return
    if len(url) > MAX_URL_LENGTH:
        violations.add(field, f"must be at most {MAX_URL_LENGTH} characters")
        return
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        violations.add(field, "must be ASCII without spaces (percent-encode the rest)")
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        violations.add(field, "must be a URL")
        return
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        violations.add(field, "must be an absolute https URL")
    elif parts.username is not None or parts.password is not None:
        violations.add(field, "must not hold a user name or password")
    elif scheme == "http" and not (_is_loopback(host) and loopback_http_allowed):
        violations.add(
            field,
            "must be https"
            + (
                " (plain http only to a loopback host)"
                if loopback_http_allowed
                else " (this deployment takes no plain http)"
            ),
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ids(
    violations: Violations,
    field: str,
    values: Any,
    *,
    maximum: int,
    required: bool = False,
    required_why: str = "is required",
) -> list[uuid.UUID]:
    """Canonical ids, each once, at most `maximum` of them."""
    if required and not values:
        violations.add(field, required_why)
        return []
    if len(values) > maximum:
        violations.add(field, f"must have at most {maximum} entries")
        return []
    found: list[uuid.UUID] = []
    for index, value in enumerate(values):
        parsed = canonical_id(value)
        if parsed is None:
            violations.add(
                f"{field}[{index}]",
                "must be an id in canonical UUID form (lower-case hex with hyphens)",
            )
        elif parsed in found:
            violations.add(f"{field}[{index}]", "is listed twice")
        else:
            found.append(parsed)
    return found


def _optional_id(violations: Violations, field: str, value: str) -> uuid.UUID | None:
    if not value:
        return None
    parsed = canonical_id(value)
    if parsed is None:
        violations.add(field, "must be an id in canonical UUID form (lower-case hex with hyphens)")
    return parsed


def _metadata(
    violations: Violations, field: str, values: Mapping[str, struct_pb2.Value]
) -> dict[str, MetadataValue]:
    metadata, bad = metadata_from_proto(values, field)
    violations.extend(bad)
    check_metadata(violations, field, metadata)
    return metadata


def _trial_columns(trial: products_pb2.Period | None) -> tuple[str | None, int | None]:
    if trial is None:
        return None, None
    interval = price_lines.interval_of(trial)
    return interval.unit.value, interval.count


def _check_trial_choice(
    violations: Violations, field: str, trial: products_pb2.Period | None, skip_trial: bool
) -> None:
    if trial is not None and skip_trial:
        violations.add(f"{field}.trial", "give a trial or skip_trial, not both")
    elif trial is not None:
        check_trial(violations, trial, f"{field}.trial")


# What a customer gives a session (or the merchant fills in for them): the
# same fields on both messages.
CustomerDetails = checkout_pb2.CheckoutSession | public_checkout_pb2.PublicCheckoutSession


def _email(violations: Violations, field: str, value: str) -> str:
    email = value.strip()
    before = len(violations.found)
    check_text(violations, field, email, max_length=MAX_EMAIL_LENGTH, single_line=True)
    if len(violations.found) == before and email and not _EMAIL.fullmatch(email):
        violations.add(field, "must be a valid email address")
    return email


def _name(violations: Violations, field: str, value: str) -> str:
    name = value.strip()
    check_text(violations, field, name, max_length=MAX_NAME_LENGTH, single_line=True)
    return name


def _code(violations: Violations, field: str, value: str) -> str:
    code = value.strip()
    if code:
        CODE.check(violations, field, code)
    return code


def _address(violations: Violations, field: str, given: CustomerDetails) -> dict[str, str] | None:
    """The billing address as the row keeps it (None: none given); the
    country upper-cased, as the customers context stores it."""
    if not given.HasField("billing_address"):
        return None
    address = address_pb2.Address()
    address.CopyFrom(given.billing_address)
    for part in ("line1", "line2", "postal_code", "city", "state"):
        check_text(
            violations,
            f"{field}.{part}",
            getattr(address, part),
            max_length=MAX_ADDRESS_LINE_LENGTH,
            single_line=True,
        )
    address.country = address.country.strip().upper()
    if not address.country:
        violations.add(f"{field}.country", "is required when an address is given")
    elif not is_country_code(address.country):
        violations.add(f"{field}.country", "must be an ISO 3166-1 alpha-2 code, e.g. US or FR")
    return address_values(address)


@dataclass(frozen=True)
class Details:
    customer_email: str
    customer_name: str
    billing_address: dict[str, str] | None
    discount_code: str


def _details(violations: Violations, prefix: str, given: CustomerDetails) -> Details:
    return Details(
        _email(violations, f"{prefix}.customer_email", given.customer_email),
        _name(violations, f"{prefix}.customer_name", given.customer_name),
        _address(violations, f"{prefix}.billing_address", given),
        _code(violations, f"{prefix}.discount_code", given.discount_code),
    )


@dataclass(frozen=True)
class Offer:
    """What a session offers: its link's, or the merchant's products."""

    checkout_link_id: uuid.UUID | None
    product_ids: list[uuid.UUID]
    allowed_discount_ids: list[uuid.UUID]
    trial_interval: str | None
    trial_count: int | None
    skip_trial: bool
    success_url: str

    @staticmethod
    def of_link(link: CheckoutLink) -> Offer:
        return Offer(
            link.id,
            list(link.product_ids),
            list(link.allowed_discount_ids),
            link.trial_interval,
            link.trial_count,
            link.skip_trial,
            link.success_url,
        )


async def expire_checkout(
    scope: WorkScope, billing: Billing, row: CheckoutSession, now: dt.datetime
) -> None:
    """Expires the (locked, open) session: a one-time purchase it made,
    declined and left, is voided with it (a subscription's ends unpaid on
    its own, as any incomplete one does)."""
    await expire_session(scope, row, now)
    if row.order_id is not None and row.subscription_id is None:
        await billing.abandon_purchase(row.order_id)


def is_confirmed(row: CheckoutSession) -> bool:
    """Whether the session's confirmation made its subscription or purchase
    (its choices are fixed from then on)."""
    return row.subscription_id is not None or row.order_id is not None


def refuse_unless_open(row: CheckoutSession, now: dt.datetime) -> None:
    """A session takes changes (and, later, its confirmation) only while open
    and before its expire time, whether or not the sweep has marked it."""
    status = CheckoutSessionStatus(row.status)
    if status is CheckoutSessionStatus.COMPLETED:
        raise FailedPrecondition(
            "the checkout session is completed", reason="CHECKOUT_SESSION_COMPLETED"
        )
    if status is CheckoutSessionStatus.PROCESSING:
        raise FailedPrecondition(
            "the checkout session is confirmed; its payment is in progress",
            reason="CHECKOUT_SESSION_PROCESSING",
        )
    if status is CheckoutSessionStatus.EXPIRED or row.expire_at <= now:
        raise FailedPrecondition(
            "the checkout session has expired; open a new one", reason="CHECKOUT_SESSION_EXPIRED"
        )


def _archived_link() -> FailedPrecondition:
    return FailedPrecondition(
        "the checkout link is archived: it opens no session", reason="CHECKOUT_LINK_ARCHIVED"
    )


def public_success_url(row: CheckoutSession) -> str:
    return row.success_url.replace(SESSION_ID_PLACEHOLDER, str(row.id))


class CheckoutLinks:
    """An organization's checkout links."""

    def __init__(
        self, subscriptions: Subscriptions, catalog: CatalogClient, settings: CheckoutSettings
    ) -> None:
        self._scope = subscriptions.billing.scope
        self._catalog = subscriptions.catalog
        self._catalog_client = catalog
        self._settings = settings
        self.links = CheckoutLinkRepository(self._scope)

    def message(self, row: CheckoutLink) -> checkout_pb2.CheckoutLink:
        return checkout_link_message(row, self._settings.link_url(row))

    async def create(self, wanted: checkout_pb2.CheckoutLink) -> CheckoutLink:
        """Makes a link; announces `checkout_link.created`."""
        violations = Violations()
        product_ids = _ids(
            violations,
            f"{LINK}.product_ids",
            wanted.product_ids,
            maximum=MAX_PRODUCTS,
            required=True,
        )
        discount_ids = _ids(
            violations,
            f"{LINK}.allowed_discount_ids",
            wanted.allowed_discount_ids,
            maximum=MAX_ALLOWED_DISCOUNTS,
        )
        check_success_url(
            violations,
            f"{LINK}.success_url",
            wanted.success_url,
            loopback_http_allowed=self._settings.loopback_http_allowed,
        )
        trial = wanted.trial if wanted.HasField("trial") else None
        _check_trial_choice(violations, LINK, trial, wanted.skip_trial)
        metadata = _metadata(violations, f"{LINK}.metadata", wanted.metadata)
        violations.raise_if_any()
        await check_products(self._catalog, product_ids, f"{LINK}.product_ids")
        await check_discounts(self._catalog_client, self._scope.organization_id, discount_ids)
        now = self._scope.clock.now()
        trial_interval, trial_count = _trial_columns(trial)
        row = CheckoutLink(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            product_ids=product_ids,
            allowed_discount_ids=discount_ids,
            success_url=wanted.success_url,
            trial_interval=trial_interval,
            trial_count=trial_count,
            skip_trial=wanted.skip_trial,
            archived_at=now if wanted.archived else None,
            metadata=metadata,
            created_at=now,
            updated_at=now,
        )
        await self.links.insert(row)
        await self._scope.outbox.add(events.checkout_link_created(self.message(row)))
        return row

    async def get(self, link_id: uuid.UUID) -> CheckoutLink:
        return await self.links.require(link_id)

    async def list_page(self, page: PageRequest) -> Page[CheckoutLink]:
        return await self.links.page(ListFilter(), page)

    async def update(
        self, wanted: checkout_pb2.CheckoutLink, mask: field_mask_pb2.FieldMask
    ) -> CheckoutLink:
        """Changes the masked fields; announces `checkout_link.updated` with
        the fields that changed (nothing when none did)."""
        link_id = parse_id(wanted.id, f"{LINK}.id")
        paths = LINK_MASK.paths(mask, wanted)
        row = await self.links.require(link_id, for_update=True)
        now = self._scope.clock.now()
        violations = Violations()
        changes: dict[str, Any] = {}
        if "product_ids" in paths:
            changes["product_ids"] = _ids(
                violations,
                f"{LINK}.product_ids",
                wanted.product_ids,
                maximum=MAX_PRODUCTS,
                required=True,
            )
        if "allowed_discount_ids" in paths:
            changes["allowed_discount_ids"] = _ids(
                violations,
                f"{LINK}.allowed_discount_ids",
                wanted.allowed_discount_ids,
                maximum=MAX_ALLOWED_DISCOUNTS,
            )
        if "success_url" in paths:
            check_success_url(
                violations,
                f"{LINK}.success_url",
                wanted.success_url,
                loopback_http_allowed=self._settings.loopback_http_allowed,
            )
            changes["success_url"] = wanted.success_url
        trial = None
        if "trial" in paths:
            trial = wanted.trial if wanted.HasField("trial") else None
            if trial is not None:
                check_trial(violations, trial, f"{LINK}.trial")
        if "skip_trial" in paths:
            changes["skip_trial"] = wanted.skip_trial
        if "archived" in paths:
            changes["archived_at"] = (row.archived_at or now) if wanted.archived else None
        if "metadata" in paths:
            changes["metadata"] = _metadata(violations, f"{LINK}.metadata", wanted.metadata)
        violations.raise_if_any()
        if "trial" in paths:
            changes["trial_interval"], changes["trial_count"] = _trial_columns(trial)
        has_trial = changes.get("trial_interval", row.trial_interval) is not None
        if has_trial and changes.get("skip_trial", row.skip_trial):
            raise InvalidArgument(f"{LINK}.trial", "give a trial or skip_trial, not both")
        if changes.get("product_ids") and changes["product_ids"] != row.product_ids:
            await check_products(self._catalog, changes["product_ids"], f"{LINK}.product_ids")
        if changes.get("allowed_discount_ids") and (
            changes["allowed_discount_ids"] != row.allowed_discount_ids
        ):
            await check_discounts(
                self._catalog_client, self._scope.organization_id, changes["allowed_discount_ids"]
            )
        changed = apply_changes(row, changes)
        if not changed:
            return row
        row.updated_at = now
        await self.links.update(row, [*changed, "updated_at"])
        fields = list(dict.fromkeys(_LINK_FIELD_OF_COLUMN[name] for name in changed))
        await self._scope.outbox.add(events.checkout_link_updated(self.message(row), fields))
        return row


async def check_discounts(
    catalog: CatalogClient, organization_id: uuid.UUID, discount_ids: list[uuid.UUID]
) -> None:
    """Each is one of the organization's discounts (the catalog's say)."""
    for discount_id in discount_ids:
        if await catalog.discount(organization_id, discount_id) is None:
            raise NotFound("discount", str(discount_id))


async def check_products(catalog: Catalog, product_ids: list[uuid.UUID], field: str) -> None:
    """Each is a product of the organization (recurring or one-time), not
    archived, as the catalog has it now (asked, not the copy: one archived a
    moment ago is refused)."""
    for index, product_id in enumerate(product_ids):
        product = await catalog.product(product_id, fresh=True)
        if product is None:
            raise NotFound("product", str(product_id))
        if product.archived:
            raise FailedPrecondition(
                f"{field}[{index}]: the product is archived", reason="PRODUCT_ARCHIVED"
            )


class CheckoutSessions:
    """An organization's checkout sessions: opened, quoted, updated by the
    customer, expired."""

    def __init__(
        self, subscriptions: Subscriptions, catalog: CatalogClient, settings: CheckoutSettings
    ) -> None:
        self._subscriptions = subscriptions
        self._catalog_client = catalog
        self._billing = subscriptions.billing
        self._scope = subscriptions.billing.scope
        self._catalog = subscriptions.catalog
        self._settings = settings
        self.purchases = Purchases(subscriptions)
        self.sessions = CheckoutSessionRepository(self._scope)
        self.links = CheckoutLinkRepository(self._scope)

    # ---- reads ----------------------------------------------------------------

    async def get(self, session_id: uuid.UUID) -> CheckoutSession:
        return await self.sessions.require(session_id)

    async def list_page(
        self, where: CheckoutSessionFilter, page: PageRequest
    ) -> Page[CheckoutSession]:
        return await self.sessions.page(where, page)

    async def public_products(self, product_ids: list[uuid.UUID]) -> list[public_pb2.PublicProduct]:
        """The offer as public pages show it, from the read copies: products
        not archived, with their active prices, in the given order."""
        shown = []
        for product_id in product_ids:
            product = await self._catalog.product(product_id)
            if product is None or product.archived:
                continue
            prices = [p for p in await self._catalog.prices_of(product) if not p.archived]
            shown.append(public_product_message(product, prices))
        return shown

    async def public_link(self, link_id: uuid.UUID) -> CheckoutLink:
        """A link whose page may be shown: NotFound for none of the
        organization's, CHECKOUT_LINK_ARCHIVED for an archived one."""
        link = await self.links.require(link_id)
        if link.archived_at is not None:
            raise _archived_link()
        return link

    # ---- opening --------------------------------------------------------------

    async def create(self, wanted: checkout_pb2.CheckoutSession) -> tuple[CheckoutSession, str]:
        """Opens a session for the merchant, from a link or from products;
        announces `checkout.created`. Returns it with its client secret."""
        violations = Violations()
        now = self._scope.clock.now()
        link_id = _optional_id(violations, f"{SESSION}.checkout_link_id", wanted.checkout_link_id)
        product_ids: list[uuid.UUID] = []
        discount_ids: list[uuid.UUID] = []
        trial = wanted.trial if wanted.HasField("trial") else None
        if link_id is not None or wanted.checkout_link_id:
            for name in ("product_ids", "allowed_discount_ids"):
                if getattr(wanted, name):
                    violations.add(
                        f"{SESSION}.{name}",
                        "comes from the checkout link: give a link or products, not both",
                    )
            if trial is not None or wanted.skip_trial:
                violations.add(f"{SESSION}.trial", "comes from the checkout link")
        else:
            product_ids = _ids(
                violations,
                f"{SESSION}.product_ids",
                wanted.product_ids,
                maximum=MAX_PRODUCTS,
                required=True,
                required_why="is required (or a checkout_link_id)",
            )
            discount_ids = _ids(
                violations,
                f"{SESSION}.allowed_discount_ids",
                wanted.allowed_discount_ids,
                maximum=MAX_ALLOWED_DISCOUNTS,
            )
            _check_trial_choice(violations, SESSION, trial, wanted.skip_trial)
            if not wanted.success_url:
                violations.add(f"{SESSION}.success_url", "is required (or a checkout_link_id)")
        if wanted.success_url:
            check_success_url(
                violations,
                f"{SESSION}.success_url",
                wanted.success_url,
                loopback_http_allowed=self._settings.loopback_http_allowed,
            )
        price_id = _optional_id(violations, f"{SESSION}.price_id", wanted.price_id)
        if not 0 <= wanted.seats <= MAX_SEATS:
            violations.add(f"{SESSION}.seats", f"must be 0 to {MAX_SEATS}")
        customer_id = _optional_id(violations, f"{SESSION}.customer_id", wanted.customer_id)
        details = _details(violations, SESSION, wanted)
        if customer_id is not None and details.billing_address is not None:
            violations.add(f"{SESSION}.billing_address", _MERCHANT_CUSTOMER_ADDRESS)
        metadata = _metadata(violations, f"{SESSION}.metadata", wanted.metadata)
        expire_at = now + DEFAULT_LIFETIME
        if wanted.HasField("expire_time"):
            try:
                expire_at = wanted.expire_time.ToDatetime(tzinfo=dt.UTC)
            except ValueError:
                expire_at = now  # not a time: refused below
            if not MIN_LIFETIME <= expire_at - now <= MAX_LIFETIME:
                violations.add(f"{SESSION}.expire_time", "must be 30 minutes to 24 hours from now")
        violations.raise_if_any()
        if link_id is not None:
            link = await self.public_link(link_id)
            offer = Offer.of_link(link)
        else:
            await check_products(self._catalog, product_ids, f"{SESSION}.product_ids")
            await check_discounts(self._catalog_client, self._scope.organization_id, discount_ids)
            trial_interval, trial_count = _trial_columns(trial)
            offer = Offer(
                None,
                product_ids,
                discount_ids,
                trial_interval,
                trial_count,
                wanted.skip_trial,
                wanted.success_url,
            )
        if customer_id is not None:
            customer = await self._catalog.customer(customer_id, fresh=True)
            if customer is None or customer.deleted_at is not None:
                raise NotFound("customer", str(customer_id))
        return await self._open(
            offer,
            price_id,
            wanted.seats,
            customer_id,
            details,
            wanted.success_url or offer.success_url,
            expire_at,
            metadata,
        )

    async def open_from_link(
        self, link_id: uuid.UUID, wanted: public_checkout_pb2.PublicCheckoutSession
    ) -> tuple[CheckoutSession, str]:
        """Opens a session from a link for a customer's page (24 hours);
        announces `checkout.created`. Returns it with its client secret."""
        violations = Violations()
        price_id = _optional_id(violations, f"{SESSION}.price_id", wanted.price_id)
        if not 0 <= wanted.seats <= MAX_SEATS:
            violations.add(f"{SESSION}.seats", f"must be 0 to {MAX_SEATS}")
        details = _details(violations, SESSION, wanted)
        violations.raise_if_any()
        link = await self.public_link(link_id)
        offer = Offer.of_link(link)
        now = self._scope.clock.now()
        return await self._open(
            offer,
            price_id,
            wanted.seats,
            None,
            details,
            offer.success_url,
            now + DEFAULT_LIFETIME,
            {},
        )

    async def _open(
        self,
        offer: Offer,
        price_id: uuid.UUID | None,
        seats: int,
        customer_id: uuid.UUID | None,
        details: Details,
        success_url: str,
        expire_at: dt.datetime,
        metadata: dict[str, MetadataValue],
    ) -> tuple[CheckoutSession, str]:
        now = self._scope.clock.now()
        client_secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        row = CheckoutSession(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            checkout_link_id=offer.checkout_link_id,
            client_secret_hash=digest_of(client_secret),
            status=CheckoutSessionStatus.OPEN.value,
            product_ids=offer.product_ids,
            allowed_discount_ids=offer.allowed_discount_ids,
            price_id=uuid.UUID(int=0),  # chosen by requote
            currency="",
            seats=seats,
            customer_id=customer_id,
            customer_email=details.customer_email,
            customer_name=details.customer_name,
            billing_address=details.billing_address,
            discount_code=details.discount_code,
            discount_id=None,
            promotion_code_id=None,
            trial_interval=offer.trial_interval,
            trial_count=offer.trial_count,
            skip_trial=offer.skip_trial,
            success_url=success_url,
            totals=b"",
            subscription_id=None,
            order_id=None,
            metadata=dict(metadata),
            expire_at=expire_at,
            completed_at=None,
            expired_at=None,
            created_at=now,
            updated_at=now,
        )
        await self.requote(row, price_id, seats)
        await self.sessions.insert(row)
        await self._scope.outbox.add(events.checkout_created(checkout_session_message(row)))
        return row, client_secret

    # ---- the customer's changes -------------------------------------------------

    async def update_public(
        self,
        session_id: uuid.UUID,
        wanted: public_checkout_pb2.PublicCheckoutSession,
        mask: field_mask_pb2.FieldMask,
    ) -> CheckoutSession:
        """Sets the masked choices and details of an open session (under its
        row lock) and quotes them anew. Announces nothing."""
        paths = PUBLIC_SESSION_MASK.paths(mask, wanted)
        row = await self.sessions.require(session_id, for_update=True)
        now = self._scope.clock.now()
        refuse_unless_open(row, now)
        if is_confirmed(row):
            raise FailedPrecondition(
                "the checkout session is confirmed: its choices and details are fixed "
                "(after a failed payment, only another card can be tried)",
                reason="CHECKOUT_SESSION_CONFIRMED",
            )
        before = (row.customer_email, row.customer_name, row.billing_address)
        violations = Violations()
        price_id: uuid.UUID | None = row.price_id
        if "price_id" in paths:
            price_id = _optional_id(violations, f"{SESSION}.price_id", wanted.price_id)
            if price_id is None and not wanted.price_id:
                violations.add(f"{SESSION}.price_id", "is required")
        seats: int | None = None
        if "seats" in paths:
            seats = wanted.seats
            if not 0 <= seats <= MAX_SEATS:
                violations.add(f"{SESSION}.seats", f"must be 0 to {MAX_SEATS}")
        if "customer_email" in paths:
            row.customer_email = _email(
                violations, f"{SESSION}.customer_email", wanted.customer_email
            )
        if "customer_name" in paths:
            row.customer_name = _name(violations, f"{SESSION}.customer_name", wanted.customer_name)
        if "billing_address" in paths:
            if row.customer_id is not None and not row.customer_made:
                violations.add(f"{SESSION}.billing_address", _MERCHANT_CUSTOMER_ADDRESS)
            else:
                row.billing_address = _address(violations, f"{SESSION}.billing_address", wanted)
        if "discount_code" in paths:
            row.discount_code = _code(violations, f"{SESSION}.discount_code", wanted.discount_code)
        violations.raise_if_any()
        if seats is None:
            # A new price keeps the seats only if it has seats too.
            seats = row.seats if price_id == row.price_id else await self._seats_for(price_id, row)
        await self.requote(row, price_id, seats)
        row.updated_at = now
        if row.customer_made and before != (
            row.customer_email,
            row.customer_name,
            row.billing_address,
        ):
            # The customer made from the old details is left as it is (it
            # bought nothing); the next start of the payment makes another.
            row.customer_id = None
            row.customer_made = False
            row.setup_intent_id = None
        await self.sessions.update(
            row,
            [
                "customer_id",
                "customer_made",
                "setup_intent_id",
                "price_id",
                "currency",
                "seats",
                "customer_email",
                "customer_name",
                "billing_address",
                "discount_code",
                "discount_id",
                "promotion_code_id",
                "totals",
                "updated_at",
            ],
        )
        return row

    async def _seats_for(self, price_id: uuid.UUID | None, row: CheckoutSession) -> int:
        if price_id is None:
            return 0
        price = await self._catalog.price(price_id)
        seat_based = price is not None and price_lines.kind_of(price) == "seat_based"
        return row.seats if seat_based else 0

    async def expire(self, session_id: uuid.UUID) -> CheckoutSession:
        """Expires an open session now (announces `checkout.expired`); an
        expired one is returned as it is; a confirmed one is refused."""
        row = await self.sessions.require(session_id, for_update=True)
        status = CheckoutSessionStatus(row.status)
        if status is CheckoutSessionStatus.EXPIRED:
            return row
        if status is not CheckoutSessionStatus.OPEN:
            refuse_unless_open(row, self._scope.clock.now())
        await expire_checkout(self._scope, self._billing, row, self._scope.clock.now())
        return row

    # ---- the quote --------------------------------------------------------------

    async def requote(
        self, row: CheckoutSession, price_id: uuid.UUID | None, seats: int
    ) -> Bought | OneTime:
        """Chooses the session's price (the one named, else the first
        product's first active one), seats and discount, and computes its
        totals as the first order of a subscription made with them will be:
        what `Subscriptions.create` buys (`bought`, fresh from the catalog:
        a price archived since is PRICE_ARCHIVED), its trial, its discount
        (the catalog's `ValidateDiscount`, only of the allowed ones), the
        first period's lines and the tax rate of the billing address (the
        customer's own without one). A one-time product's price is quoted as
        its purchase's order: its one line, no trial. Returns what it buys."""
        bought = await self._bought(row.product_ids, price_id, seats)
        customer: CustomerCopy | None = None
        if row.customer_id is not None:
            customer = await self._catalog.customer(row.customer_id)
        now = await self._billing.now_for(customer.test_clock_id if customer else None)
        trial_end: dt.datetime | None = None
        if isinstance(bought, OneTime):
            drafts = purchase_lines(bought)
        else:
            trial_end, drafts = await self._first_period(row, bought, now)
        anchor = trial_end or now
        chosen = await self._subscriptions.discount(
            row.discount_code,
            None,
            bought,
            row.customer_id,
            f"checkout:{row.id}",
            now,
            field=f"{SESSION}.discount_code",
            allowed=frozenset(str(d) for d in row.allowed_discount_ids),
        )
        discount = None
        if chosen is not None and order_amounts.discount_live(
            chosen.remaining_orders, chosen.ends_at, anchor
        ):
            discount = order_amounts.invoice_discount(chosen.discount, bought.currency)
        if row.billing_address is not None:
            address = address_message(row.billing_address)
            assert address is not None
            country, region = place_of(address)
        elif customer is not None:
            country, region = customer.country, customer.region
        else:
            country, region = None, None
        rates = await TaxRateCopies(self._scope).of_country(country) if country else []
        rate = order_amounts.rate_of_place(country, region, rates)
        quote = checkout_quote.quote(
            checkout_quote.QuoteKey(row.id, row.organization_id),
            bought.currency,
            drafts,
            discount,
            rate,
            trial_end,
            self._scope.clock,
        )
        first_price = bought.price if isinstance(bought, OneTime) else bought.prices[0]
        row.price_id = price_id if price_id is not None else uuid.UUID(first_price.id)
        row.currency = bought.currency
        row.seats = bought.seats
        row.discount_id = None if chosen is None else uuid.UUID(chosen.discount.id)
        row.promotion_code_id = None if chosen is None else chosen.promotion_code_id
        row.totals = totals_message(quote).SerializeToString()
        return bought

    async def _first_period(
        self, row: CheckoutSession, bought: Bought, now: dt.datetime
    ) -> tuple[dt.datetime | None, list[LineDraft]]:
        """A subscription's trial end (None: no trial) and first period's
        lines (its metered prices are billed at the period's end)."""
        trial = self._trial(row, bought.product)
        zone = (await self._billing.rules()).zone
        trial_end: dt.datetime | None = None
        if trial is not None:
            try:
                trial_end = boundary(now, price_lines.interval_of(trial), 1, zone)
            except ValueError:
                raise InvalidArgument(
                    f"{SESSION}.trial", "ends past the end of the calendar"
                ) from None
        anchor = trial_end or now
        try:
            first_end = boundary(anchor, bought.interval, 1, zone)
        except ValueError:
            raise InvalidArgument(
                f"{SESSION}.price_id", "its first period ends past the end of the calendar"
            ) from None
        drafts = [
            first_period_line(price, bought.product, bought.seats, anchor, first_end)
            for price in bought.prices
            if not price_lines.is_metered(price)
        ]
        return trial_end, drafts

    async def _bought(
        self, product_ids: list[uuid.UUID], price_id: uuid.UUID | None, seats: int
    ) -> Bought | OneTime:
        """What buying the price (default: the first product's first active
        static price, else its first active one) with `seats` buys: a
        subscription, or a one-time purchase of a one-time product's."""
        catalog = self._catalog
        if price_id is None:
            first = product_ids[0]
            product = await catalog.product(first, fresh=True)
            if product is None:
                raise NotFound("product", str(first))
            active = [p for p in await catalog.prices_of(product) if not p.archived]
            statics = [p for p in active if not price_lines.is_metered(p)]
            picked = (statics or active)[:1]
            if not picked:
                raise FailedPrecondition(
                    f"{SESSION}.price_id: the first product has no active price",
                    reason="NO_ACTIVE_PRICE",
                )
            price_id = uuid.UUID(picked[0].id)
        price = await catalog.price(price_id, fresh=True)
        if price is None or canonical_id(price.product_id) not in product_ids:
            raise NotFound("price", str(price_id))
        product = await catalog.product(uuid.UUID(price.product_id), fresh=True)
        if product is None:
            raise NotFound("product", price.product_id)
        if is_one_time(product):
            return await self.purchases.bought(product, price_id, seats, field=SESSION)
        return await self._subscriptions.bought(
            uuid.UUID(price.product_id), price_id, "", seats, field=SESSION
        )

    @staticmethod
    def _trial(row: CheckoutSession, product: products_pb2.Product) -> products_pb2.Period | None:
        """The trial a subscription made from the session gets, as
        `Subscriptions.create` chooses it: the override, else the product's
        unless skipped."""
        if row.trial_interval is not None:
            return trial_message(row.trial_interval, row.trial_count)
        if not row.skip_trial and product.HasField("trial"):
            return product.trial
        return None


class PublicCheckout:
    """The public calls' way in: the organization a link id or client secret
    belongs to, and the scope to act in it."""

    def __init__(self, secrets_repository: CheckoutSecrets) -> None:
        self._secrets = secrets_repository

    async def session_key(self, client_secret: str) -> SessionKey:
        """The session a client secret opens; NotFound for any other text
        (the secret is never echoed: errors are logged)."""
        if not client_secret.startswith(SECRET_PREFIX) or len(client_secret) > MAX_SECRET_LENGTH:
            raise NotFound("checkout_session", "(by client secret)")
        found = await self._secrets.find(digest_of(client_secret))
        if found is None:
            raise NotFound("checkout_session", "(by client secret)")
        return found


def organization_of(value: str) -> uuid.UUID:
    """A public route's `{organization}`: the organization's id (the
    subscriptions context keeps no slugs)."""
    if not value.strip():
        raise InvalidArgument("organization", "give the organization's id")
    found = canonical_id(value)
    if found is None:
        raise InvalidArgument("organization", "must be the organization's id (canonical UUID)")
    return found
