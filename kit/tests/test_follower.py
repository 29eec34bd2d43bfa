"""The state follower: ready only once it has applied every latest state the
stream held when it started, then current with each new one, and rebuilt
from the latest states after an interruption."""

from __future__ import annotations

import asyncio
import time
import uuid

import nats
from nats.js import JetStreamContext

from billingos.common.v1 import event_pb2
from billingos_kit.follower import FETCH_TIMEOUT_SECONDS, StateFollower
from billingos_kit.streams import state_stream
from billingos_kit.testing.events import publish_event
from billingos_kit.testing.eventtypes import event_message
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.waiting import eventually

ORGANIZATION = uuid.uuid4()
BOUND = 20.0


async def publish(servers: SessionServers, source: str, widget: str, value: str) -> None:
    kind = event_message(source, "widget.changed", with_state=True)
    data = kind()
    data.state.id = widget  # type: ignore[attr-defined]
    data.state.value = value  # type: ignore[attr-defined]
    await publish_event(servers.nats_url, data, ORGANIZATION)


def following(source: str) -> tuple[StateFollower, dict[str, str]]:
    seen: dict[str, str] = {}

    def remember(envelope: event_pb2.EventEnvelope, data: object) -> None:
        state = getattr(data, "state")  # noqa: B009
        seen[state.id] = state.value

    follower = StateFollower(source, "test-follower")
    follower.on(event_message(source, "widget.changed", with_state=True), remember)
    return follower, seen


async def test_ready_means_every_latest_state_is_applied_then_it_stays_current(
    jetstream: JetStreamContext, servers: SessionServers, source: str
) -> None:
    for widget in range(300):
        await publish(servers, source, f"w{widget}", "old")
        await publish(servers, source, f"w{widget}", "new")
    follower, seen = following(source)
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(jetstream, stop))
    try:
        await asyncio.wait_for(follower.ready.wait(), BOUND)
        # Ready: all 300 widgets, each at its latest state (not one state twice).
        assert len(seen) == 300
        assert set(seen.values()) == {"new"}
        await publish(servers, source, "w7", "newer")
        await eventually(lambda: _is(seen, "w7", "newer"), BOUND)
    finally:
        stop.set()
        await asyncio.wait_for(task, BOUND)


async def test_an_empty_stream_is_ready_at_once(jetstream: JetStreamContext, source: str) -> None:
    follower, seen = following(source)
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(jetstream, stop))
    try:
        await asyncio.wait_for(follower.ready.wait(), BOUND)
        assert seen == {}
    finally:
        stop.set()
        await asyncio.wait_for(task, BOUND)


async def test_an_idle_follower_stays_confirmed_and_a_cut_off_one_ages(
    servers: SessionServers, source: str
) -> None:
    client = await nats.connect(servers.nats_url)
    await publish(servers, source, "w1", "first")
    follower, _ = following(source)
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(client.jetstream(), stop))
    try:
        await asyncio.wait_for(follower.ready.wait(), BOUND)
        first = follower.confirmed_at()
        assert first is not None
        # Nothing arrives, and the server keeps saying nothing is pending.
        await asyncio.sleep(3 * FETCH_TIMEOUT_SECONDS)
        later = follower.confirmed_at()
        assert later is not None
        assert later > first
        assert time.monotonic() - later < 2.5 * FETCH_TIMEOUT_SECONDS
        # Cut off from NATS: nothing confirms the view any more; it ages.
        await client.close()
        await asyncio.sleep(3 * FETCH_TIMEOUT_SECONDS)
        cut_off = follower.confirmed_at()
        assert cut_off is not None
        assert time.monotonic() - cut_off >= 2.5 * FETCH_TIMEOUT_SECONDS
    finally:
        stop.set()
        await asyncio.wait_for(task, BOUND)
        await client.close()


async def test_a_consumer_the_server_lost_is_made_again_and_following_goes_on(
    jetstream: JetStreamContext, servers: SessionServers, source: str
) -> None:
    """As after a NATS restart, which forgets ephemeral consumers: the
    follower makes another and follows on."""
    await publish(servers, source, "w1", "first")
    follower, seen = following(source)
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(jetstream, stop))
    try:
        await asyncio.wait_for(follower.ready.wait(), BOUND)
        stream = state_stream(source)
        for consumer in await jetstream.consumers_info(stream):
            await jetstream.delete_consumer(stream, consumer.name)
        await publish(servers, source, "w1", "second")
        await eventually(lambda: _is(seen, "w1", "second"), BOUND)
    finally:
        stop.set()
        await asyncio.wait_for(task, BOUND)


async def _is(seen: dict[str, str], widget: str, value: str) -> bool | None:
    return True if seen.get(widget) == value else None
