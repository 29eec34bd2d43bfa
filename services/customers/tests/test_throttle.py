"""Failed API-key checks are throttled per client address: past the allowance,
every call from the address is refused with RESOURCE_EXHAUSTED and a
Retry-After (the gateway's 429), valid key or not; other addresses are not
held back. (The throttle's arithmetic: kit/tests/test_throttle.py.)"""

from __future__ import annotations

import grpc
import pytest

from billingos.customers.v1 import customers_pb2, customers_pb2_grpc
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.service import RunningService, gateway_metadata

ALLOWANCE = 30  # failed_key_checks_per_minute's default


async def test_an_address_that_failed_too_often_is_refused_even_with_a_valid_key(
    customers_service: RunningService, tenant
) -> None:
    customers = customers_pb2_grpc.CustomerServiceStub(customers_service.channel)
    request = customers_pb2.ListCustomersRequest()
    address = "198.51.100.7"
    reasons = []
    for index in range(ALLOWANCE + 2):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await customers.ListCustomers(
                request, metadata=gateway_metadata(f"bos_wrong{index}", client_address=address)
            )
        reasons.append(call_error(refused.value).reason)
    assert reasons == ["API_KEY_INVALID"] * ALLOWANCE + ["RATE_LIMITED"] * 2

    with pytest.raises(grpc.aio.AioRpcError) as limited:
        await customers.ListCustomers(
            request, metadata=gateway_metadata(tenant.api_key_secret, client_address=address)
        )
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(limited.value.trailing_metadata() or ())
    assert int(trailers["retry-after"]) >= 1

    elsewhere = gateway_metadata(tenant.api_key_secret, client_address="198.51.100.8")
    await customers.ListCustomers(request, metadata=elsewhere)
