"""List methods follow next_page_token, sync and async."""

from __future__ import annotations

from billingos_sdk import AsyncBillingOS, BillingOS

from .conftest import Reply, ScriptedServer


def pages(server: ScriptedServer) -> None:
    server.script(
        Reply(200, {"customers": [{"id": "c1"}, {"id": "c2"}], "next_page_token": "t1"}),
        Reply(200, {"customers": [{"id": "c3"}, {"id": "c4"}], "next_page_token": "t2"}),
        Reply(200, {"customers": [{"id": "c5"}], "next_page_token": ""}),
    )


def test_iterating_follows_every_page(server: ScriptedServer) -> None:
    pages(server)
    with BillingOS("bos_test", server_url=server.url) as billingos:
        ids = [c.id for c in billingos.customers.list(page_size=2, email="a@b.c")]
    assert ids == ["c1", "c2", "c3", "c4", "c5"]
    assert [r.query.get("page_token") for r in server.received] == [None, "t1", "t2"]
    assert all(r.query["page_size"] == "2" for r in server.received)
    assert all(r.query["email"] == "a@b.c" for r in server.received)


def test_one_page_at_a_time(server: ScriptedServer) -> None:
    pages(server)
    with BillingOS("bos_test", server_url=server.url) as billingos:
        first = billingos.customers.list(page_size=2).page()
        assert [c.id for c in first.items] == ["c1", "c2"]
        assert first.has_next
        second = billingos.customers.list(page_size=2).page(first.next_page_token)
    assert [c.id for c in second.items] == ["c3", "c4"]
    assert server.received[1].query["page_token"] == "t1"


def test_a_repeated_token_ends_the_iteration(server: ScriptedServer) -> None:
    server.script(Reply(200, {"products": [{"id": "p1"}], "next_page_token": "same"}))
    with BillingOS("bos_test", server_url=server.url) as billingos:
        ids = [p.id for p in billingos.products.list()]
    assert ids == ["p1", "p1"]
    assert len(server.received) == 2


async def test_async_iteration_follows_every_page(server: ScriptedServer) -> None:
    pages(server)
    async with AsyncBillingOS("bos_test", server_url=server.url) as billingos:
        ids = [c.id async for c in billingos.customers.list(page_size=2)]
        server.script(Reply(200, {"subscriptions": [{"id": "s1"}]}))
        page = await billingos.subscriptions.list(customer_id="c1").page()
    assert ids == ["c1", "c2", "c3", "c4", "c5"]
    assert [s.id for s in page.items] == ["s1"]
    assert not page.has_next
