"""What the gRPC port does with callers that are not well-behaved: bytes that
are not the method's request, no credential, reflection and health."""

from __future__ import annotations

import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billingos_customers.app import MIGRATIONS_DIR, build_app
from billingos_customers.settings import CustomersSettings
from billingos_kit.clock import FrozenClock
from billingos_kit.testing.errors import call_error
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, call_metadata, running_service

GET_CUSTOMER = "/billingos.customers.v1.CustomerService/GetCustomer"


def raw_call(
    service: RunningService, method: str
) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return service.channel.unary_unary(
        method, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [(b"\x0a\x02\xff\xfe", "id"), (b"\xff\xff\xff\xff", "request"), (b"\x0a\x09ab", "request")],
)
async def test_bytes_that_do_not_decode_are_invalid_argument_with_no_traceback(
    customers_service: RunningService,
    tenant,
    raw: bytes,
    field: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO), pytest.raises(grpc.aio.AioRpcError) as refused:
        await raw_call(customers_service, GET_CUSTOMER)(raw, metadata=tenant.metadata())
    error = call_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.fields == [field]
    assert "DecodeError" not in error.message
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_health_answers_probes_without_a_credential_and_refuses_garbage_cleanly(
    customers_service: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    health = health_pb2_grpc.HealthStub(customers_service.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with caplog.at_level(logging.INFO), pytest.raises(grpc.aio.AioRpcError) as refused:
        await raw_call(customers_service, "/grpc.health.v1.Health/Check")(b"\xff\xff\xff")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_reflection_is_off_unless_configured(customers_service: RunningService) -> None:
    reflection = customers_service.channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )

    async def list_services() -> None:
        call = reflection(metadata=call_metadata())
        await call.write(b"\x3a\x00")  # list_services
        await call.done_writing()
        async for _ in call:
            pass

    # The refusal may arrive at the write or only at the read: both are refusals.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await list_services()
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_call_without_the_service_credential_is_refused(
    customers_service: RunningService, tenant
) -> None:
    metadata = tuple((k, v) for k, v in tenant.metadata() if k != "x-billingos-service-token")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await raw_call(customers_service, GET_CUSTOMER)(b"", metadata=metadata)
    assert call_error(refused.value).reason == "SERVICE_CREDENTIAL_INVALID"


async def test_reflection_turned_on_for_development_still_needs_the_credential(
    servers: SessionServers, session_clock: FrozenClock
) -> None:
    async with running_service(
        CustomersSettings, build_app, MIGRATIONS_DIR, servers, session_clock, grpc_reflection=True
    ) as service:

        async def list_services(metadata: tuple[tuple[str, str], ...]) -> list[bytes]:
            call = service.channel.stream_stream(
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )(metadata=metadata)
            await call.write(b"\x3a\x00")
            await call.done_writing()
            return [answer async for answer in call]

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await list_services(())
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        (answer,) = await list_services(call_metadata())
        assert b"billingos.customers.v1.CustomerService" in answer
