"""Domain errors to gRPC status with `google.rpc` details, the shape Envoy turns
into an HTTP status and a JSON body."""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from billingos_kit.errors import ERROR_DOMAIN, DomainError, ErrorKind, FieldViolation

_CODES: dict[ErrorKind, int] = {
    ErrorKind.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: code_pb2.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: code_pb2.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: code_pb2.FAILED_PRECONDITION,
    ErrorKind.UNAUTHENTICATED: code_pb2.UNAUTHENTICATED,
    ErrorKind.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    ErrorKind.ABORTED: code_pb2.ABORTED,
    ErrorKind.UNAVAILABLE: code_pb2.UNAVAILABLE,
    ErrorKind.RESOURCE_EXHAUSTED: code_pb2.RESOURCE_EXHAUSTED,
}

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def rpc_status_for(error: DomainError) -> status_pb2.Status:
    """The `google.rpc.Status` describing a domain error, details included."""
    status = status_pb2.Status(code=_CODES[error.kind], message=error.message)
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
    )
    status.details.append(_pack(info))
    if error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        status.details.append(_pack(bad_request))
    retry_after = getattr(error, "retry_after_seconds", None)
    if retry_after is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(retry_after)
        status.details.append(_pack(retry))
    return status


def internal_status(message: str = "internal error") -> status_pb2.Status:
    status = status_pb2.Status(code=code_pb2.INTERNAL, message=message)
    status.details.append(
        _pack(error_details_pb2.ErrorInfo(reason="INTERNAL", domain=ERROR_DOMAIN))
    )
    return status


def grpc_code(status: status_pb2.Status) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == status.code:
            return code
    return grpc.StatusCode.UNKNOWN


def trailing_metadata(
    status: status_pb2.Status, headers: Mapping[str, str] | None = None
) -> tuple[tuple[str, str | bytes], ...]:
    """The status details, and any HTTP headers the reply should carry (the
    gateway's transcoder turns trailers into response headers)."""
    extra: tuple[tuple[str, str | bytes], ...] = tuple((headers or {}).items())
    return ((STATUS_DETAILS_KEY, status.SerializeToString()), *extra)


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def field_violations_of(error: grpc.aio.AioRpcError) -> list[FieldViolation]:
    """The BadRequest field violations another service of the suite sent
    with a failed call (none when it sent no details)."""
    found: list[FieldViolation] = []
    for key, value in error.trailing_metadata() or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        for detail in status_pb2.Status.FromString(value).details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                found += [
                    FieldViolation(v.field, v.description) for v in bad_request.field_violations
                ]
    return found
