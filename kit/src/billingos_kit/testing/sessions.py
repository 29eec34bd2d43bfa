"""Customer sessions held in memory, for a service's tests of its own
customer portal methods without the customers service:
`running.app.use_session_lookup(sessions)`, then call with
`gateway_metadata(sessions.issue(organization_id, customer_id, until))`."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from billingos_kit.credentials import CUSTOMER_SESSION_PREFIX
from billingos_kit.sessioncheck import PortalSession


class KnownSessions:
    """A session lookup (billingos_kit.sessioncheck.SessionLookup) that knows
    the sessions issued here, until revoked. Expiry is the session check's
    to compare, as with the real lookup's cached answers."""

    def __init__(self) -> None:
        self._sessions: dict[str, PortalSession] = {}

    def issue(
        self, organization_id: uuid.UUID, customer_id: uuid.UUID, expire_time: dt.datetime
    ) -> str:
        token = CUSTOMER_SESSION_PREFIX + secrets.token_urlsafe(30)
        self._sessions[token] = PortalSession(
            uuid.uuid4(), organization_id, customer_id, expire_time
        )
        return token

    def revoke(self, token: str) -> None:
        self._sessions.pop(token, None)

    async def find(self, token: str) -> PortalSession | None:
        return self._sessions.get(token)

    async def close(self) -> None:
        return None
