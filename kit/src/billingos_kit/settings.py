"""Typed settings read from the environment, one object per service.

A field `database_url` of the customers service is looked up as
`BILLINGOS_CUSTOMERS_DATABASE_URL`, then `BILLINGOS_DATABASE_URL`, then (for the
two servers every service shares) plain `DATABASE_URL` / `NATS_URL`. One suite
can then share one database while a deployment can split them.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

_BARE_NAMES = {"database_url": "DATABASE_URL", "nats_url": "NATS_URL"}


class ServiceSettings(BaseSettings):
    """What every service needs to run; services subclass it and set `service_name`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: ClassVar[str] = ""
    # Fields a service also reads from a conventional bare variable, after its
    # own (payments: STRIPE_SECRET_KEY, as Stripe's own tools name it).
    bare_names: ClassVar[dict[str, str]] = {}

    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    # host:port the gRPC server binds.
    grpc_listen: str = "127.0.0.1:50051"
    # Shared secret internal callers (other services, the CLI) send as
    # `x-billingos-service-token`; DESIGN §5's service credential.
    service_token: SecretStr = Field(min_length=16)
    # The gateway's own secret, sent in the same header: a call with it came
    # from outside and may do only what its verified API key's scopes allow.
    gateway_token: SecretStr = Field(min_length=16)
    log_level: str = "INFO"
    # How long in-flight calls may run after SIGTERM before they are cut.
    shutdown_grace_seconds: float = 10.0
    # Idempotency keys are honoured at least this long (DESIGN §6: 24 h).
    idempotency_ttl_hours: int = 24
    # The outbox relay wakes on NOTIFY; this is its fallback poll.
    outbox_poll_seconds: float = 1.0
    db_pool_size: int = 10
    # gRPC server reflection (for grpcurl and the like): off unless a
    # developer turns it on; even then it needs the service credential.
    grpc_reflection: bool = False
    # host:port of the customers service, which verifies the API keys and
    # customer session tokens of calls from outside (keycheck.py,
    # sessioncheck.py). Unset, such calls are refused as unavailable.
    key_check_address: str = ""
    # How long a verified API key (or customer session) is trusted without
    # asking again: the longest a revoked key or session keeps working.
    api_key_cache_seconds: float = Field(default=5.0, ge=0)
    # Failed API-key checks allowed per client address and minute; past that
    # every request from the address is a 429 until its allowance refills.
    failed_key_checks_per_minute: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _tokens_differ(self) -> ServiceSettings:
        if self.service_token.get_secret_value() == self.gateway_token.get_secret_value():
            raise ValueError("gateway_token must differ from service_token")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _LayeredEnvironment(settings_cls))


class _LayeredEnvironment(PydanticBaseSettingsSource):
    """Service-specific variable, then suite-wide variable, then bare name."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        service = getattr(self.settings_cls, "service_name", "").upper()
        candidates = []
        if service:
            candidates.append(f"BILLINGOS_{service}_{field_name.upper()}")
        candidates.append(f"BILLINGOS_{field_name.upper()}")
        bare = {**_BARE_NAMES, **getattr(self.settings_cls, "bare_names", {})}
        if field_name in bare:
            candidates.append(bare[field_name])
        for name in candidates:
            if name in os.environ:
                return os.environ[name], field_name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[key] = value
        return values
