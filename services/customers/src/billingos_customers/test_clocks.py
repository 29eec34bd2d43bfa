"""Whether a test clock is one of the organization's: test clocks are the
subscriptions context's, so a customer created on one asks it (as an
internal caller, in the customer's organization). Without the check a
customer could be put on another organization's clock: nothing of that
organization's would move, but the customer would name an id it may not."""

from __future__ import annotations

import uuid

import grpc

from billingos.subscriptions.v1 import test_clocks_pb2, test_clocks_pb2_grpc
from billingos_kit.errors import Unavailable
from billingos_kit.internal_client import InternalChannel

TIMEOUT_SECONDS = 5.0


class TestClockDirectory:
    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, address: str, service_token: str) -> None:
        self._link = InternalChannel(address, service_token)

    async def exists(self, organization_id: uuid.UUID, clock_id: uuid.UUID) -> bool:
        """Whether the organization has the clock (UNAVAILABLE if the
        subscriptions service cannot say)."""
        stub = test_clocks_pb2_grpc.TestClockServiceStub(self._link.channel())
        try:
            await stub.GetTestClock(
                test_clocks_pb2.GetTestClockRequest(id=str(clock_id)),
                metadata=self._link.metadata(organization_id),
                timeout=TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return False
            raise Unavailable(
                "the subscriptions service, which keeps test clocks, is unavailable; retry later",
                reason="SUBSCRIPTIONS_UNAVAILABLE",
            ) from None
        return True

    async def close(self) -> None:
        await self._link.close()
