"""Which URL and key a client uses."""

from __future__ import annotations

import pytest

from billingos_sdk import PRODUCTION_URL, SANDBOX_URL, BillingOS


def test_named_servers_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLINGOS_URL", raising=False)
    assert BillingOS("bos_x").base_url == PRODUCTION_URL
    assert BillingOS("bos_x", server="sandbox").base_url == SANDBOX_URL
    assert BillingOS("bos_x", server="sandbox", server_url="http://h:1/").base_url == "http://h:1"
    monkeypatch.setenv("BILLINGOS_URL", "http://self-hosted:8080")
    assert BillingOS("bos_x", server="sandbox").base_url == "http://self-hosted:8080"
    assert BillingOS("bos_x", server_url="https://other").base_url == "https://other"


def test_bad_configuration_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLINGOS_URL", raising=False)
    monkeypatch.delenv("BILLINGOS_API_KEY", raising=False)
    with pytest.raises(ValueError, match="server"):
        BillingOS("bos_x", server="staging")
    with pytest.raises(ValueError, match="access_token"):
        BillingOS()
    monkeypatch.setenv("BILLINGOS_API_KEY", "bos_from_env")
    BillingOS().close()
