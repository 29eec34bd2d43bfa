"""Reading the gateway's JSON errors (the `google.rpc.Status` shape), for
assertions in end-to-end tests."""

from __future__ import annotations

import re
from typing import Any

import httpx

# What no reply may name: internal classes, proto types, tracebacks, hosts and
# the gateway's internal headers.
INTERNAL_NAMES = re.compile(
    r"billingos\.[a-z_]+\.v\d|google\.protobuf|type\.googleapis\.com/(?!google\.rpc\.)"
    r"|Traceback|<class|DecodeError|Exception|TYPE_[A-Z]|upb_|\b127\.0\.0\.1\b|localhost"
    r"|x-billingos-|x-envoy-|:authority|upstream|grpc-",
    re.IGNORECASE,
)


def error_of(response: httpx.Response) -> tuple[int, str, list[str]]:
    """(google.rpc code, ErrorInfo reason, BadRequest fields) of a JSON error body."""
    body = status_body(response)
    reason = ""
    fields: list[str] = []
    for detail in body.get("details", []):
        if detail["@type"].endswith("google.rpc.ErrorInfo"):
            reason = detail["reason"]
        if detail["@type"].endswith("google.rpc.BadRequest"):
            fields += [v["field"] for v in detail["field_violations"]]
    return body["code"], reason, fields


def status_body(response: httpx.Response) -> dict[str, Any]:
    """The error body, checked to be the `google.rpc.Status` shape with an
    ErrorInfo in the BillingOS domain and no internal name in what it says."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code,
        response.headers.get("content-type"),
        response.text[:300],
    )
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), int), body
    assert body["code"] != 0, body
    assert isinstance(body.get("message"), str), body
    assert body["message"], body
    details = body.get("details")
    assert isinstance(details, list), body
    infos = [d for d in details if d.get("@type", "").endswith("google.rpc.ErrorInfo")]
    assert infos, body
    assert infos[0].get("domain") == "billingos.dev", body
    assert infos[0].get("reason"), body
    shown = " ".join(
        [body["message"], *(str(v) for d in details for v in d.values() if v != d.get("@type"))]
    )
    found = INTERNAL_NAMES.search(shown)
    assert found is None, f"reply names {found.group(0)!r}: {body}"
    return body
