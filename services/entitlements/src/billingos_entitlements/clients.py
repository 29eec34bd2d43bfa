"""The other service entitlements asks: metering, for the meter a
meter-credits benefit names and to credit a grant's units."""

from __future__ import annotations

import uuid

import grpc

from billingos.metering.v1 import (
    customer_meters_pb2,
    customer_meters_pb2_grpc,
    meters_pb2,
    meters_pb2_grpc,
)
from billingos_kit.errors import Unavailable
from billingos_kit.internal_client import InternalChannel

TIMEOUT_SECONDS = 5.0


class MeteringClient:
    def __init__(self, address: str, service_token: str) -> None:
        self._link = InternalChannel(address, service_token)

    @property
    def configured(self) -> bool:
        return bool(self._link.address)

    async def has_meter(self, organization_id: uuid.UUID, meter_id: uuid.UUID) -> bool:
        """Whether the organization has the meter (archived or not)."""
        if not self.configured:
            raise Unavailable("metering: its address is not set, so meters cannot be checked")
        stub = meters_pb2_grpc.MeterServiceStub(self._link.channel())
        try:
            await stub.GetMeter(
                meters_pb2.GetMeterRequest(id=str(meter_id)),
                metadata=self._link.metadata(organization_id),
                timeout=TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise Unavailable("metering is unavailable; retry in a moment") from None
        return True

    async def credit(
        self,
        organization_id: uuid.UUID,
        request: customer_meters_pb2.CreditCustomerMeterRequest,
        idempotency_key: str,
    ) -> None:
        """Credits a customer meter; the same key again is answered from
        metering's stored reply (credited once). Raises grpc's error."""
        stub = customer_meters_pb2_grpc.CustomerMeterAdminServiceStub(self._link.channel())
        await stub.CreditCustomerMeter(
            request,
            metadata=self._link.metadata(organization_id, idempotency_key=idempotency_key),
            timeout=TIMEOUT_SECONDS,
        )

    async def close(self) -> None:
        await self._link.close()
