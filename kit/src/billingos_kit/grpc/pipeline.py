"""The one interceptor every BillingOS service runs. For each unary call of a
registered method it, in order:

1. takes the request id from `x-request-id` (or makes one) for the logs;
2. checks the service credential (`x-billingos-service-token`);
3. resolves the organization from `x-billingos-organization-id` when the method
   is tenant-scoped, refusing the call without it (DESIGN §5, defence in depth);
4. refuses strings Postgres cannot store (NUL), naming the field;
5. opens the call's single transaction and, for a mutating call with an
   `idempotency-key`, replays a stored response or records the new one (minus
   fields marked sensitive) in that same transaction (DESIGN §6);
6. maps domain and database errors to gRPC status with `google.rpc` details.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import grpc
from google.protobuf.message import Message
from google.rpc import status_pb2
from sqlalchemy.exc import DBAPIError, OperationalError

from billingos_kit.clock import Clock
from billingos_kit.db import Database, sqlstate_of
from billingos_kit.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    InvalidArgument,
    Unauthenticated,
    Unavailable,
)
from billingos_kit.grpc.inputs import reject_nul_characters
from billingos_kit.grpc.methods import MethodPolicy, without_sensitive_fields
from billingos_kit.grpc.scope import CallScope, enter_scope, leave_scope
from billingos_kit.grpc.status import grpc_code, internal_status, rpc_status_for, trailing_metadata
from billingos_kit.headers import (
    IDEMPOTENCY_HEADER,
    ORGANIZATION_HEADER,
    REQUEST_ID_HEADER,
    SERVICE_TOKEN_HEADER,
)
from billingos_kit.idempotency import (
    PLATFORM_SCOPE,
    IdempotencyStore,
    request_fingerprint,
    validate_key,
)
from billingos_kit.logging import request_id_var
from billingos_kit.outbox import Outbox
from billingos_kit.tables import KitTables

log = logging.getLogger(__name__)


UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


class CallPipeline(grpc.aio.ServerInterceptor):
    """Wraps every registered unary method in the steps above."""

    def __init__(
        self,
        *,
        database: Database,
        tables: KitTables,
        clock: Clock,
        source: str,
        service_token: str,
        idempotency: IdempotencyStore,
    ) -> None:
        self._database = database
        self._tables = tables
        self._clock = clock
        self._source = source
        self._service_token = service_token.encode()
        self._idempotency = idempotency
        self._policies: dict[str, MethodPolicy] = {}

    def register(self, policies: list[MethodPolicy]) -> None:
        for policy in policies:
            self._policies[policy.full_name] = policy

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        policy = self._policies.get(handler_call_details.method)
        if handler is None or policy is None or handler.unary_unary is None:
            # Health, reflection and unknown methods pass through untouched.
            return handler
        # grpc.aio serves coroutine functions here, whatever the stub says.
        inner = cast(UnaryBehavior, handler.unary_unary)

        async def behavior(request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            return await self._serve(policy, inner, request, context)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    async def _serve(
        self,
        policy: MethodPolicy,
        inner: UnaryBehavior,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> Any:
        metadata = _metadata(context)
        request_id = metadata.get(REQUEST_ID_HEADER) or str(uuid.uuid4())
        request_id_token = request_id_var.set(request_id)
        status: status_pb2.Status | None = None
        try:
            return await self._run(policy, inner, request, context, metadata, request_id)
        except DomainError as error:
            status = rpc_status_for(error)
            log.info(
                "call refused",
                extra={"method": policy.full_name, "reason": error.reason, "detail": error.message},
            )
        except Exception as error:
            mapped = _map_infrastructure_error(error)
            if mapped is not None:
                status = rpc_status_for(mapped)
                log.warning("call failed", extra={"method": policy.full_name}, exc_info=True)
            else:
                status = internal_status()
                log.exception("call crashed", extra={"method": policy.full_name})
        finally:
            request_id_var.reset(request_id_token)
        await context.abort(grpc_code(status), status.message, trailing_metadata(status))

    async def _run(
        self,
        policy: MethodPolicy,
        inner: UnaryBehavior,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        metadata: Mapping[str, str],
        request_id: str,
    ) -> Any:
        self._check_service_token(metadata)
        organization_id = _organization(metadata, policy)
        reject_nul_characters(request)
        idempotency_key = metadata.get(IDEMPOTENCY_HEADER) if policy.mutating else None
        if idempotency_key is not None:
            idempotency_key = validate_key(idempotency_key)
        async with self._database.transaction() as session:
            outbox = Outbox(session, self._tables, self._clock, self._source)
            scope = CallScope(
                session=session,
                clock=self._clock,
                outbox=outbox,
                request_id=request_id,
                method=policy.full_name,
                organization_id_or_none=organization_id,
            )
            key_scope = str(organization_id) if organization_id else PLATFORM_SCOPE
            fingerprint = b""
            if idempotency_key is not None:
                fingerprint = request_fingerprint(policy.full_name, request)
                stored = await self._idempotency.replay(
                    session, key_scope, idempotency_key, policy.full_name, fingerprint
                )
                if stored is not None:
                    return policy.response_type.FromString(stored)
            token = enter_scope(scope)
            try:
                response = await inner(request, context)
            finally:
                leave_scope(token)
            if idempotency_key is not None:
                # Secrets shown once (API key secrets) are never stored.
                stored_reply = without_sensitive_fields(response)
                await self._idempotency.record(
                    session,
                    key_scope,
                    idempotency_key,
                    policy.full_name,
                    fingerprint,
                    stored_reply.SerializeToString(deterministic=True),
                )
            return response

    def _check_service_token(self, metadata: Mapping[str, str]) -> None:
        presented = metadata.get(SERVICE_TOKEN_HEADER, "").encode()
        if not hmac.compare_digest(presented, self._service_token):
            raise Unauthenticated(
                "missing or wrong service credential", reason="SERVICE_CREDENTIAL_INVALID"
            )


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            found[key.lower()] = value
    return found


def _organization(metadata: Mapping[str, str], policy: MethodPolicy) -> uuid.UUID | None:
    raw = metadata.get(ORGANIZATION_HEADER, "")
    if not raw:
        if policy.requires_organization:
            raise Unauthenticated("this call needs an organization", reason="ORGANIZATION_REQUIRED")
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidArgument(ORGANIZATION_HEADER, "must be a UUID") from None


def _map_infrastructure_error(error: Exception) -> DomainError | None:
    """Database conditions a caller can act on, as domain errors."""
    if isinstance(error, DBAPIError):
        state = sqlstate_of(error)
        if state in ("40001", "40P01"):
            return Aborted("a concurrent change won; retry the call", reason="CONCURRENT_CHANGE")
        if state == "23505":
            return AlreadyExists("request", "conflicts with an existing resource")
        if isinstance(error, OperationalError) or (state or "").startswith("08"):
            return Unavailable("a dependency is unavailable; retry the call")
    if isinstance(error, (ConnectionError, OSError, TimeoutError)):
        return Unavailable("a dependency is unavailable; retry the call")
    return None
