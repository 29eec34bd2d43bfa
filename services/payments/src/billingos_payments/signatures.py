"""Stripe's webhook signatures, checked on the raw body with the injected
clock (the SDK's own check reads the wall clock, which test clocks cannot
move). The scheme is Stripe's documented one: `Stripe-Signature: t=<unix
time>,v1=<hex>[,v1=<hex>…]`, each v1 an HMAC-SHA256 of "<t>.<body>" under
the endpoint's signing secret; several v1 values while a secret is rolled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

SIGNATURE_HEADER = "stripe-signature"


class BadSignature(Exception):
    """Why the webhook is refused, in words fit for the sender."""


def verify(
    body: bytes, header: str, secret: str, *, now: dt.datetime, tolerance: dt.timedelta
) -> None:
    """Passes when `body` was signed with `secret` within `tolerance` of
    `now`; raises BadSignature otherwise."""
    if not secret:
        raise BadSignature("no webhook signing secret is configured")
    if not header:
        raise BadSignature("the Stripe-Signature header is missing")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise BadSignature("the Stripe-Signature header has no timestamp or no v1 signature")
    # In whole seconds: a timestamp past any datetime (t=99999999999999) is
    # simply outside the tolerance, not an error.
    if abs(int(now.timestamp()) - timestamp) > tolerance.total_seconds():
        raise BadSignature("the signature's timestamp is outside the tolerance")
    expected = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    # As bytes: a non-ASCII value is simply no match (str compare raises).
    wanted = expected.encode()
    if not any(hmac.compare_digest(wanted, given.encode()) for given in signatures):
        raise BadSignature("no signature matches the body")


def sign(body: bytes, secret: str, at: dt.datetime) -> str:
    """The header Stripe would send (tests and the webhook bench sign with it)."""
    timestamp = int(at.timestamp())
    digest = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"
