"""Which URL and key a client uses: never a built-in host, https unless on
loopback."""

from __future__ import annotations

import httpx
import pytest

from billingos_sdk import SERVER_URL_ENV, AsyncBillingOS, BillingOS

ENV = ("BILLINGOS_URL", "BILLINGOS_SANDBOX_URL", "BILLINGOS_PRODUCTION_URL", "BILLINGOS_API_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_no_url_at_all_is_an_error_not_a_hosted_default() -> None:
    with pytest.raises(ValueError, match="set BILLINGOS_URL or pass server_url"):
        BillingOS("bos_x")
    with pytest.raises(ValueError, match="set BILLINGOS_URL or pass server_url"):
        AsyncBillingOS("bos_x")


def test_named_servers_read_their_own_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert SERVER_URL_ENV == {
        "production": "BILLINGOS_PRODUCTION_URL",
        "sandbox": "BILLINGOS_SANDBOX_URL",
    }
    with pytest.raises(ValueError, match="BILLINGOS_SANDBOX_URL"):
        BillingOS("bos_x", server="sandbox")
    with pytest.raises(ValueError, match="BILLINGOS_PRODUCTION_URL"):
        BillingOS("bos_x", server="production")
    monkeypatch.setenv("BILLINGOS_SANDBOX_URL", "https://billing-sandbox.example.com/")
    monkeypatch.setenv("BILLINGOS_PRODUCTION_URL", "https://billing.example.com")
    assert BillingOS("bos_x", server="sandbox").base_url == "https://billing-sandbox.example.com"
    assert BillingOS("bos_x", server="production").base_url == "https://billing.example.com"


def test_precedence_server_url_then_server_then_billingos_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLINGOS_URL", "http://127.0.0.1:8080")
    monkeypatch.setenv("BILLINGOS_SANDBOX_URL", "https://sandbox.example.com")
    assert BillingOS("bos_x").base_url == "http://127.0.0.1:8080"
    assert BillingOS("bos_x", server="sandbox").base_url == "https://sandbox.example.com"
    assert (
        BillingOS("bos_x", server="sandbox", server_url="http://localhost:1/").base_url
        == "http://localhost:1"
    )
    # A named server whose variable is unset is an error, not BILLINGOS_URL.
    with pytest.raises(ValueError, match="BILLINGOS_PRODUCTION_URL"):
        BillingOS("bos_x", server="production")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.5.6.7",
        "http://localhost:8080",
        "http://[::1]:8080",
        "https://billing.example.com",
        "https://10.0.0.5:8443",
    ],
)
def test_https_or_loopback_http_is_accepted(url: str) -> None:
    assert BillingOS("bos_x", server_url=url).base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://billing.example.com",
        "http://10.0.0.5:8080",
        "http://128.0.0.1",
        "http://localhost.example.com",
        "http://[::2]:8080",
    ],
)
def test_http_off_loopback_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(ValueError, match="https://"):
        BillingOS("bos_x", server_url=url)
    monkeypatch.setenv("BILLINGOS_URL", url)
    with pytest.raises(ValueError, match="BILLINGOS_URL must use https://"):
        BillingOS("bos_x")
    monkeypatch.setenv("BILLINGOS_SANDBOX_URL", url)
    with pytest.raises(ValueError, match="BILLINGOS_SANDBOX_URL must use https://"):
        BillingOS("bos_x", server="sandbox")


@pytest.mark.parametrize("url", ["ftp://billing.example.com", "billing.example.com", "https://"])
def test_not_a_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="server_url"):
        BillingOS("bos_x", server_url=url)


def test_bad_configuration_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLINGOS_URL", "http://127.0.0.1:8080")
    with pytest.raises(ValueError, match="server"):
        BillingOS("bos_x", server="staging")
    with pytest.raises(ValueError, match="access_token"):
        BillingOS()
    monkeypatch.setenv("BILLINGOS_API_KEY", "bos_from_env")
    BillingOS().close()


def test_the_default_timeout_is_30_seconds() -> None:
    with BillingOS("bos_x", server_url="https://billing.example.com") as billingos:
        assert billingos._http.timeout == httpx.Timeout(30.0)


@pytest.mark.parametrize(
    "token", ["bos_abc\r\nX-Injected: 1", "bos_abc def", "bos_caf\u00e9", "bos_tab\there"]
)
def test_a_token_that_is_no_api_key_is_refused_without_quoting_it(token: str) -> None:
    with pytest.raises(ValueError, match="not an API key") as refused:
        BillingOS(access_token=token, server_url="https://billing.example.com")
    assert token not in str(refused.value)
    assert "bos_" not in str(refused.value)
