"""Onboarding links send the account holder back only to https URLs (plain
http only to a loopback host), checked on the parsed host."""

from __future__ import annotations

import grpc
import pytest

from billingos.payments.v1 import connect_pb2, connect_pb2_grpc
from billingos_kit.testing.errors import call_error

from .conftest import Shop

GOOD = "https://shop.example/back"


@pytest.mark.parametrize(
    "return_url",
    [
        "http://localhost@evil.example/",
        "http://localhost.evil.example/",
        "http://evil.example/",
        "javascript:alert(1)",
        "https:///no-host",
        "https://shop.example/a b",
    ],
)
async def test_a_return_url_that_is_not_https_or_loopback_is_refused(
    shop: Shop, return_url: str
) -> None:
    stub = connect_pb2_grpc.ConnectAccountServiceStub(shop.service.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CreateOnboardingLink(
            connect_pb2.CreateOnboardingLinkRequest(return_url=return_url, refresh_url=GOOD),
            metadata=shop.metadata,
        )
    error = call_error(refused.value)
    assert (error.code, error.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["return_url"])


@pytest.mark.parametrize("return_url", ["HTTPS://shop.example/ok", "http://localhost:3000/done"])
async def test_https_in_any_case_and_loopback_http_pass_the_check(
    shop: Shop, return_url: str
) -> None:
    stub = connect_pb2_grpc.ConnectAccountServiceStub(shop.service.channel)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.CreateOnboardingLink(
            connect_pb2.CreateOnboardingLinkRequest(return_url=return_url, refresh_url=GOOD),
            metadata=shop.metadata,
        )
    # Past the URL check: this organization has no account yet.
    assert call_error(missing.value).reason == "CONNECT_ACCOUNT_NOT_FOUND"
