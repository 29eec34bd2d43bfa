"""Where the API lives.

Named servers exist so that application code says *which* environment it
talks to (``server="sandbox"``) rather than carrying a URL around; a
self-hosted suite has no name, so an explicit URL (argument, or the
``BILLINGOS_URL`` environment variable that ``./billingos up`` writes to
``.billingos/env``) always wins over a name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, Literal

Server = Literal["production", "sandbox"]

PRODUCTION_URL: Final = "https://api.billingos.dev"
SANDBOX_URL: Final = "https://sandbox-api.billingos.dev"

SERVERS: Final[Mapping[str, str]] = {"production": PRODUCTION_URL, "sandbox": SANDBOX_URL}

URL_ENV: Final = "BILLINGOS_URL"
TOKEN_ENV: Final = "BILLINGOS_API_KEY"


def resolve_base_url(server: str | None, server_url: str | None) -> str:
    """The base URL, by precedence: `server_url`, then ``$BILLINGOS_URL``,
    then the named `server`, then production.

    An unknown name is an error rather than a silent fallback to production:
    a typo must not send sandbox traffic to live money.
    """
    chosen = server_url or os.environ.get(URL_ENV)
    if not chosen:
        name = server or "production"
        if name not in SERVERS:
            raise ValueError(f"unknown server {name!r}: use one of {sorted(SERVERS)} or server_url")
        chosen = SERVERS[name]
    if not chosen.startswith(("http://", "https://")):
        raise ValueError(f"server_url must be an http(s) URL, not {chosen!r}")
    return chosen.rstrip("/")


def resolve_access_token(access_token: str | None) -> str:
    """The API key, from the argument or ``$BILLINGOS_API_KEY``.

    Failing here, at construction, beats a 401 on the first call deep inside
    a request handler.
    """
    token = access_token or os.environ.get(TOKEN_ENV)
    if not token:
        raise ValueError(f"an access_token is required (or set {TOKEN_ENV})")
    return token
