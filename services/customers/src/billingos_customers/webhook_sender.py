"""Posting webhook deliveries (a worker of the customers process, which can
later run as a deployment of its own: it needs only the database).

Each round claims a bounded batch of due deliveries (`FOR UPDATE SKIP
LOCKED`, so replicas share the work), at most one per endpoint and only the
earliest open one of each (`DueDeliveries.claim`): an endpoint gets its
deliveries in `sequence` order, a later one waiting while an earlier one is
pending or retrying. The batch is posted concurrently, each attempt
recorded (`webhook_delivery_attempts`: status, error, duration).

An attempt succeeds on a 2xx answer. Anything else (another status, a 3xx:
redirects are never followed, a timeout, a refused connection or address)
schedules the next attempt (`retry_delay`: exponential from 5 s, capped at
an hour, with jitter) until the series has been failing for 3 days; then
the delivery is failed. A 410 Gone fails it at once and disables the
endpoint. An endpoint that has had no 2xx answer since a delivery's series
began (`failing_since`, the first failure since its last success) is
disabled when that delivery is given up: it failed everything for 3 days.
Each disabling announces `webhook_endpoint.disabled` and logs a notice.
Every time comes from the injected clock.

The connection goes to the address `webhook_urls` vetted, resolved at each
attempt (no kept-alive connection is reused), through `VettedBackend`; TLS
still verifies the URL's host name (SNI and certificate). At most 64 KiB
of an answer is read.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import functools
import logging
import random
import ssl
import typing
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore

from billingos_customers import events
from billingos_customers.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from billingos_customers.repository import (
    DueDeliveries,
    OrganizationRepository,
    WebhookAttemptRepository,
    WebhookDeliveryRepository,
    WebhookEndpointRepository,
)
from billingos_customers.webhook_envelope import signed_headers
from billingos_customers.webhook_urls import (
    WebhookTarget,
    WebhookUrlRefused,
    parse_target,
    vetted_addresses,
)
from billingos_customers.webhook_vocabulary import DeliveryStatus, DisabledReason
from billingos_kit.clock import Clock
from billingos_kit.db import Connection, Database
from billingos_kit.ids import new_id
from billingos_kit.repository import OnConnection
from billingos_kit.tables import KitTables
from billingos_kit.workscope import OrganizationWork

log = logging.getLogger(__name__)

SOURCE = "customers"
RETRY_BASE = dt.timedelta(seconds=5)
RETRY_CAP = dt.timedelta(hours=1)
# A series of attempts is given up once it has been failing this long.
RETRY_FOR = dt.timedelta(days=3)
MAX_ANSWER_BYTES = 64 * 1024
MAX_ERROR_LENGTH = 500
# A claimed delivery is hidden from other senders this long past the POST's
# timeout (recording its outcome must fit in it).
LEASE_MARGIN_SECONDS = 30

SocketOption = typing.Union[  # noqa: UP007 - httpcore's own alias, spelt as it is
    tuple[int, int, int], tuple[int, int, bytes | bytearray], tuple[int, int, None, int]
]


def retry_delay(series_attempts: int, rng: random.Random | None = None) -> dt.timedelta:
    """The wait after the `series_attempts`-th failed attempt: 5 s doubling
    to an hour, each between half and the whole of it (jitter spreads the
    retries of many deliveries that failed together)."""
    exponent = min(series_attempts - 1, 20)
    full: dt.timedelta = min(RETRY_BASE * 2**exponent, RETRY_CAP)
    # Jitter, not a secret: the module's generator is fine.
    return full * (rng or random).uniform(0.5, 1.0)


class RefusedAddress(httpcore.ConnectError):
    """The host resolved to an address BillingOS does not post to."""


class VettedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, vets every address, and connects to a vetted
    one: the address used is the address checked (no second lookup for a
    rebinding name to answer). httpcore starts TLS on the stream afterwards
    with the URL's host name, so certificates are checked as usual."""

    def __init__(
        self,
        *,
        development_mode: bool,
        inner: httpcore.AsyncNetworkBackend,
        resolver: concurrent.futures.Executor | None = None,
    ) -> None:
        self._development_mode = development_mode
        self._inner = inner
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await vetted_addresses(
                host, port, development_mode=self._development_mode, executor=self._resolver
            )
        except WebhookUrlRefused as refused:
            raise RefusedAddress(refused.violations[0].description) from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # vetted_addresses never answers none
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("webhooks are never posted to a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(frozen=True)
class Outcome:
    """What one POST came to."""

    status: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class _Claimed:
    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    development_mode: bool


class WebhookSender:
    def __init__(
        self,
        database: Database,
        tables: KitTables,
        clock: Clock,
        *,
        timeout_seconds: float = 10.0,
        batch_size: int = 20,
        poll_seconds: float = 0.25,
        development_mode_allowed: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        per_organization: int | None = None,
    ) -> None:
        """`ssl_context`: what receivers' certificates are verified against
        (None: the system's trusted CAs, with host name checks).
        `per_organization`: attempts of one organization in flight at once
        (default three quarters of `batch_size`): one merchant's slow or
        hanging receivers never take every slot, a quarter stays for the
        others, and a deployment with one busy merchant still uses most."""
        self._database = database
        self._per_organization = per_organization or max(1, batch_size - batch_size // 4)
        # Lookups run here, not in the loop's default executor: a name that
        # hangs in the system resolver holds one of these threads (for the
        # resolver's own timeout), never one the loop needs for anything else.
        self._resolver = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(16, 2 * batch_size), thread_name_prefix="webhook-dns"
        )
        self._development_mode_allowed = development_mode_allowed
        self._tables = tables
        self._clock = clock
        self._timeout = timeout_seconds
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        # One pool per mode, each never keeping a connection: every attempt
        # resolves and vets again.
        self._pools = {
            mode: httpcore.AsyncConnectionPool(
                ssl_context=ssl_context or ssl.create_default_context(),
                max_connections=batch_size,
                max_keepalive_connections=0,
                network_backend=VettedBackend(
                    development_mode=mode, inner=httpcore.AnyIOBackend(), resolver=self._resolver
                ),
            )
            for mode in (False, True)
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Keeps up to `batch_size` attempts in flight, claiming more as each
        one ends: a receiver that hangs for the whole timeout holds one slot,
        never the attempts of other endpoints (of other organizations)."""
        in_flight: set[asyncio.Task[None]] = set()
        busy: collections.Counter[uuid.UUID] = collections.Counter()
        # Set when an attempt ends (its outcome recorded): a slot is free, and
        # its endpoint's next delivery may now be claimed. An event, not the
        # tasks themselves: one that ends while a claim runs is not missed.
        ended_one = asyncio.Event()

        def ended(task: asyncio.Task[None], organization_id: uuid.UUID) -> None:
            in_flight.discard(task)
            busy[organization_id] -= 1
            ended_one.set()

        try:
            while not stop.is_set():
                free = self._batch_size - len(in_flight)
                claimed: list[_Claimed] = []
                now = lease_until = self._clock.now()
                if free > 0:
                    try:
                        claimed, now, lease_until = await self._claim(free, busy)
                    except Exception:
                        log.exception("claiming webhook deliveries failed; retrying")
                for item in claimed:
                    organization_id = item.delivery.organization_id
                    task = asyncio.create_task(self._attempt(item, now, lease_until))
                    in_flight.add(task)
                    busy[organization_id] += 1
                    done = functools.partial(ended, organization_id=organization_id)
                    task.add_done_callback(done)
                if not claimed or len(in_flight) >= self._batch_size:
                    # Wait for the poll interval, an attempt's end, or the stop.
                    waiters = [
                        asyncio.ensure_future(stop.wait()),
                        asyncio.ensure_future(ended_one.wait()),
                    ]
                    await asyncio.wait(
                        waiters, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED
                    )
                    for waiter in waiters:
                        waiter.cancel()
                    ended_one.clear()
        finally:
            if in_flight:
                await asyncio.wait(in_flight, timeout=self._timeout)
            await self.close()

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._resolver.shutdown(wait=False, cancel_futures=True)

    async def send_due(self) -> int:
        """One round: claims up to `batch_size` due deliveries, posts them
        concurrently and records each; how many it claimed (the tests' way
        of driving the sender a step at a time; `run` keeps a pool instead).

        No POST runs inside a transaction: the claim (one short transaction)
        leases each delivery (`claimed_until`, past the POST's timeout),
        which hides it and its endpoint's others from other senders while
        this one posts;
        each outcome is then recorded in a transaction of its own, only if the
        lease still holds. A sender that dies mid-POST leaves its deliveries
        to be posted again once the lease lapses (at least once: receivers
        dedupe on `webhook-id`).
        """
        claimed, now, lease_until = await self._claim(self._batch_size, collections.Counter())
        await asyncio.gather(*(self._attempt(item, now, lease_until) for item in claimed))
        return len(claimed)

    async def _claim(
        self, limit: int, busy: collections.Counter[uuid.UUID]
    ) -> tuple[list[_Claimed], dt.datetime, dt.datetime]:
        """Up to `limit` due deliveries, leased; none of an organization that
        already has `per_organization` attempts in flight (`busy`), and no
        more of one than would take it there (the rest stay unleased, for
        the next claim)."""
        now = self._clock.now()
        full = [org for org, count in busy.items() if count >= self._per_organization]
        async with self._database.transaction() as connection:
            due = await DueDeliveries(OnConnection(connection)).claim(now, limit, full)
            taken = collections.Counter(busy)
            kept = []
            for delivery in due:
                if taken[delivery.organization_id] < self._per_organization:
                    taken[delivery.organization_id] += 1
                    kept.append(delivery)
            # From the clock read after the query: however long it took, each
            # lease covers a whole attempt.
            lease_until = self._clock.now() + dt.timedelta(
                seconds=self._timeout + LEASE_MARGIN_SECONDS
            )
            claimed = [await self._context(connection, delivery) for delivery in kept]
            for item in claimed:
                await self._lease(connection, item.delivery, lease_until)
        return claimed, now, lease_until

    async def _attempt(self, item: _Claimed, now: dt.datetime, lease_until: dt.datetime) -> None:
        outcome = await self._post_safely(item, now)
        try:
            async with self._database.transaction() as connection:
                await self._record(connection, item, outcome, now, lease_until)
        except Exception:
            # Its lease lapses and it is posted again: never a stuck sender.
            log.exception(
                "recording a webhook attempt failed", extra={"delivery_id": str(item.delivery.id)}
            )

    async def _lease(
        self, connection: Connection, delivery: WebhookDelivery, lease_until: dt.datetime
    ) -> None:
        work = OrganizationWork(
            connection, delivery.organization_id, self._clock, self._tables, SOURCE
        )
        delivery.claimed_until = lease_until
        await WebhookDeliveryRepository(work).update(delivery, ["claimed_until"])

    async def _post_safely(self, item: _Claimed, now: dt.datetime) -> Outcome:
        """`_post`, with anything it did not foresee recorded as a failed
        attempt: one odd endpoint must not stop every other's deliveries."""
        try:
            return await self._post(item, now)
        except Exception as error:
            log.exception(
                "webhook attempt failed unexpectedly",
                extra={"delivery_id": str(item.delivery.id)},
            )
            return Outcome(None, f"internal error: {type(error).__name__}", 0)

    async def _context(self, connection: Connection, delivery: WebhookDelivery) -> _Claimed:
        scope = OnConnection(connection, delivery.organization_id)
        endpoint = await WebhookEndpointRepository(scope).get_any(delivery.endpoint_id)
        organization = await OrganizationRepository(scope).require(delivery.organization_id)
        assert endpoint is not None  # a foreign key
        return _Claimed(
            delivery, endpoint, organization.development_mode and self._development_mode_allowed
        )

    async def _post(self, item: _Claimed, now: dt.datetime) -> Outcome:
        delivery, endpoint = item.delivery, item.endpoint
        started = asyncio.get_running_loop().time()

        def outcome(status: int | None, error: str | None) -> Outcome:
            elapsed = asyncio.get_running_loop().time() - started
            return Outcome(status, error and error[:MAX_ERROR_LENGTH], int(elapsed * 1000))

        try:
            target = parse_target(endpoint.url, development_mode=item.development_mode)
        except WebhookUrlRefused as refused:
            return outcome(None, f"refused URL: {refused.violations[0].description}")
        headers = signed_headers(
            str(delivery.event_id), delivery.body, _signing_secrets(endpoint, now), now
        )
        phase_timeouts = dict.fromkeys(("connect", "read", "write", "pool"), self._timeout)
        # The status counts once it has come, whatever then happens to the
        # body (a receiver that answers 200 and never ends its body has
        # taken the delivery: posting it again would only repeat it).
        status: int | None = None
        try:
            async with asyncio.timeout(self._timeout):
                async with self._pools[item.development_mode].stream(
                    "POST",
                    _request_url(target),
                    headers=[("Host", _host_header(target)), *headers.items()],
                    content=delivery.body.encode(),
                    extensions={"timeout": phase_timeouts},
                ) as response:
                    status = response.status
                    await _read_at_most(response, MAX_ANSWER_BYTES)
        except TimeoutError:
            if status is None:
                return outcome(None, f"no answer within {self._timeout:g} s")
        except RefusedAddress as refused:
            return outcome(None, f"refused address: {refused}")
        except httpcore.TimeoutException as error:
            if status is None:
                return outcome(None, f"timed out: {type(error).__name__}")
        except (
            httpcore.NetworkError,
            httpcore.ProtocolError,
            httpcore.UnsupportedProtocol,
        ) as error:
            if status is None:
                return outcome(None, f"{type(error).__name__}: {error}")
        assert status is not None
        if 300 <= status < 400:
            return outcome(status, f"answered {status}: redirects are not followed")
        if not 200 <= status < 300:
            return outcome(status, f"answered {status}")
        return outcome(status, None)

    async def _record(
        self,
        connection: Connection,
        item: _Claimed,
        outcome: Outcome,
        now: dt.datetime,
        lease_until: dt.datetime,
    ) -> None:
        work = OrganizationWork(
            connection, item.delivery.organization_id, self._clock, self._tables, SOURCE
        )
        # The endpoint first, then the delivery: the order the dispatcher and
        # an endpoint's update take them in (never a deadlock between them).
        endpoints = WebhookEndpointRepository(work)
        endpoint = await endpoints.get_any(item.delivery.endpoint_id, for_update=True)
        assert endpoint is not None  # a foreign key
        delivery = await WebhookDeliveryRepository(work).get(item.delivery.id, for_update=True)
        if delivery is None or delivery.claimed_until != lease_until:
            # The lease lapsed and another sender took it: that one records.
            # (A redelivery during the POST keeps the lease: this attempt
            # counts as the new series' first.) The receiver may get it twice.
            log.warning(
                "a webhook attempt outlived its lease; its outcome is not recorded",
                extra={"delivery_id": str(item.delivery.id), "status": outcome.status},
            )
            return
        await WebhookAttemptRepository(work).insert(
            WebhookDeliveryAttempt(
                id=new_id(self._clock),
                organization_id=delivery.organization_id,
                delivery_id=delivery.id,
                attempted_at=now,
                response_status=outcome.status,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        delivery.attempts += 1
        delivery.series_attempts += 1
        delivery.series_started_at = delivery.series_started_at or now
        delivery.last_response_status = outcome.status
        delivery.last_error = outcome.error
        delivery.claimed_until = None
        delivery.updated_at = now
        disable: DisabledReason | None = None
        if outcome.succeeded:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
            if endpoint.failing_since is not None:
                endpoint.failing_since = None
                await endpoints.update(endpoint, ["failing_since"])
        else:
            if endpoint.failing_since is None:
                endpoint.failing_since = now
                await endpoints.update(endpoint, ["failing_since"])
            # From the attempt's end: a receiver that took the whole timeout
            # still gets the whole wait before it is asked again.
            next_at = self._clock.now() + retry_delay(delivery.series_attempts)
            if outcome.status == 410:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
                disable = DisabledReason.GONE
            elif next_at - delivery.series_started_at > RETRY_FOR:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
                # No success of the endpoint since this series began: it has
                # failed everything for the whole retry window.
                if endpoint.failing_since <= delivery.series_started_at:
                    disable = DisabledReason.FAILING
            else:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.RETRYING, next_at
        await WebhookDeliveryRepository(work).update(
            delivery,
            [
                "attempts",
                "series_attempts",
                "series_started_at",
                "last_response_status",
                "last_error",
                "status",
                "next_attempt_at",
                "claimed_until",
                "updated_at",
            ],
        )
        if disable is not None and endpoint.disabled_at is None:
            endpoint.disabled_at, endpoint.disabled_reason = now, disable
            endpoint.updated_at = now
            await endpoints.update(endpoint, ["disabled_at", "disabled_reason", "updated_at"])
            await work.outbox.add(events.webhook_endpoint_disabled(endpoint))
            log.warning(
                "webhook endpoint disabled",
                extra={
                    "organization_id": str(endpoint.organization_id),
                    "endpoint_id": str(endpoint.id),
                    "reason": str(disable),
                },
            )


def _request_url(target: WebhookTarget) -> httpcore.URL:
    """The URL to post to, from the parts `parse_target` checked: the path
    exactly as stored (`;params` included, which httpcore's own parsing
    would drop) and the query."""
    parts = urlsplit(target.url)
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return httpcore.URL(
        scheme=target.scheme.encode(),
        host=target.host.encode(),
        port=target.port,
        target=request_target.encode(),
    )


def _host_header(target: WebhookTarget) -> str:
    """`Host` as the URL wrote it: an IPv6 literal in brackets, the port
    when it is not the scheme's."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    default_port = 443 if target.scheme == "https" else 80
    return host if target.port == default_port else f"{host}:{target.port}"


def _signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The current secret, and the one a rotation replaced while its grace
    lasts."""
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        found.append(endpoint.previous_secret)
    return found


async def _read_at_most(response: httpcore.Response, limit: int) -> None:
    """Reads (and drops) at most `limit` bytes of the answer: a receiver
    streaming without end cannot hold the attempt or fill memory."""
    read = 0
    stream = typing.cast(typing.AsyncIterable[bytes], response.stream)
    async for chunk in stream:
        read += len(chunk)
        if read >= limit:
            break
