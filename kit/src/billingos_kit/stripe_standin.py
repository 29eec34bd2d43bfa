"""A stand-in for Stripe in development and tests, run as its own process:

    python -m billingos_kit.stripe_standin --port P --upstream http://127.0.0.1:Q \\
        [--webhook-secret whsec_...]

It sits in front of localstripe (a fake Stripe server, a separate program we
never import) and forwards it every request it does not serve itself,
unchanged. What localstripe lacks and the stand-in adds, in Stripe's wire format:

- Connect: `POST /v1/accounts`, `GET|POST /v1/accounts/{id}`,
  `POST /v1/account_links`, `POST /v1/accounts/{id}/login_links`, and the
  `account.updated` events Stripe sends when an account changes, signed as
  Stripe signs them (`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
  "<t>.<body>" under the endpoint's secret>`) and sent to every webhook
  registered through `POST /_config/webhooks/{id}` (which still reaches
  localstripe too, for its own payment_intent events);
- destination charges: `transfer_data[destination]` and
  `application_fee_amount` on PaymentIntents (localstripe refuses both), kept
  here per PaymentIntent and put back into every PaymentIntent it returns;
- idempotent requests: a POST repeated with the same `Idempotency-Key` gets
  the first answer again, as from Stripe (localstripe ignores the header);
- `POST /_standin/accounts/{id}/complete_onboarding`, for tests: the account
  as Stripe leaves it after onboarding (form `charges_enabled`,
  `payouts_enabled`, `details_submitted`, default true; `currently_due[]`),
  then its `account.updated` event. An account link's URL leads to a page of
  the stand-in that does the same, for a person trying `./billingos up`.

State lives in memory and dies with the process. This module runs only in
development and tests: aiohttp, which it uses, is a development dependency.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
import signal
import string
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from yarl import URL

from billingos_kit.logging import configure_logging

# Where the stand-in's webhook secret comes from when not given on the command line.
WEBHOOK_SECRET_ENV = "BILLINGOS_STANDIN_WEBHOOK_SECRET"

log = logging.getLogger("billingos_kit.stripe_standin")

# The API version the stripe SDK of this repository pins; events carry it.
API_VERSION = "2026-10-28.endive"
ACCOUNT_LINK_SECONDS = 300  # Stripe's account links expire after five minutes
IDEMPOTENCY_SECONDS = 24 * 3600  # how long Stripe keeps an idempotent result
IDEMPOTENCY_ENTRIES = 10_000
DELIVERY_DELAYS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)  # a failed webhook is retried
JSON_TYPE = "application/json"

Json = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Countries Stripe opens connected accounts in, with their default currency.
CONNECT_COUNTRIES: dict[str, str] = {
    "AE": "aed", "AT": "eur", "AU": "aud", "BE": "eur", "BG": "bgn", "BR": "brl",
    "CA": "cad", "CH": "chf", "CY": "eur", "CZ": "czk", "DE": "eur", "DK": "dkk",
    "EE": "eur", "ES": "eur", "FI": "eur", "FR": "eur", "GB": "gbp", "GI": "gbp",
    "GR": "eur", "HK": "hkd", "HR": "eur", "HU": "huf", "IE": "eur", "IN": "inr",
    "IT": "eur", "JP": "jpy", "LI": "chf", "LT": "eur", "LU": "eur", "LV": "eur",
    "MT": "eur", "MX": "mxn", "MY": "myr", "NL": "eur", "NO": "nok", "NZ": "nzd",
    "PL": "pln", "PT": "eur", "RO": "ron", "SE": "sek", "SG": "sgd", "SI": "eur",
    "SK": "eur", "TH": "thb", "US": "usd",
}  # fmt: skip
DEFAULT_COUNTRY = "US"  # the platform's own country when none is given

ACCOUNT_TYPES = ("custom", "express", "standard")
BUSINESS_TYPES = ("company", "government_entity", "individual", "non_profit")
_CAPABILITY_NAMES = """
    acss_debit_payments affirm_payments afterpay_clearpay_payments alipay_payments
    amazon_pay_payments au_becs_debit_payments bacs_debit_payments bancontact_payments
    bank_transfer_payments blik_payments boleto_payments card_issuing card_payments
    cartes_bancaires_payments cashapp_payments eps_payments fpx_payments giropay_payments
    grabpay_payments ideal_payments jcb_payments klarna_payments konbini_payments
    legacy_payments link_payments mobilepay_payments multibanco_payments oxxo_payments
    p24_payments paynow_payments promptpay_payments revolut_pay_payments
    sepa_bank_transfer_payments sepa_debit_payments sofort_payments swish_payments
    tax_reporting_us_1099_k tax_reporting_us_1099_misc transfers treasury twint_payments
    us_bank_account_ach_payments us_bank_transfer_payments zip_payments
"""
CAPABILITIES = frozenset(_CAPABILITY_NAMES.split())
BUSINESS_PROFILE_FIELDS = (
    "mcc",
    "name",
    "product_description",
    "support_email",
    "support_phone",
    "support_url",
    "url",
)
LINK_TYPES = ("account_onboarding", "account_update")

_REQUIRED_ALWAYS = ("external_account", "tos_acceptance.date", "tos_acceptance.ip")
_REQUIRED_BY_BUSINESS_TYPE: dict[str | None, tuple[str, ...]] = {
    None: ("business_type",),
    "individual": (
        "business_profile.mcc",
        "business_profile.url",
        "individual.address.city",
        "individual.address.line1",
        "individual.address.postal_code",
        "individual.dob.day",
        "individual.dob.month",
        "individual.dob.year",
        "individual.email",
        "individual.first_name",
        "individual.last_name",
        "individual.phone",
    ),
    "company": (
        "business_profile.mcc",
        "business_profile.url",
        "company.address.city",
        "company.address.line1",
        "company.address.postal_code",
        "company.name",
        "company.phone",
        "company.tax_id",
        "representative.dob.day",
        "representative.dob.month",
        "representative.dob.year",
        "representative.email",
        "representative.first_name",
        "representative.last_name",
        "representative.relationship.title",
    ),
}
_REQUIRED_BY_BUSINESS_TYPE["non_profit"] = _REQUIRED_BY_BUSINESS_TYPE["company"]
_REQUIRED_BY_BUSINESS_TYPE["government_entity"] = _REQUIRED_BY_BUSINESS_TYPE["company"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "content-length",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_KEY_PART = re.compile(r"\[([^\[\]]*)\]")
_ALPHANUMERIC = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def render_json(value: Json) -> str:
    """JSON as Stripe writes it: indented by two."""
    return json.dumps(value, indent=2) + "\n"


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """A `Stripe-Signature` header: the HMAC-SHA256 of "<timestamp>.<payload>"
    under the endpoint's whole secret (`whsec_…`), in hex."""
    signed = str(timestamp).encode() + b"." + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class StripeError(Exception):
    """An answer in Stripe's error shape: `{"error": {"type", "message", ...}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type

    def response(self) -> web.Response:
        error: Json = {"message": self.message, "type": self.error_type}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        headers = {"WWW-Authenticate": 'Basic realm="Stripe"'} if self.status == 401 else None
        return web.Response(
            status=self.status,
            text=render_json({"error": error}),
            content_type=JSON_TYPE,
            headers=headers,
        )


def unknown_parameter(raw_key: str) -> StripeError:
    return StripeError(
        400,
        f"Received unknown parameter: {raw_key}",
        param=raw_key,
        code="parameter_unknown",
    )


def missing_parameter(name: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {name}.", param=name, code="parameter_missing"
    )


def invalid_value(name: str, message: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(400, message, param=name, code=code)


# --- form parameters -------------------------------------------------------


@dataclass(frozen=True)
class Param:
    raw: str  # the key as sent, e.g. "capabilities[card_payments][requested]"
    path: tuple[str, ...]  # ("capabilities", "card_payments", "requested")
    value: str


def parse_form(body: bytes, query: str = "") -> list[Param]:
    """The parameters of a request, as Stripe reads them: the query string's,
    then the form-encoded body's (which is what the stripe SDK sends)."""
    params = []
    for text in (query, body.decode("utf-8", errors="replace")):
        for raw, value in parse_qsl(text, keep_blank_values=True):
            params.append(Param(raw, split_key(raw), value))
    return params


def split_key(raw: str) -> tuple[str, ...]:
    match = _KEY.fullmatch(raw)
    if match is None:
        return (raw, "\x00")  # no pattern below accepts this
    return (match[1], *_KEY_PART.findall(match[2]))


# A pattern's part "*" stands for any name, "#" for a list index ("" or digits).
Pattern = tuple[str, ...]


def _matches(path: tuple[str, ...], pattern: Pattern) -> bool:
    if len(path) != len(pattern):
        return False
    for part, expected in zip(path, pattern, strict=True):
        if expected == "*":
            if not part:
                return False
        elif expected == "#":
            if part and not part.isdigit():
                return False
        elif part != expected:
            return False
    return True


def check_known(params: Iterable[Param], patterns: Sequence[Pattern]) -> dict[tuple[str, ...], str]:
    """Refuses the first parameter no pattern accepts (as Stripe does), else
    the parameters by path (the last of repeated ones)."""
    values: dict[tuple[str, ...], str] = {}
    for param in params:
        if not any(_matches(param.path, pattern) for pattern in patterns):
            raise unknown_parameter(param.raw)
        values[param.path] = param.value
    return values


def parse_bool(name: str, value: str) -> bool:
    if value == "true":
        return True
    if value == "false":
        return False
    raise invalid_value(name, f"Invalid boolean: {value}")


def parse_int(name: str, value: str) -> int:
    if not re.fullmatch(r"-?\d+", value):
        raise invalid_value(name, f"Invalid integer: {value}", "parameter_invalid_integer")
    return int(value)


def check_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_value(name, "Not a valid URL", "url_invalid")
    return value


def check_email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise invalid_value("email", f"Invalid email address: {value}", "email_invalid")
    return value


def metadata_changes(values: dict[tuple[str, ...], str], metadata: dict[str, str]) -> None:
    """Applies `metadata[key]=value` (an empty value removes the key) and
    `metadata=` (removes all) to `metadata`, within Stripe's limits."""
    if ("metadata",) in values:
        if values[("metadata",)]:
            raise invalid_value("metadata", "Invalid object")
        metadata.clear()
    for path, value in values.items():
        if path[0] != "metadata" or len(path) != 2:
            continue
        key = path[1]
        if len(key) > 40:
            raise invalid_value(f"metadata[{key}]", "Metadata keys can have up to 40 characters.")
        if len(value) > 500:
            raise invalid_value(
                f"metadata[{key}]", "Metadata values can have up to 500 characters."
            )
        if value:
            metadata[key] = value
        else:
            metadata.pop(key, None)
    if len(metadata) > 50:
        raise invalid_value("metadata", "You can specify up to 50 keys in metadata.")


def expand_patterns() -> list[Pattern]:
    return [("expand", "#")]


# --- accounts --------------------------------------------------------------


def onboarding_requirements(business_type: str | None) -> list[str]:
    return sorted({*_REQUIRED_ALWAYS, *_REQUIRED_BY_BUSINESS_TYPE[business_type]})


def requirements(currently_due: list[str], *, charges_enabled: bool, submitted: bool) -> Json:
    due = sorted(set(currently_due))
    if charges_enabled:
        disabled_reason = None
    elif due:
        disabled_reason = "requirements.past_due"
    else:
        disabled_reason = "requirements.pending_verification"
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": due,
        "disabled_reason": disabled_reason,
        "errors": [],
        "eventually_due": due,
        "past_due": [] if charges_enabled else due,
        "pending_verification": [] if charges_enabled or due or not submitted else ["document"],
    }


def controller(account_type: str) -> Json:
    if account_type == "standard":
        return {
            "fees": {"payer": "account"},
            "is_controller": True,
            "losses": {"payments": "stripe"},
            "requirement_collection": "stripe",
            "stripe_dashboard": {"type": "full"},
            "type": "application",
        }
    return {
        "fees": {"payer": "application"},
        "is_controller": True,
        "losses": {"payments": "application"},
        "requirement_collection": "application" if account_type == "custom" else "stripe",
        "stripe_dashboard": {"type": "none" if account_type == "custom" else "express"},
        "type": "application",
    }


ACCOUNT_CREATE_PATTERNS: list[Pattern] = [
    ("type",),
    ("country",),
    ("email",),
    ("business_type",),
    ("default_currency",),
    ("capabilities", "*", "requested"),
    ("metadata",),
    ("metadata", "*"),
    *(("business_profile", name) for name in BUSINESS_PROFILE_FIELDS),
    *expand_patterns(),
]
ACCOUNT_UPDATE_PATTERNS: list[Pattern] = [
    ("email",),
    ("business_type",),
    ("default_currency",),
    ("capabilities", "*", "requested"),
    ("metadata",),
    ("metadata", "*"),
    *(("business_profile", name) for name in BUSINESS_PROFILE_FIELDS),
    *expand_patterns(),
]


def requested_capabilities(values: dict[tuple[str, ...], str]) -> dict[str, bool]:
    requested = {}
    for path, value in values.items():
        if path[0] == "capabilities" and len(path) == 3:
            name = path[1]
            raw = f"capabilities[{name}][requested]"
            if name not in CAPABILITIES:
                raise unknown_parameter(f"capabilities[{name}]")
            requested[name] = parse_bool(raw, value)
    return requested


def apply_account_fields(account: Json, values: dict[tuple[str, ...], str]) -> None:
    """The fields create and update share."""
    if ("email",) in values:
        email = values[("email",)]
        account["email"] = check_email(email) if email else None
    if ("business_type",) in values:
        business_type = values[("business_type",)] or None
        if business_type is not None and business_type not in BUSINESS_TYPES:
            raise invalid_value(
                "business_type",
                "Invalid business_type: must be one of company, government_entity, "
                "individual, or non_profit",
            )
        account["business_type"] = business_type
    if ("default_currency",) in values:
        currency = values[("default_currency",)].lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise invalid_value("default_currency", f"Invalid currency: {currency}")
        account["default_currency"] = currency
    for name in BUSINESS_PROFILE_FIELDS:
        if ("business_profile", name) in values:
            account["business_profile"][name] = values[("business_profile", name)] or None
    capabilities: dict[str, str] = account["capabilities"]
    for name, wanted in requested_capabilities(values).items():
        if not wanted:
            capabilities.pop(name, None)
        elif name not in capabilities:
            capabilities[name] = "active" if account["charges_enabled"] else "inactive"
    metadata_changes(values, account["metadata"])


def new_account(values: dict[tuple[str, ...], str], now: int) -> Json:
    account_type = values.get(("type",), "standard")
    if account_type not in ACCOUNT_TYPES:
        raise invalid_value("type", "Invalid type: must be one of custom, express, or standard")
    country = values.get(("country",), DEFAULT_COUNTRY).upper()
    if country not in CONNECT_COUNTRIES:
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise invalid_value(
                "country",
                f"Country '{country}' is unknown. Try using a 2-character alpha-2 "
                "country code instead, such as 'US', 'EG', or 'GB'.",
                "country_code_invalid",
            )
        raise invalid_value(
            "country",
            f"Connected accounts in {country} are not supported.",
            "country_unsupported",
        )
    account_id = new_id("acct_", 16)
    account: Json = {
        "id": account_id,
        "object": "account",
        "business_profile": dict.fromkeys(BUSINESS_PROFILE_FIELDS),
        "business_type": None,
        "capabilities": {},
        "charges_enabled": False,
        "controller": controller(account_type),
        "country": country,
        "created": now,
        "default_currency": CONNECT_COUNTRIES[country],
        "details_submitted": False,
        "email": None,
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
        "future_requirements": requirements([], charges_enabled=True, submitted=False),
        "metadata": {},
        "payouts_enabled": False,
        "requirements": {},
        "settings": {
            "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
            "payouts": {
                "debit_negative_balances": account_type != "standard",
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": account_type,
    }
    apply_account_fields(account, values)
    if not account["capabilities"]:
        if account_type == "custom":
            raise missing_parameter("capabilities")
        if account_type == "standard":  # Stripe requests these for a standard account
            account["capabilities"] = {"card_payments": "inactive", "transfers": "inactive"}
    account["requirements"] = requirements(
        onboarding_requirements(account["business_type"]), charges_enabled=False, submitted=False
    )
    return account


def onboard(
    account: Json,
    *,
    charges_enabled: bool,
    payouts_enabled: bool,
    details_submitted: bool,
    currently_due: list[str],
    now: int,
) -> None:
    """The account as Stripe leaves it once its owner went through onboarding
    and Stripe checked what they gave."""
    account["charges_enabled"] = charges_enabled
    account["payouts_enabled"] = payouts_enabled
    account["details_submitted"] = details_submitted
    account["requirements"] = requirements(
        currently_due, charges_enabled=charges_enabled, submitted=details_submitted
    )
    if charges_enabled:
        status = "active"
    elif currently_due or not details_submitted:
        status = "inactive"
    else:
        status = "pending"
    account["capabilities"] = dict.fromkeys(account["capabilities"], status)
    if details_submitted and account["tos_acceptance"]["date"] is None:
        account["tos_acceptance"] = {"date": now, "ip": "127.0.0.1", "user_agent": None}


# --- the server ------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str
    events: tuple[str, ...] | None  # None: every event

    def wants(self, event_type: str) -> bool:
        return self.events is None or event_type in self.events or "*" in self.events


@dataclass
class AccountLink:
    account: str
    refresh_url: str
    return_url: str
    expires_at: int
    used: bool = False


@dataclass(frozen=True)
class Remembered:
    """An idempotent request's first answer."""

    fingerprint: tuple[str, str, tuple[tuple[str, str], ...]]
    request_id: str
    status: int
    body: bytes
    content_type: str
    at: float


@dataclass
class StandIn:
    upstream: str  # localstripe, e.g. "http://127.0.0.1:8420"
    webhook_secret: str = ""  # for registrations that bring no secret of their own
    honour_idempotency_keys: bool = False  # Stripe's replay (--honour-idempotency-keys)
    accounts: dict[str, Json] = field(default_factory=dict)
    links: dict[str, AccountLink] = field(default_factory=dict)
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    events: dict[str, Json] = field(default_factory=dict)
    # What localstripe does not keep of a PaymentIntent: transfer_data, application_fee_amount.
    connect_charges: dict[str, Json] = field(default_factory=dict)
    remembered: OrderedDict[tuple[str, str, str], Remembered] = field(default_factory=OrderedDict)
    in_flight: set[tuple[str, str, str]] = field(default_factory=set)
    deliveries: set[asyncio.Task[None]] = field(default_factory=set)
    _upstream_session: ClientSession | None = None
    _webhook_session: ClientSession | None = None

    # -- application ------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            # Idempotency keys are ignored unless asked for, as localstripe
            # ignores them: BillingOS must not depend on Stripe's dedup.
            middlewares=[
                self._log_requests,
                self._errors,
                *([self._idempotency] if self.honour_idempotency_keys else []),
            ],
            client_max_size=16 * 1024 * 1024,
        )
        app.cleanup_ctx.append(self._sessions)
        router = app.router
        router.add_post("/v1/accounts", self.create_account)
        router.add_get("/v1/accounts/{id}", self.retrieve_account)
        router.add_post("/v1/accounts/{id}", self.update_account)
        router.add_post("/v1/accounts/{id}/login_links", self.create_login_link)
        router.add_post("/v1/account_links", self.create_account_link)
        router.add_post("/v1/payment_intents", self.create_payment_intent)
        router.add_post("/v1/payment_intents/{id}", self.update_payment_intent)
        router.add_post("/v1/payment_intents/{id}/confirm", self.confirm_payment_intent)
        router.add_post("/v1/refunds", self.create_refund)
        router.add_get("/v1/events/{id}", self.retrieve_event)
        router.add_post("/_config/webhooks/{id}", self.register_webhook)
        router.add_delete("/_config/data", self.flush)
        router.add_post("/_standin/accounts/{id}/complete_onboarding", self.complete_onboarding)
        router.add_get("/_standin/connect/onboarding/{link}", self.onboarding_page)
        router.add_post("/_standin/connect/onboarding/{link}", self.onboarding_done)
        router.add_get("/_standin/connect/express/{id}/{token}", self.express_page)
        router.add_route("*", "/{tail:.*}", self.proxy)
        return app

    async def _sessions(self, _app: web.Application) -> AsyncIterator[None]:
        self._upstream_session = ClientSession(
            timeout=ClientTimeout(total=60), auto_decompress=False
        )
        self._webhook_session = ClientSession(timeout=ClientTimeout(total=10))
        try:
            yield
        finally:
            for task in list(self.deliveries):
                task.cancel()
            await asyncio.gather(*self.deliveries, return_exceptions=True)
            await self._upstream_session.close()
            await self._webhook_session.close()

    @web.middleware
    async def _log_requests(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        request_id = new_id("req_", 14)
        request["request_id"] = request_id
        status = 500
        try:
            response = await handler(request)
            status = response.status
            response.headers.setdefault("Request-Id", request_id)
            return response
        except web.HTTPException as answer:  # a redirect of the onboarding pages
            status = answer.status
            raise
        finally:
            elapsed = (time.monotonic() - started) * 1000
            log.info(
                "%s %s %d %.1fms",
                request.method,
                request.path_qs,
                status,
                elapsed,
                extra={"request_id": request_id},
            )

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except StripeError as error:
            return error.response()

    @web.middleware
    async def _idempotency(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A POST to the API with an `Idempotency-Key` already answered gets
        that answer again, for the same parameters only; as from Stripe, what
        failed validation or authentication is not kept."""
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/v1/"):
            return await handler(request)
        scope = (
            request.headers.get("Authorization", ""),
            request.headers.get("Stripe-Account", ""),
            key,
        )
        body = await request.read()
        fingerprint = (
            request.method,
            request.path,
            tuple(sorted(parse_qsl(request.query_string + "&" + body.decode(errors="replace")))),
        )
        self._forget_old()
        earlier = self.remembered.get(scope)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    error_type="idempotency_error",
                )
            return web.Response(
                status=earlier.status,
                body=earlier.body,
                headers={
                    "Content-Type": earlier.content_type,
                    "Idempotency-Key": key,
                    "Idempotent-Replayed": "true",
                    "Original-Request": earlier.request_id,
                },
            )
        if scope in self.in_flight:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through). Please try again later.",
                code="idempotency_key_in_use",
            )
        self.in_flight.add(scope)
        try:
            response = await handler(request)
        finally:
            self.in_flight.discard(scope)
        if isinstance(response, web.Response) and (
            200 <= response.status < 300 or response.status == 402
        ):
            self.remembered[scope] = Remembered(
                fingerprint,
                request["request_id"],
                response.status,
                bytes(response.body) if isinstance(response.body, bytes | bytearray) else b"",
                response.headers.get("Content-Type", JSON_TYPE),
                time.monotonic(),
            )
            while len(self.remembered) > IDEMPOTENCY_ENTRIES:
                self.remembered.popitem(last=False)
        response.headers["Idempotency-Key"] = key
        return response

    def _forget_old(self) -> None:
        horizon = time.monotonic() - IDEMPOTENCY_SECONDS
        while self.remembered:
            oldest = next(iter(self.remembered.values()))
            if oldest.at >= horizon:
                return
            self.remembered.popitem(last=False)

    # -- Connect ----------------------------------------------------------

    async def create_account(self, request: web.Request) -> web.Response:
        check_api_key(request)
        values = check_known(await form(request), ACCOUNT_CREATE_PATTERNS)
        account = new_account(values, int(time.time()))
        self.accounts[account["id"]] = account
        return json_response(account)

    async def retrieve_account(self, request: web.Request) -> web.Response:
        check_api_key(request)
        check_known(await form(request), expand_patterns())
        return json_response(self._account(request))

    async def update_account(self, request: web.Request) -> web.Response:
        check_api_key(request)
        account = self._account(request)
        values = check_known(await form(request), ACCOUNT_UPDATE_PATTERNS)
        before = json.loads(json.dumps(account))
        apply_account_fields(account, values)
        self._account_changed(before, account, request)
        return json_response(account)

    async def create_login_link(self, request: web.Request) -> web.Response:
        check_api_key(request)
        account = self._account(request)
        check_known(await form(request), expand_patterns())
        if account["type"] != "express":
            raise StripeError(
                400,
                "Login links can only be created for Express accounts.",
                param="account",
            )
        if not account["details_submitted"]:
            raise StripeError(
                400,
                "Cannot create a login link for an account that has not completed onboarding.",
                param="account",
            )
        token = secrets.token_urlsafe(9)
        origin = request.url.origin()
        return json_response(
            {
                "object": "login_link",
                "created": int(time.time()),
                "url": f"{origin}/_standin/connect/express/{account['id']}/{token}",
            }
        )

    async def create_account_link(self, request: web.Request) -> web.Response:
        check_api_key(request)
        values = check_known(
            await form(request),
            [
                ("account",),
                ("type",),
                ("refresh_url",),
                ("return_url",),
                ("collect",),
                ("collection_options", "fields"),
                ("collection_options", "future_requirements"),
                *expand_patterns(),
            ],
        )
        account_id = values.get(("account",)) or ""
        if not account_id:
            raise missing_parameter("account")
        link_type = values.get(("type",)) or ""
        if not link_type:
            raise missing_parameter("type")
        if link_type not in LINK_TYPES:
            raise invalid_value(
                "type", "Invalid type: must be one of account_onboarding or account_update"
            )
        account = self.accounts.get(account_id)
        if account is None:
            raise StripeError(
                400, f"No such account: '{account_id}'", param="account", code="resource_missing"
            )
        if link_type == "account_update" and account["type"] != "custom":
            raise invalid_value(
                "type",
                "You cannot create `account_update` type Account Links for accounts that "
                "have access to a Stripe-hosted Dashboard.",
            )
        for name in ("refresh_url", "return_url"):
            if not values.get((name,)):
                raise missing_parameter(name)
            check_url(name, values[(name,)])
        now = int(time.time())
        link_id = secrets.token_urlsafe(12)
        self.links[link_id] = AccountLink(
            account_id,
            values[("refresh_url",)],
            values[("return_url",)],
            now + ACCOUNT_LINK_SECONDS,
        )
        return json_response(
            {
                "object": "account_link",
                "created": now,
                "expires_at": now + ACCOUNT_LINK_SECONDS,
                "url": f"{request.url.origin()}/_standin/connect/onboarding/{link_id}",
            }
        )

    async def retrieve_event(self, request: web.Request) -> web.StreamResponse:
        event = self.events.get(request.match_info["id"])
        if event is None:
            return await self.proxy(request)
        check_api_key(request)
        return json_response(event)

    def _account(self, request: web.Request) -> Json:
        account_id = request.match_info["id"]
        account = self.accounts.get(account_id)
        if account is None:
            raise StripeError(
                403,
                f"The provided key '{masked_key(request)}' does not have access to account "
                f"'{account_id}' (or that account does not exist). Application access may "
                "have been revoked.",
                code="account_invalid",
            )
        return account

    # -- test controls and the pages account links lead to -----------------

    async def complete_onboarding(self, request: web.Request) -> web.Response:
        """Test control: the account as after its owner's onboarding (every
        flag true unless given; `currently_due[]` what Stripe still asks)."""
        account = self._account(request)
        params = await form(request)
        check_known(
            params,
            [
                ("charges_enabled",),
                ("payouts_enabled",),
                ("details_submitted",),
                ("currently_due",),
                ("currently_due", "#"),
            ],
        )
        flags = {"charges_enabled": True, "payouts_enabled": True, "details_submitted": True}
        currently_due = []
        for param in params:
            if param.path[0] == "currently_due":
                if param.value:
                    currently_due.append(param.value)
            else:
                flags[param.path[0]] = parse_bool(param.raw, param.value)
        before = json.loads(json.dumps(account))
        onboard(
            account,
            charges_enabled=flags["charges_enabled"],
            payouts_enabled=flags["payouts_enabled"],
            details_submitted=flags["details_submitted"],
            currently_due=currently_due,
            now=int(time.time()),
        )
        self._account_changed(before, account, request)
        return json_response(account)

    async def onboarding_page(self, request: web.Request) -> web.Response:
        link = self.links.get(request.match_info["link"])
        if link is None or link.used or link.expires_at < time.time():
            if link is None:
                raise web.HTTPNotFound(text="This account link is not known.")
            raise web.HTTPFound(link.refresh_url)
        account = self.accounts[link.account]
        page = f"""<!doctype html>
<title>Stripe stand-in: onboarding</title>
<h1>Onboarding of {html.escape(account["id"])}</h1>
<p>This is the local Stripe stand-in of BillingOS, not Stripe. Completing
onboarding here enables charges and payouts for the account at once.</p>
<form method="post"><button>Complete onboarding</button></form>
<p><a href="{html.escape(link.return_url)}">Leave without completing</a></p>
"""
        return web.Response(text=page, content_type="text/html")

    async def onboarding_done(self, request: web.Request) -> web.Response:
        link = self.links.get(request.match_info["link"])
        if link is None:
            raise web.HTTPNotFound(text="This account link is not known.")
        if link.used or link.expires_at < time.time():
            raise web.HTTPSeeOther(link.refresh_url)
        link.used = True
        account = self.accounts[link.account]
        before = json.loads(json.dumps(account))
        onboard(
            account,
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
            currently_due=[],
            now=int(time.time()),
        )
        self._account_changed(before, account, request)
        raise web.HTTPSeeOther(link.return_url)

    async def express_page(self, request: web.Request) -> web.Response:
        account = self._account(request)
        page = f"""<!doctype html>
<title>Stripe stand-in: Express dashboard</title>
<h1>Express dashboard of {html.escape(account["id"])}</h1>
<p>This is the local Stripe stand-in of BillingOS, not Stripe.</p>
<pre>{html.escape(render_json(account))}</pre>
"""
        return web.Response(text=page, content_type="text/html")

    # -- events -----------------------------------------------------------

    def _account_changed(self, before: Json, account: Json, request: web.Request) -> None:
        changed = {key: value for key, value in before.items() if account.get(key) != value}
        if not changed:
            return
        from_api = request.path.startswith("/v1/")
        self.send_event(
            "account.updated",
            account,
            previous_attributes=changed,
            account_id=account["id"],
            request_id=request["request_id"] if from_api else None,
            idempotency_key=request.headers.get("Idempotency-Key") if from_api else None,
        )

    def send_event(
        self,
        event_type: str,
        data_object: Json,
        *,
        previous_attributes: Json | None = None,
        account_id: str | None = None,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Json:
        """Makes a Stripe event and sends it, signed, to every webhook that
        wants it, in the background (retrying a few times, as Stripe does)."""
        targets = [hook for hook in self.webhooks.values() if hook.wants(event_type)]
        data: Json = {"object": json.loads(json.dumps(data_object))}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event: Json = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": data,
            "livemode": False,
            "pending_webhooks": len(targets),
            "request": {"id": request_id, "idempotency_key": idempotency_key},
            "type": event_type,
        }
        if account_id is not None:
            event["account"] = account_id
        self.events[event["id"]] = event
        payload = render_json(event).encode()
        for hook in targets:
            task = asyncio.get_running_loop().create_task(self._deliver(hook, event, payload))
            self.deliveries.add(task)
            task.add_done_callback(self.deliveries.discard)
        return event

    async def _deliver(self, hook: Webhook, event: Json, payload: bytes) -> None:
        assert self._webhook_session is not None
        for delay in DELIVERY_DELAYS:
            await asyncio.sleep(delay)
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, hook.secret, int(time.time())),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Cache-Control": "no-cache",
            }
            try:
                async with self._webhook_session.post(
                    hook.url, data=payload, headers=headers
                ) as answer:
                    await answer.read()
                    outcome = f"answered {answer.status}"
                    if 200 <= answer.status < 300:
                        log.info("delivered %s %s to %s", event["type"], event["id"], hook.url)
                        return
            except (ClientError, TimeoutError) as error:
                outcome = f"failed: {error!r}"
            log.warning("webhook %s %s to %s %s", event["type"], event["id"], hook.url, outcome)
        log.warning("gave up delivering %s %s to %s", event["type"], event["id"], hook.url)

    # -- what goes through to localstripe, with additions -------------------

    async def register_webhook(self, request: web.Request) -> web.Response:
        """localstripe's own webhook registration, remembered here too: the
        stand-in's events go to the same URL, signed with the same secret."""
        body = await request.read()
        fields: dict[str, Any]
        if request.content_type == JSON_TYPE:
            try:
                loaded = json.loads(body or b"{}")
            except ValueError:
                loaded = None
            fields = loaded if isinstance(loaded, dict) else {}
        else:
            params = parse_form(body)
            fields = {p.path[0]: p.value for p in params if len(p.path) == 1}
            listed = [p.value for p in params if p.path[0] == "events" and len(p.path) == 2]
            if listed:
                fields["events"] = listed
            if not fields.get("secret") and self.webhook_secret:
                body = urlencode(
                    [*((p.raw, p.value) for p in params), ("secret", self.webhook_secret)]
                ).encode()
                fields["secret"] = self.webhook_secret
        response = await self.forward(request, body)
        url, secret, events = fields.get("url"), fields.get("secret"), fields.get("events")
        if 200 <= response.status < 300 and isinstance(url, str) and isinstance(secret, str):
            self.webhooks[request.match_info["id"]] = Webhook(
                url, secret, tuple(str(e) for e in events) if isinstance(events, list) else None
            )
            log.info("webhook %s registered: %s", request.match_info["id"], url)
        return response

    async def flush(self, request: web.Request) -> web.Response:
        """localstripe's `DELETE /_config/data`, which forgets the stand-in's data too."""
        self.accounts.clear()
        self.links.clear()
        self.events.clear()
        self.connect_charges.clear()
        self.remembered.clear()
        return await self.forward(request, await request.read())

    async def create_payment_intent(self, request: web.Request) -> web.Response:
        check_api_key(request)
        body, extra = await self._take_connect_params(request, creating=True)
        return await self._payment_intent_answer(await self.forward(request, body), extra)

    async def update_payment_intent(self, request: web.Request) -> web.Response:
        check_api_key(request)
        body, extra = await self._take_connect_params(request, creating=False)
        if extra and not body:  # localstripe refuses an update of nothing; read it instead
            answer = await self.forward(request, None, method="GET")
        else:
            answer = await self.forward(request, body)
        return await self._payment_intent_answer(answer, extra)

    async def confirm_payment_intent(self, request: web.Request) -> web.Response:
        """localstripe refuses `off_session` on a confirm, where Stripe takes
        it (a merchant-initiated charge): accepted, and dropped, here; the
        PaymentIntent keeps the destination it was created with."""
        check_api_key(request)
        body = await request.read()
        if request.content_type == "application/x-www-form-urlencoded":
            kept = [(p.raw, p.value) for p in parse_form(body) if p.path[0] != "off_session"]
            body = urlencode(kept).encode()
        return await self._payment_intent_answer(await self.forward(request, body), {})

    async def create_refund(self, request: web.Request) -> web.Response:
        """A refund as localstripe makes it, announced as Stripe announces
        it (`refund.created`), which localstripe does not."""
        check_api_key(request)
        answer = await self.forward(request, await request.read())
        found = _json_of(answer)
        if answer.status == 200 and found is not None and found.get("object") == "refund":
            self.send_event(
                "refund.created",
                found,
                request_id=request["request_id"],
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        return answer

    async def _take_connect_params(
        self, request: web.Request, *, creating: bool
    ) -> tuple[bytes, Json]:
        """The request's body without the destination-charge parameters, and
        those parameters, checked as Stripe checks them."""
        body = await request.read()
        if request.content_type != "application/x-www-form-urlencoded":
            return body, {}
        params = parse_form(body)
        taken = [p for p in params if p.path[0] in ("transfer_data", "application_fee_amount")]
        if not taken:
            return body, {}
        extra: Json = {}
        for param in taken:
            if param.path == ("transfer_data", "destination") and creating:
                extra["transfer_data"] = {"destination": param.value}
            elif param.path == ("application_fee_amount",):
                extra["application_fee_amount"] = (
                    parse_int(param.raw, param.value) if param.value else None
                )
            else:
                raise unknown_parameter(param.raw)
        fee = extra.get("application_fee_amount")
        if fee is not None:
            if fee < 0:
                raise invalid_value(
                    "application_fee_amount",
                    "This value must be greater than or equal to 0.",
                    "parameter_invalid_integer",
                )
            amounts = [p.value for p in params if p.path == ("amount",)]
            if amounts and amounts[-1].isdigit() and fee > int(amounts[-1]):
                raise invalid_value(
                    "application_fee_amount",
                    "The application fee amount cannot be greater than the amount.",
                )
        if "transfer_data" in extra:
            self._check_destination(extra["transfer_data"]["destination"])
        kept = {} if creating else self.connect_charges.get(request.match_info["id"], {})
        destination = extra.get("transfer_data") or kept.get("transfer_data")
        if fee is not None and not destination and not request.headers.get("Stripe-Account"):
            raise invalid_value(
                "application_fee_amount",
                "Can only apply an application_fee_amount when the PaymentIntent is attempting "
                "a direct payment (using an OAuth key or Stripe-Account header) or destination "
                "payment (using `transfer_data[destination]`).",
            )
        rest = [(p.raw, p.value) for p in params if p not in taken]
        return urlencode(rest).encode(), extra

    def _check_destination(self, destination: str) -> None:
        account = self.accounts.get(destination)
        if account is None:
            raise StripeError(
                400,
                f"No such destination: '{destination}'",
                param="transfer_data[destination]",
                code="resource_missing",
            )
        if not account["charges_enabled"]:
            raise StripeError(
                400,
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                param="transfer_data[destination]",
                code="insufficient_capabilities_for_transfer",
            )

    async def _payment_intent_answer(self, answer: web.Response, extra: Json) -> web.Response:
        if extra and answer.status == 200:
            found = _json_of(answer)
            if found is not None and found.get("object") == "payment_intent":
                self.connect_charges[str(found["id"])] = {
                    "transfer_data": None,
                    "application_fee_amount": None,
                    **self.connect_charges.get(str(found["id"]), {}),
                    **extra,
                }
        return self._with_connect_charges(answer)

    def _with_connect_charges(self, answer: web.Response) -> web.Response:
        """The answer with what the stand-in keeps of each PaymentIntent in it
        (a PaymentIntent, a list of them, an event about one)."""
        found = _json_of(answer)
        if found is None:
            return answer
        changed = False
        for payment_intent in _payment_intents_in(found):
            extra = self.connect_charges.get(str(payment_intent.get("id")), {})
            for name in ("transfer_data", "application_fee_amount"):
                value = extra.get(name)
                if payment_intent.get(name) != value or name not in payment_intent:
                    payment_intent[name] = value
                    changed = True
        if not changed:
            return answer
        return web.Response(
            status=answer.status,
            text=render_json(found),
            content_type=JSON_TYPE,
            headers={k: v for k, v in answer.headers.items() if k.lower() != "content-type"},
        )

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        answer = await self.forward(request, await request.read())
        if answer.status in (404, 405) and answer.content_type != JSON_TYPE:
            # localstripe has no such route: answer as Stripe does.
            raise StripeError(
                404,
                f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            )
        if request.path.startswith(("/v1/payment_intents", "/v1/events")):
            return self._with_connect_charges(answer)
        return answer

    async def forward(
        self, request: web.Request, body: bytes | None, *, method: str | None = None
    ) -> web.Response:
        """The request as localstripe answers it: method, path, query, headers
        and body as given; its status, headers and body as they come."""
        assert self._upstream_session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if method == "GET":
            headers.pop("Content-Type", None)
        url = URL(self.upstream.rstrip("/") + request.raw_path, encoded=True)
        try:
            async with self._upstream_session.request(
                method or request.method,
                url,
                headers=headers,
                data=body if body else None,
                allow_redirects=False,
            ) as upstream:
                content = await upstream.read()
                kept = {
                    k: v
                    for k, v in upstream.headers.items()
                    if k.lower() not in _HOP_BY_HOP and k.lower() not in ("date", "server")
                }
                return web.Response(status=upstream.status, body=content, headers=kept)
        except (ClientError, TimeoutError) as error:
            log.warning("localstripe at %s did not answer: %r", self.upstream, error)
            raise StripeError(
                502,
                "The Stripe stand-in could not reach localstripe.",
                error_type="api_error",
            ) from error


def _json_of(answer: web.Response) -> Json | None:
    if answer.content_type != JSON_TYPE or answer.headers.get("Content-Encoding"):
        return None
    if not isinstance(answer.body, bytes | bytearray):
        return None
    try:
        found = json.loads(answer.body)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _payment_intents_in(found: Json) -> list[Json]:
    if found.get("object") == "payment_intent":
        return [found]
    if found.get("object") in ("list", "search_result"):
        items = found.get("data")
        if isinstance(items, list):
            return [i for i in items if isinstance(i, dict) and i.get("object") == "payment_intent"]
    if found.get("object") == "event":
        data = found.get("data")
        if isinstance(data, dict) and isinstance(data.get("object"), dict):
            return _payment_intents_in(data["object"])
    return []


async def form(request: web.Request) -> list[Param]:
    return parse_form(await request.read(), request.query_string)


def json_response(value: Json) -> web.Response:
    return web.Response(text=render_json(value), content_type=JSON_TYPE)


def api_key_of(request: web.Request) -> str | None:
    """The secret key of `Authorization: Bearer sk_…` (or Basic, with the key
    as user name, which Stripe accepts too)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            return base64.b64decode(credentials, validate=True).decode().partition(":")[0]
    return None


def masked_key(request: web.Request) -> str:
    key = api_key_of(request) or ""
    return key[:8] + "*" * 4 + key[-4:] if len(key) > 12 else "*" * len(key)


def check_api_key(request: web.Request) -> str:
    key = api_key_of(request)
    if not key:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
            "or we can help at https://support.stripe.com/.",
        )
    if not re.fullmatch(r"(sk|rk)_(test|live)_[A-Za-z0-9_]+", key):
        raise StripeError(401, f"Invalid API Key provided: {masked_key(request)}")
    return key


# --- the process -----------------------------------------------------------


async def serve(
    host: str, port: int, upstream: str, webhook_secret: str, *, honour_keys: bool = False
) -> None:
    stand_in = StandIn(upstream, webhook_secret, honour_idempotency_keys=honour_keys)
    runner = web.AppRunner(stand_in.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, shutdown_timeout=5)
    await site.start()
    log.info("Stripe stand-in on http://%s:%d, in front of localstripe at %s", host, port, upstream)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m billingos_kit.stripe_standin",
        description="Stripe's Connect API and more in front of localstripe, for development.",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--upstream", required=True, help="localstripe, e.g. http://127.0.0.1:8420")
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get(WEBHOOK_SECRET_ENV, ""),
        help=(
            "signs events for webhooks registered without a secret of their own"
            f" (default: ${WEBHOOK_SECRET_ENV}, which keeps it out of the process list)"
        ),
    )
    parser.add_argument(
        "--honour-idempotency-keys",
        action="store_true",
        help="replay answers by Idempotency-Key as Stripe does (off: ignored, as by localstripe)",
    )
    args = parser.parse_args(argv)
    configure_logging("stripe-standin")
    asyncio.run(
        serve(
            args.host,
            args.port,
            args.upstream,
            args.webhook_secret,
            honour_keys=args.honour_idempotency_keys,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
