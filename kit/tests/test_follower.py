"""The state follower: ready only once it has applied every latest state the
stream held when it started, then current with each new one, and rebuilt
from the latest states after an interruption."""

from __future__ import annotations

import asyncio
import uuid

from nats.js import JetStreamContext

from billingos.common.v1 import event_pb2
from billingos_kit.follower import StateFollower
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


async def _is(seen: dict[str, str], widget: str, value: str) -> bool | None:
    return True if seen.get(widget) == value else None
