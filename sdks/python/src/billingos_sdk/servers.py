"""Where the API lives.

BillingOS is self-hosted: there is no BillingOS-run server, so the SDK has no
built-in URL and never sends a key to a host the merchant did not name. The
base URL comes, by precedence, from

1. ``server_url=`` (an argument);
2. ``server="sandbox"`` / ``server="production"``: the merchant's own suite
   for that environment, read from ``$BILLINGOS_SANDBOX_URL`` /
   ``$BILLINGOS_PRODUCTION_URL`` (an error naming the variable when unset), so
   application code says *which* environment it talks to and deployment says
   where that is;
3. ``$BILLINGOS_URL`` (what ``./billingos up`` writes to ``.billingos/env``);
4. nothing: an error at construction.

A URL must be ``https://``, except on a loopback host (``localhost``,
127.0.0.0/8, ``::1``), where ``http://`` is allowed for a local suite: an API
key must not cross a network in clear text.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Final, Literal
from urllib.parse import urlsplit

Server = Literal["production", "sandbox"]

SERVER_URL_ENV: Final[Mapping[str, str]] = {
    "production": "BILLINGOS_PRODUCTION_URL",
    "sandbox": "BILLINGOS_SANDBOX_URL",
}
"""The environment variable holding each named server's URL."""

URL_ENV: Final = "BILLINGOS_URL"
TOKEN_ENV: Final = "BILLINGOS_API_KEY"


def is_loopback(host: str) -> bool:
    """Whether `host` (as in a URL, IPv6 without brackets) is this machine."""
    name = host.lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_url(url: str, source: str) -> str:
    """`url` without a trailing slash, or `ValueError` when it is not an
    https URL (or an http one on a loopback host). `source` names where it
    came from, for the message."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ValueError(f"{source} is not a valid URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{source} must be an https:// URL, not {url!r}")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError(
            f"{source} must use https:// (http:// only on localhost, 127.0.0.0/8 or ::1, "
            f"so the API key never crosses a network in clear text), not {url!r}"
        )
    return url.rstrip("/")


def resolve_base_url(server: str | None, server_url: str | None) -> str:
    """The base URL, by precedence: `server_url`, then the named `server`'s
    environment variable, then ``$BILLINGOS_URL``; otherwise an error.

    An unknown name is an error rather than a silent fallback: a typo must
    not send sandbox traffic to live money.
    """
    if server_url:
        return check_url(server_url, "server_url")
    if server is not None:
        if server not in SERVER_URL_ENV:
            raise ValueError(
                f"unknown server {server!r}: use one of {sorted(SERVER_URL_ENV)} or server_url"
            )
        variable = SERVER_URL_ENV[server]
        named = os.environ.get(variable)
        if not named:
            raise ValueError(
                f"server={server!r} reads its URL from {variable}, which is not set: "
                f"set {variable} to your {server} suite's URL or pass server_url"
            )
        return check_url(named, variable)
    from_env = os.environ.get(URL_ENV)
    if from_env:
        return check_url(from_env, URL_ENV)
    raise ValueError(
        f"no BillingOS server: set {URL_ENV} or pass server_url "
        f"(or server='sandbox'/'production' with {' / '.join(SERVER_URL_ENV.values())})"
    )


def resolve_access_token(access_token: str | None) -> str:
    """The API key, from the argument or ``$BILLINGOS_API_KEY``.

    Failing here, at construction, beats a 401 on the first call deep inside
    a request handler.
    """
    token = access_token or os.environ.get(TOKEN_ENV)
    if not token:
        raise ValueError(f"an access_token is required (or set {TOKEN_ENV})")
    if not all("!" <= character <= "~" for character in token):
        # Never quoted: the message must not carry a secret into a log.
        raise ValueError(
            "the access_token is not an API key: it must be printable ASCII "
            "without spaces or line breaks (check how it was read or pasted)"
        )
    return token
