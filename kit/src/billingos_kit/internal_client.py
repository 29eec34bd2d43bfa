"""Calling another service of the suite from inside one: a channel made on
first use (a grpc.aio channel belongs to the running loop), and the metadata
an internal caller sends — the service credential, the organization the
call acts for, and an idempotency key where a retry must not repeat it."""

from __future__ import annotations

import uuid

import grpc

from billingos_kit.headers import IDEMPOTENCY_HEADER, ORGANIZATION_HEADER, SERVICE_TOKEN_HEADER


class InternalChannel:
    def __init__(self, address: str, service_token: str) -> None:
        self.address = address
        self._token = service_token
        self._channel: grpc.aio.Channel | None = None

    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address)
        return self._channel

    def metadata(
        self, organization_id: uuid.UUID, *, idempotency_key: str | None = None
    ) -> tuple[tuple[str, str], ...]:
        entries = [
            (SERVICE_TOKEN_HEADER, self._token),
            (ORGANIZATION_HEADER, str(organization_id)),
        ]
        if idempotency_key is not None:
            entries.append((IDEMPOTENCY_HEADER, idempotency_key))
        return tuple(entries)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
