"""Reading `google.rpc` details out of a failed call, for assertions."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

from billingos_kit.grpc.status import STATUS_DETAILS_KEY, field_violations_of


@dataclass(frozen=True)
class CallError:
    code: grpc.StatusCode
    message: str
    reason: str
    fields: list[str]


def call_error(error: grpc.aio.AioRpcError) -> CallError:
    """The status code, ErrorInfo reason and BadRequest fields of a failed call."""
    reason = ""
    for key, value in error.trailing_metadata() or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
    fields = [violation.field for violation in field_violations_of(error)]
    return CallError(error.code(), error.details() or "", reason, fields)
