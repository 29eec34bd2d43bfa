"""Domain errors as `google.rpc.Status`: the code, an ErrorInfo with a stable
reason, and BadRequest field violations for bad input."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from billingos_kit.errors import (
    ERROR_DOMAIN,
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from billingos_kit.grpc.status import (
    STATUS_DETAILS_KEY,
    grpc_code,
    internal_status,
    rpc_status_for,
    trailing_metadata,
)
from billingos_kit.idempotency import IdempotencyKeyReused


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    """The one ErrorInfo every status carries."""
    found = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            found.append(info)
    assert len(found) == 1
    return found[0]


def bad_requests(status: status_pb2.Status) -> list[error_details_pb2.BadRequest]:
    found = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found.append(bad_request)
    return found


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (InvalidArgument("customer.email", "is required"), "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        (
            ValidationFailed([FieldViolation("a", "bad")]),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
        ),
        (IdempotencyKeyReused(), "INVALID_ARGUMENT", "IDEMPOTENCY_KEY_REUSED"),
        (NotFound("customer", "c-1"), "NOT_FOUND", "CUSTOMER_NOT_FOUND"),
        (AlreadyExists("customer.external_id", "is taken"), "ALREADY_EXISTS", "ALREADY_EXISTS"),
        (FailedPrecondition("archived"), "FAILED_PRECONDITION", "FAILED_PRECONDITION"),
        (Unauthenticated("no key"), "UNAUTHENTICATED", "UNAUTHENTICATED"),
        (PermissionDenied("read-only key"), "PERMISSION_DENIED", "PERMISSION_DENIED"),
        (Aborted("raced", reason="CONCURRENT_CHANGE"), "ABORTED", "CONCURRENT_CHANGE"),
        (Unavailable("database down"), "UNAVAILABLE", "UNAVAILABLE"),
    ],
    ids=lambda item: type(item).__name__ if isinstance(item, DomainError) else None,
)
def test_each_error_kind_has_its_code_message_and_reason(
    error: DomainError, code: str, reason: str
) -> None:
    status = rpc_status_for(error)
    assert status.code == code_pb2.Code.Value(code)
    assert grpc_code(status) == getattr(grpc.StatusCode, code)
    assert status.message == error.message
    info = error_info(status)
    assert info.reason == reason
    assert info.domain == ERROR_DOMAIN == "billingos.dev"


def test_not_found_names_the_resource_and_id_in_error_info() -> None:
    info = error_info(rpc_status_for(NotFound("customer", "c-1")))
    assert dict(info.metadata) == {"resource": "customer", "id": "c-1"}


def test_bad_input_carries_every_field_violation_in_order() -> None:
    error = ValidationFailed(
        [
            FieldViolation("customer.email", "is required"),
            FieldViolation("customer.metadata.plan", "must be at most 500 characters"),
        ]
    )
    (bad_request,) = bad_requests(rpc_status_for(error))
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("customer.email", "is required"),
        ("customer.metadata.plan", "must be at most 500 characters"),
    ]


def test_idempotency_key_reuse_names_the_header_as_the_field() -> None:
    (bad_request,) = bad_requests(rpc_status_for(IdempotencyKeyReused()))
    assert [v.field for v in bad_request.field_violations] == ["Idempotency-Key"]


def test_errors_without_violations_carry_no_bad_request() -> None:
    status = rpc_status_for(NotFound("customer", "c-1"))
    assert bad_requests(status) == []
    assert len(status.details) == 1


def test_internal_status_says_nothing_more_than_internal() -> None:
    status = internal_status()
    assert grpc_code(status) == grpc.StatusCode.INTERNAL
    assert status.message == "internal error"
    assert error_info(status).reason == "INTERNAL"


def test_an_unknown_numeric_code_maps_to_unknown() -> None:
    assert grpc_code(status_pb2.Status(code=999)) == grpc.StatusCode.UNKNOWN


def test_trailing_metadata_carries_the_whole_status() -> None:
    status = rpc_status_for(InvalidArgument("page_size", "must not be negative"))
    ((key, value),) = trailing_metadata(status)
    assert key == STATUS_DETAILS_KEY == "grpc-status-details-bin"
    assert status_pb2.Status.FromString(value) == status
