"""A BillingOS service process: the gRPC server with health and reflection, the
call pipeline, the outbox relay, consumers and housekeeping, and a graceful
stop (SIGTERM: stop accepting, let in-flight calls finish, stop the background
work cleanly, close connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import grpc
import nats
from google.protobuf import descriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from billingos_kit.clock import Clock, SystemClock
from billingos_kit.consumer import EventConsumer
from billingos_kit.db import Database
from billingos_kit.grpc.methods import policies_for
from billingos_kit.grpc.pipeline import CallPipeline
from billingos_kit.housekeeping import run_housekeeping
from billingos_kit.idempotency import IdempotencyStore
from billingos_kit.keycheck import KeyCheck, KeyLookup, NoKeyLookup, RemoteKeyLookup
from billingos_kit.relay import OutboxRelay, ensure_streams
from billingos_kit.sessioncheck import (
    NoSessionLookup,
    RemoteSessionLookup,
    SessionCheck,
    SessionLookup,
)
from billingos_kit.settings import ServiceSettings
from billingos_kit.snapshot import StateSource, seed_state_stream
from billingos_kit.tables import KitTables

log = logging.getLogger(__name__)

AddServicer = Callable[[Any, grpc.aio.Server], None]
MAX_REQUEST_BYTES = 32 * 1024 * 1024
# What metadata (headers) a call may carry; see the server options.
MAX_METADATA_BYTES = 64 * 1024


@dataclass(frozen=True)
class _Registration:
    add_to_server: AddServicer
    servicer: Any
    service: descriptor.ServiceDescriptor


class ServiceApp:
    """Everything one service runs, assembled by the service's `app.py`."""

    def __init__(
        self,
        settings: ServiceSettings,
        tables: KitTables,
        *,
        clock: Clock | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.service_name
        self.tables = tables
        self.clock: Clock = clock or SystemClock()
        self.database = database or Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            application_name=f"billingos-{settings.service_name}",
        )
        cache_time = dt.timedelta(seconds=settings.api_key_cache_seconds)
        key_check = KeyCheck(
            _key_lookup(settings),
            self.clock,
            cache_time=cache_time,
            failed_checks_per_minute=settings.failed_key_checks_per_minute,
        )
        self.pipeline = CallPipeline(
            database=self.database,
            tables=tables,
            clock=self.clock,
            source=self.name,
            service_token=settings.service_token.get_secret_value(),
            gateway_token=settings.gateway_token.get_secret_value(),
            idempotency=IdempotencyStore(
                tables, self.clock, dt.timedelta(hours=settings.idempotency_ttl_hours)
            ),
            key_check=key_check,
            session_check=SessionCheck(
                _session_lookup(settings),
                self.clock,
                cache_time=cache_time,
                throttle=key_check.throttle,
            ),
        )
        self._registrations: list[_Registration] = []
        self._consumers: list[EventConsumer] = []
        self._state_sources: list[StateSource] = []
        self._closers: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._readiness: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._ready_task: asyncio.Task[None] | None = None
        self._before_serving: list[Callable[[], None]] = []
        self._workers: list[tuple[str, Callable[[asyncio.Event], Coroutine[Any, Any, None]]]] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._nats: NatsClient | None = None
        self._health_task: asyncio.Future[None] | None = None
        self.port = 0

    def add_service(
        self, add_to_server: AddServicer, servicer: Any, service: descriptor.ServiceDescriptor
    ) -> None:
        """Serves `servicer` with the kit pipeline around each of its methods."""
        self._registrations.append(_Registration(add_to_server, servicer, service))
        self.pipeline.register(policies_for(service))

    def use_key_lookup(self, lookup: KeyLookup) -> None:
        """Where this process finds API keys: by default it asks the customers
        service (`key_check_address`); the customers service reads its own
        table."""
        self.pipeline.key_check.lookup = lookup

    def use_session_lookup(self, lookup: SessionLookup) -> None:
        """Where this process finds customer sessions: by default it asks the
        customers service (`key_check_address`); the customers service reads
        its own table."""
        self.pipeline.session_check.lookup = lookup

    def add_consumer(self, consumer: EventConsumer) -> None:
        self._consumers.append(consumer)

    def add_worker(
        self, name: str, work: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
    ) -> None:
        """Background work of the service's own (payments processes stored
        Stripe webhooks): `work(stop)` runs from start until `stop` is set,
        beside the relay and the consumers; if it dies, the process reports
        NOT_SERVING, as for them."""
        self._workers.append((name, work))

    def add_readiness(self, ready: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Health reports SERVING only once `ready()` has returned (it waits
        for what the service must load before its first answer); until then
        the port is open but health says NOT_SERVING."""
        self._readiness.append(ready)

    def add_before_serving(self, hook: Callable[[], None]) -> None:
        """`hook()` runs once everything is loaded (after every readiness
        wait), just before health reports SERVING: no call has been answered
        yet (the runner freezes the startup heap there)."""
        self._before_serving.append(hook)

    def add_closer(self, close: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Runs at stop, after background work ended (a client's channel)."""
        self._closers.append(close)

    def add_state_source(self, source: StateSource) -> None:
        """Registers how to read the current state of one kind of entity, so
        the latest-state stream can be seeded with entities that last changed
        before it existed (snapshot.py). Every entity whose events carry its
        whole state needs one."""
        self._state_sources.append(source)

    async def reseed_state(self) -> int:
        """Publishes every entity's current state onto the subjects that have
        none (`python -m billingos_<context> reseed-state`); safe beside a
        running suite: a newer state is never replaced. Returns the count."""
        client = await nats.connect(self.settings.nats_url, name=f"billingos-{self.name}-reseed")
        try:
            js = client.jetstream()
            await ensure_streams(js, self.name)
            return await seed_state_stream(
                js, self.database, self.clock, self.name, self._state_sources, again=True
            )
        finally:
            await client.close()
            await self.database.dispose()

    @property
    def jetstream(self) -> JetStreamContext:
        if self._nats is None:
            raise RuntimeError("not started")
        return self._nats.jetstream()

    async def start(self) -> int:
        """Connects, serves, starts background work; returns the bound port."""
        self._nats = await nats.connect(
            self.settings.nats_url,
            name=f"billingos-{self.name}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
        )
        js = self._nats.jetstream()
        server = grpc.aio.server(
            interceptors=[self.pipeline],
            # The gateway admits 1 MiB of JSON, which can encode to several
            # times that in protobuf; the pipeline then bounds what it holds.
            options=[
                ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                # Above the gateway's header limit (16 KiB, answered 431), so a
                # request with long headers gets that answer every time, not
                # gRPC's randomised refusal past its 8 KiB soft limit.
                ("grpc.max_metadata_size", MAX_METADATA_BYTES),
                ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
            ],
        )
        names = [health.SERVICE_NAME]
        for registration in self._registrations:
            registration.add_to_server(registration.servicer, server)
            names.append(registration.service.full_name)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        # grpc's health servicer answers SERVING for "" until told otherwise.
        await self._health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.settings.grpc_reflection:
            reflection.enable_server_reflection([reflection.SERVICE_NAME, *names], server)
        self.port = server.add_insecure_port(self.settings.grpc_listen)
        await server.start()
        self._server = server
        relay = OutboxRelay(
            self.database,
            self.tables,
            js,
            self.clock,
            self.name,
            poll_seconds=self.settings.outbox_poll_seconds,
            state_sources=self._state_sources,
        )
        self._spawn("outbox-relay", relay.run(self._stop))
        self._spawn(
            "housekeeping", run_housekeeping(self.database, self.tables, self.clock, self._stop)
        )
        for consumer in self._consumers:
            self._spawn(f"consumer-{consumer.name}", consumer.run(js, self._stop))
        for name, work in self._workers:
            self._spawn(name, work(self._stop))
        if self._readiness:
            # Not serving until what the service answers from is loaded (the
            # entitlement view): an orchestrator sends it no call before.
            self._ready_task = asyncio.create_task(self._serve_when_ready(names))
        else:
            await self._serve(names)
        return self.port

    async def _serve_when_ready(self, names: list[str]) -> None:
        try:
            for ready in self._readiness:
                await ready()
        except Exception:
            # Never serving is the safe answer: the orchestrator replaces it.
            log.exception("a readiness wait failed; the service stays NOT_SERVING")
            return
        await self._serve(names)

    async def _serve(self, names: list[str]) -> None:
        for hook in self._before_serving:
            hook()
        for registration in self._registrations:
            await self._health.set(
                registration.service.full_name, health_pb2.HealthCheckResponse.SERVING
            )
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"port": self.port, "services": names})

    def _spawn(self, name: str, work: Any) -> None:
        task = asyncio.create_task(work, name=f"{self.name}-{name}")
        task.add_done_callback(self._on_task_end)
        self._tasks.append(task)

    def _on_task_end(self, task: asyncio.Task[None]) -> None:
        """Background work only ends when told to; if it dies, the process
        reports NOT_SERVING so its orchestrator replaces it."""
        if task.cancelled() or self._stop.is_set():
            return
        log.error(
            "background task died", extra={"task": task.get_name()}, exc_info=task.exception()
        )
        self._health_task = asyncio.ensure_future(
            self._health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        )

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: refuse new calls, finish in-flight ones, then background work."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        await self._health.enter_graceful_shutdown()
        if self._ready_task is not None:
            self._ready_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ready_task
        if self._server is not None:
            await self._server.stop(grace)
        self._stop.set()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
        if self._nats is not None:
            with contextlib.suppress(Exception):
                await self._nats.drain()
        await self.pipeline.key_check.lookup.close()
        await self.pipeline.session_check.lookup.close()
        for close in self._closers:
            await close()
        await self.database.dispose()
        log.info("stopped")

    async def serve_until_signalled(self) -> None:
        """Runs until SIGTERM or SIGINT, then stops gracefully."""
        loop = asyncio.get_running_loop()
        signalled = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, signalled.set)
        await self.start()
        await signalled.wait()
        log.info("stopping")
        await self.stop()


def _key_lookup(settings: ServiceSettings) -> KeyLookup:
    if not settings.key_check_address:
        return NoKeyLookup()
    return RemoteKeyLookup(settings.key_check_address, settings.service_token.get_secret_value())


def _session_lookup(settings: ServiceSettings) -> SessionLookup:
    if not settings.key_check_address:
        return NoSessionLookup()
    return RemoteSessionLookup(
        settings.key_check_address, settings.service_token.get_secret_value()
    )
