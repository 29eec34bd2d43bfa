"""Asks the customers service about a customer a context has not heard of yet
(its event is still on its way, or the context started after it was made and
has not read the state stream that far): payments' "a Stripe customer when
first needed", metering's "an event for a customer made a moment ago". The
answer goes into the context's read copy like an event would."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import grpc

from billingos.customers.v1 import customers_pb2, customers_pb2_grpc
from billingos_kit.errors import Unavailable
from billingos_kit.headers import ORGANIZATION_HEADER, SERVICE_TOKEN_HEADER

TIMEOUT_SECONDS = 5.0


class CustomerDirectory:
    def __init__(self, address: str, service_token: str) -> None:
        self._address = address
        self._service_token = service_token
        self._channel: grpc.aio.Channel | None = None
        # The generated stub's types describe the synchronous API.
        self._stub: Any = None

    async def find(
        self, organization_id: uuid.UUID, customer_id: uuid.UUID
    ) -> customers_pb2.Customer | None:
        """The customer, or None if the organization has no such live one."""
        if not self._address:
            return None
        if self._stub is None:
            # Made on first use: a grpc.aio channel belongs to a running loop.
            self._channel = grpc.aio.insecure_channel(self._address)
            self._stub = customers_pb2_grpc.CustomerServiceStub(self._channel)
        try:
            found: customers_pb2.Customer = await self._stub.GetCustomer(
                customers_pb2.GetCustomerRequest(id=str(customer_id)),
                metadata=(
                    (SERVICE_TOKEN_HEADER, self._service_token),
                    (ORGANIZATION_HEADER, str(organization_id)),
                ),
                timeout=TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise Unavailable(
                "the customers service is unavailable; retry later",
                reason="CUSTOMERS_UNAVAILABLE",
            ) from None
        return found

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None


def updated_at_of(customer: customers_pb2.Customer, fallback: dt.datetime) -> dt.datetime:
    if customer.HasField("update_time"):
        return customer.update_time.ToDatetime(tzinfo=dt.UTC)
    return fallback
