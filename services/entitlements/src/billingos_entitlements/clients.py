"""The other services entitlements asks, over gRPC with the service
credential and the organization in metadata: metering, for the meter a
meter-credits benefit names."""

from __future__ import annotations

import uuid

import grpc

from billingos.metering.v1 import meters_pb2, meters_pb2_grpc
from billingos_kit.errors import Unavailable
from billingos_kit.headers import ORGANIZATION_HEADER, SERVICE_TOKEN_HEADER

TIMEOUT_SECONDS = 5.0


class MeteringClient:
    """One lazily made channel (a grpc.aio channel belongs to a running loop)."""

    def __init__(self, address: str, service_token: str) -> None:
        self._address = address
        self._token = service_token
        self._channel: grpc.aio.Channel | None = None

    async def has_meter(self, organization_id: uuid.UUID, meter_id: uuid.UUID) -> bool:
        """Whether the organization has the meter (archived or not)."""
        if not self._address:
            raise Unavailable("metering: its address is not set, so meters cannot be checked")
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._address)
        stub = meters_pb2_grpc.MeterServiceStub(self._channel)
        try:
            await stub.GetMeter(
                meters_pb2.GetMeterRequest(id=str(meter_id)),
                metadata=(
                    (SERVICE_TOKEN_HEADER, self._token),
                    (ORGANIZATION_HEADER, str(organization_id)),
                ),
                timeout=TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise Unavailable("metering is unavailable; retry in a moment") from None
        return True

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
