"""Settings layering: BILLINGOS_<SERVICE>_X, then BILLINGOS_X, then (for the
shared servers only) plain DATABASE_URL / NATS_URL."""

from __future__ import annotations

import os
from typing import ClassVar

import pydantic
import pytest
from pydantic import ValidationError

from billingos_kit.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    service_name: ClassVar[str] = "demo"

    greeting: str = "hello"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No BillingOS or server variable from the developer's shell leaks in."""
    for name in list(os.environ):
        if name.startswith("BILLINGOS_") or name in ("DATABASE_URL", "NATS_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BILLINGOS_SERVICE_TOKEN", "a-token-of-length-16+")
    monkeypatch.setenv("BILLINGOS_GATEWAY_TOKEN", "another-token-of-16+")
    return monkeypatch


def load() -> DemoSettings:
    return DemoSettings()


@pytest.mark.parametrize(
    ("field", "bare"), [("DATABASE_URL", "DATABASE_URL"), ("NATS_URL", "NATS_URL")]
)
def test_service_variable_beats_suite_variable_beats_bare_name(
    monkeypatch: pytest.MonkeyPatch, field: str, bare: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://required/only")
    attribute = field.lower()
    monkeypatch.setenv(bare, "bare")
    assert getattr(load(), attribute) == "bare"
    monkeypatch.setenv(f"BILLINGOS_{field}", "suite")
    assert getattr(load(), attribute) == "suite"
    monkeypatch.setenv(f"BILLINGOS_DEMO_{field}", "service")
    assert getattr(load(), attribute) == "service"


def test_another_services_variable_is_not_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLINGOS_DATABASE_URL", "suite")
    monkeypatch.setenv("BILLINGOS_OTHER_DATABASE_URL", "other")
    assert load().database_url == "suite"


def test_bare_names_count_only_for_the_shared_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("GREETING", "bare")
    settings = load()
    assert settings.log_level == "INFO"
    assert settings.greeting == "hello"


def test_service_fields_of_a_subclass_layer_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db")
    monkeypatch.setenv("BILLINGOS_GREETING", "suite")
    assert load().greeting == "suite"
    monkeypatch.setenv("BILLINGOS_DEMO_GREETING", "service")
    assert load().greeting == "service"


def test_values_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db")
    monkeypatch.setenv("BILLINGOS_DEMO_OUTBOX_POLL_SECONDS", "0.25")
    monkeypatch.setenv("BILLINGOS_IDEMPOTENCY_TTL_HOURS", "48")
    settings = load()
    assert settings.outbox_poll_seconds == 0.25
    assert settings.idempotency_ttl_hours == 48
    assert settings.service_token.get_secret_value() == "a-token-of-length-16+"


def test_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLINGOS_DEMO_DATABASE_URL", "service")
    settings = DemoSettings(database_url="argument")
    assert settings.database_url == "argument"


def test_defaults_apply_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db")
    settings = load()
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.idempotency_ttl_hours == 24


def test_a_missing_database_url_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://elsewhere:4222")
    with pytest.raises(pydantic.ValidationError, match="database_url"):
        load()


def test_a_malformed_number_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db")
    monkeypatch.setenv("BILLINGOS_DEMO_DB_POOL_SIZE", "many")
    with pytest.raises(pydantic.ValidationError, match="db_pool_size"):
        load()


def test_settings_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db")
    settings = load()
    with pytest.raises(pydantic.ValidationError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


def test_a_short_service_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty or short shared secret would let any caller in."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/x")
    for weak in ("", "short"):
        monkeypatch.setenv("BILLINGOS_SERVICE_TOKEN", weak)
        with pytest.raises(ValidationError):
            DemoSettings()


def test_the_gateway_token_must_differ_from_the_service_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One secret for both would let the gateway's calls pass as internal ones."""
    monkeypatch.setenv("BILLINGOS_DEMO_DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("BILLINGOS_GATEWAY_TOKEN", "a-token-of-length-16+")
    with pytest.raises(ValidationError, match="gateway_token must differ"):
        load()
