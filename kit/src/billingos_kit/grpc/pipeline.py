"""The one interceptor every BillingOS service runs. For each unary call of a
registered method it, in order:

1. takes the request id from `x-request-id` (or makes one) for the logs;
2. checks the credential (`x-billingos-service-token`): the service token of
   an internal caller, or the gateway's token, in which case the call came
   from outside and its API key (`authorization`) is checked (keycheck.py):
   the key's organization is the call's, and its scopes must include the
   method's (unless the method is open to anonymous callers); a customer
   portal method takes a customer session token instead (sessioncheck.py),
   whose organization is the call's and whose customer the call scope names;
3. decodes the request itself, so bytes that do not parse are an
   INVALID_ARGUMENT naming the field, not grpc's UNKNOWN and a traceback;
4. resolves the organization (an internal caller names it in
   `x-billingos-organization-id`) when the method is tenant-scoped, refusing
   the call without it (DESIGN §5, defence in depth);
5. refuses a request whose fields contradict its REST path (the path wins) and
   strings Postgres cannot store (NUL) and oversized lists, naming the field;
6. gives the call its unit of work: a connection taken on first use, in one
   transaction when the method mutates (reads run without BEGIN/COMMIT); for
   a mutating call with an `idempotency-key`, replays a stored response or
   records the new one (minus fields marked sensitive) in that same
   transaction (DESIGN §6);
7. maps domain and database errors to gRPC status with `google.rpc` details.

Methods without a policy: health answers anyone (probes carry no credential)
and decodes as safely; anything else (reflection, when a development setting
turns it on) needs the service credential.
"""

from __future__ import annotations

import enum
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import asyncpg
import grpc
from google.rpc import status_pb2

from billingos_kit.clock import Clock
from billingos_kit.db import Connection, Database, UnitOfWork, sqlstate_of
from billingos_kit.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from billingos_kit.grpc.bindings import check_path_wins, check_query, check_single_values
from billingos_kit.grpc.decoding import decode_request
from billingos_kit.grpc.inputs import check_request
from billingos_kit.grpc.methods import MethodPolicy, without_sensitive_fields
from billingos_kit.grpc.scope import CallScope, enter_scope, leave_scope
from billingos_kit.grpc.status import grpc_code, internal_status, rpc_status_for, trailing_metadata
from billingos_kit.headers import (
    AUTHORIZATION_HEADER,
    CLIENT_ADDRESS_HEADER,
    IDEMPOTENCY_HEADER,
    ORGANIZATION_HEADER,
    REQUEST_ID_HEADER,
    REST_PATH_HEADER,
    REST_QUERY_HEADER,
    SERVICE_TOKEN_HEADER,
)
from billingos_kit.idempotency import (
    PLATFORM_SCOPE,
    IdempotencyStore,
    request_fingerprint,
    validate_key,
)
from billingos_kit.ids import canonical_id
from billingos_kit.keycheck import KeyCheck, VerifiedKey
from billingos_kit.logging import request_id_var
from billingos_kit.outbox import Outbox
from billingos_kit.scopes import ALL_SCOPES, SCOPE_CODEC
from billingos_kit.sessioncheck import PortalSession, SessionCheck
from billingos_kit.tables import KitTables

log = logging.getLogger(__name__)

HEALTH_SERVICE_PREFIX = "/grpc.health.v1.Health/"


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
        gateway_token: str,
        idempotency: IdempotencyStore,
        key_check: KeyCheck,
        session_check: SessionCheck,
    ) -> None:
        self._database = database
        self._tables = tables
        self._clock = clock
        self._source = source
        self._service_token = service_token.encode()
        self._gateway_token = gateway_token.encode()
        self._idempotency = idempotency
        self.key_check = key_check
        self.session_check = session_check
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
        if handler is None:
            return None
        method = handler_call_details.method
        policy = self._policies.get(method)
        if policy is None:
            if method.startswith(HEALTH_SERVICE_PREFIX):
                return _decoding_safely(handler)
            presented = _metadata_value(handler_call_details, SERVICE_TOKEN_HEADER)
            if self._caller(presented) is not _Caller.INTERNAL:
                return _refusing(
                    handler, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong service credential"
                )
            return handler
        # Policies exist for unary methods only (policies_for refuses streaming).
        # grpc.aio serves coroutine functions here, whatever the stub says.
        inner = cast(UnaryBehavior, handler.unary_unary)

        async def behavior(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            return await self._serve(policy, inner, raw, context)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            # The pipeline decodes (step 3): bytes arrive as they came.
            request_deserializer=None,
            response_serializer=handler.response_serializer,
        )

    async def _serve(
        self,
        policy: MethodPolicy,
        inner: UnaryBehavior,
        raw: bytes,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> Any:
        metadata = _metadata(context)
        request_id = metadata.get(REQUEST_ID_HEADER) or str(uuid.uuid4())
        request_id_token = request_id_var.set(request_id)
        status: status_pb2.Status | None = None
        response_headers: dict[str, str] = {}
        try:
            return await self._run(policy, inner, raw, context, metadata, request_id)
        except DomainError as error:
            status = rpc_status_for(error)
            response_headers = error.response_headers
            log.info(
                "call refused",
                # Bounded: the message may echo input.
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
        await context.abort(
            grpc_code(status), status.message, trailing_metadata(status, response_headers)
        )

    async def _run(
        self,
        policy: MethodPolicy,
        inner: UnaryBehavior,
        raw: bytes,
        context: grpc.aio.ServicerContext[Any, Any],
        metadata: Mapping[str, str],
        request_id: str,
    ) -> Any:
        caller = self._caller(metadata.get(SERVICE_TOKEN_HEADER, ""))
        if caller is None:
            raise Unauthenticated(
                "missing or wrong service credential", reason="SERVICE_CREDENTIAL_INVALID"
            )
        caller_key: VerifiedKey | None = None
        portal_session: PortalSession | None = None
        if caller is _Caller.INTERNAL:
            caller_scopes = ALL_SCOPES
            organization_id = _organization(metadata, policy)
        elif policy.customer_portal:
            portal_session = await self.session_check.verify(
                metadata.get(AUTHORIZATION_HEADER, ""), metadata.get(CLIENT_ADDRESS_HEADER, "")
            )
            caller_scopes = frozenset()  # a session carries no API-key scope
            organization_id = portal_session.organization_id
        else:
            caller_key = await self._outside_caller(metadata, policy)
            caller_scopes = caller_key.scopes if caller_key else frozenset()
            organization_id = caller_key.organization_id if caller_key else None
        request = decode_request(policy.request_type, raw)
        rest_path = metadata.get(REST_PATH_HEADER)
        if rest_path is not None and policy.rest_bindings:
            check_path_wins(policy.rest_bindings, rest_path, request)
            query = metadata.get(REST_QUERY_HEADER)
            if query:
                check_query(policy.rest_bindings, rest_path, query)
                check_single_values(request, query)
        check_request(request)
        idempotency_key = metadata.get(IDEMPOTENCY_HEADER) if policy.mutating else None
        if idempotency_key is not None:
            idempotency_key = validate_key(idempotency_key)
        unit = UnitOfWork(self._database, transactional=policy.mutating)
        succeeded = False
        try:
            outbox = Outbox(
                unit.connection,
                self._tables,
                self._clock,
                self._source,
                organization_id,
                transactional=policy.mutating,
            )
            scope = CallScope(
                unit_of_work=unit,
                clock=self._clock,
                outbox=outbox,
                request_id=request_id,
                method=policy.full_name,
                organization_id_or_none=organization_id,
                caller_scopes=caller_scopes,
                caller_key_id=caller_key.key_id if caller_key else None,
                idempotency_key=idempotency_key,
                portal_session=portal_session,
                client_address=(
                    "" if caller is _Caller.INTERNAL else metadata.get(CLIENT_ADDRESS_HEADER, "")
                ),
            )
            key_scope = str(organization_id) if organization_id else PLATFORM_SCOPE
            if portal_session is not None:
                # Customers of one organization pick their keys apart: one
                # must never replay another's stored response.
                key_scope = f"{key_scope}/customer/{portal_session.customer_id}"
            fingerprint = b""
            if idempotency_key is not None:
                fingerprint = request_fingerprint(policy.full_name, request, caller_scopes)
                stored = await self._idempotency.replay(
                    await unit.connection(),
                    key_scope,
                    idempotency_key,
                    policy.full_name,
                    fingerprint,
                )
                if stored is not None:
                    succeeded = True
                    return policy.response_type.FromString(stored)

                held_key = idempotency_key

                async def hold(connection: Connection) -> None:
                    await self._idempotency.hold(connection, key_scope, held_key)

                async def release(connection: Connection) -> None:
                    await self._idempotency.release(connection, key_scope, held_key)

                # A mid-call commit must not let a twin with the key run
                # beside this call before its response is stored.
                unit.keep_across_commits(hold, release)
            token = enter_scope(scope)
            try:
                response = await inner(request, context)
            finally:
                leave_scope(token)
            if idempotency_key is not None:
                # Secrets shown once (API key secrets) are never stored.
                stored_reply = without_sensitive_fields(response)
                await self._idempotency.record(
                    await unit.connection(),
                    key_scope,
                    idempotency_key,
                    policy.full_name,
                    fingerprint,
                    stored_reply.SerializeToString(deterministic=True),
                )
            succeeded = True
            return response
        finally:
            await unit.finish(succeeded=succeeded)

    async def _outside_caller(
        self, metadata: Mapping[str, str], policy: MethodPolicy
    ) -> VerifiedKey | None:
        """The API key a call from outside acts with (its organization, its
        scopes), or None for an anonymous method, which acts for no one."""
        if policy.internal_only:
            raise PermissionDenied(
                "this method is internal: it is not served to calls from outside",
                reason="METHOD_INTERNAL",
            )
        if policy.anonymous:
            return None  # whatever key it carries
        key = await self.key_check.verify(
            metadata.get(AUTHORIZATION_HEADER, ""), metadata.get(CLIENT_ADDRESS_HEADER, "")
        )
        if policy.scope not in key.scopes:
            raise PermissionDenied(
                f"this API key lacks {SCOPE_CODEC.proto_name(policy.scope)}, which this call needs",
                reason="API_KEY_SCOPE_MISSING",
                metadata={"scope": str(policy.scope)},
            )
        return key

    def _caller(self, presented: str) -> _Caller | None:
        """Who is calling, by which secret the credential is (None: neither)."""
        given = presented.encode()
        # Both compared every time, in constant time.
        internal = hmac.compare_digest(given, self._service_token)
        gateway = hmac.compare_digest(given, self._gateway_token)
        if internal:
            return _Caller.INTERNAL
        return _Caller.GATEWAY if gateway else None


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            found[key.lower()] = value
    return found


def _metadata_value(details: grpc.HandlerCallDetails, key: str) -> str:
    for name, value in details.invocation_metadata or ():
        if name == key and isinstance(value, str):
            return value
    return ""


class _Caller(enum.Enum):
    INTERNAL = "internal"  # another service, the CLI: may do anything
    GATEWAY = "gateway"  # from outside: what its API key allows


def _organization(metadata: Mapping[str, str], policy: MethodPolicy) -> uuid.UUID | None:
    raw = metadata.get(ORGANIZATION_HEADER, "")
    if not raw:
        if policy.requires_organization:
            raise Unauthenticated("this call needs an organization", reason="ORGANIZATION_REQUIRED")
        return None
    organization_id = canonical_id(raw)
    if organization_id is None:
        raise InvalidArgument(ORGANIZATION_HEADER, "must be an id in canonical UUID form")
    return organization_id


def _map_infrastructure_error(error: Exception) -> DomainError | None:
    """Database conditions a caller can act on, as domain errors."""
    state = sqlstate_of(error) or ""
    if state in ("40001", "40P01"):
        return Aborted("a concurrent change won; retry the call", reason="CONCURRENT_CHANGE")
    if state == "23505":
        return AlreadyExists("request", "conflicts with an existing resource")
    if state.startswith(("08", "53", "57P")):  # connection, resources, shutdown
        return Unavailable("a dependency is unavailable; retry the call")
    if isinstance(
        error,
        (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            ConnectionError,
            OSError,
            TimeoutError,
        ),
    ):
        return Unavailable("a dependency is unavailable; retry the call")
    return None


def _decoding_safely(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler, but a request that does not parse is INVALID_ARGUMENT
    (and logs nothing) instead of grpc's UNKNOWN with a traceback. For the
    health service, whose Check and Watch are both coroutines (Watch writes
    with `context.write`), so awaiting the inner handler serves either."""
    deserialize = handler.request_deserializer
    if deserialize is None:
        return handler

    async def decode(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return deserialize(raw)
        except Exception:
            status = rpc_status_for(InvalidArgument("request", "is not a valid encoding"))
            await context.abort(grpc_code(status), status.message, trailing_metadata(status))

    if handler.unary_unary is not None:
        unary = cast(UnaryBehavior, handler.unary_unary)

        async def unary_behavior(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            return await unary(await decode(raw, context), context)

        return grpc.unary_unary_rpc_method_handler(
            unary_behavior, response_serializer=handler.response_serializer
        )
    if handler.unary_stream is not None:
        streaming = cast(UnaryBehavior, handler.unary_stream)

        async def stream_behavior(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            return await streaming(await decode(raw, context), context)

        return grpc.unary_stream_rpc_method_handler(
            stream_behavior, response_serializer=handler.response_serializer
        )
    return handler


def _refusing(
    handler: grpc.RpcMethodHandler[Any, Any], code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape that answers `code` at once."""

    async def refuse(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(code, message)

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(refuse)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(refuse)
    return grpc.stream_stream_rpc_method_handler(refuse)
