"""The customer portal (customer_portal.proto): what a customer reads about
itself with a customer session token. The kit's pipeline has verified the
token and bound the call to the session's organization; every read here is
also bounded by the session's customer (`CallScope.portal_customer_id`), and
no request names a customer."""

from __future__ import annotations

from billingos_customers.models import Customer
from billingos_customers.repository import CustomerRepository
from billingos_kit.grpc.scope import CallScope


class CustomerPortal:
    """The session's customer, as the portal shows it."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._customers = CustomerRepository(scope)

    async def own_customer(self) -> Customer:
        """The session's customer; NotFound once deleted (its sessions stop
        working within the services' cache time, this read at once)."""
        return await self._customers.require(self._scope.portal_customer_id)
