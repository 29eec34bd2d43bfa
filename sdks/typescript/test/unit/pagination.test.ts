import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { NotFoundError } from '@billingos/sdk';

import { clientOf, CUSTOMER, startServer, type TestServer } from '../helpers.js';

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** Five customers, `page_size` at a time, the token being the next offset. */
async function fiveCustomers(): Promise<TestServer> {
  const all = [1, 2, 3, 4, 5].map((n) => ({ ...CUSTOMER, id: `c${n}`, metadata: { Key_N: n } }));
  const server = await startServer((r) => {
    const size = Number(r.url.searchParams.get('page_size') ?? 50);
    const start = Number(r.url.searchParams.get('page_token') || 0);
    const next = start + size < all.length ? String(start + size) : '';
    return { json: { customers: all.slice(start, start + size), next_page_token: next } };
  });
  servers.push(server);
  return server;
}

describe('pagination', () => {
  test('awaiting a list gives one page', async () => {
    const server = await fiveCustomers();
    const { billingos } = clientOf(server);
    const page = await billingos.customers.list({ pageSize: 2 });
    assert.deepEqual(page.data.map((c) => c.id), ['c1', 'c2']);
    assert.equal(page.nextPageToken, '2');
    assert.equal(page.hasNextPage(), true);
    const next = await page.getNextPage();
    assert.deepEqual(next.data.map((c) => c.id), ['c3', 'c4']);
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[1]?.url.searchParams.get('page_token'), '2');
    assert.equal(server.requests[1]?.url.searchParams.get('page_size'), '2');
  });

  test('for await goes over every item of every page', async () => {
    const server = await fiveCustomers();
    const { billingos } = clientOf(server);
    const ids: string[] = [];
    for await (const customer of billingos.customers.list({ pageSize: 2, email: 'ada@example.com' })) {
      ids.push(customer.id);
      assert.deepEqual(Object.keys(customer.metadata ?? {}), ['Key_N']);
    }
    assert.deepEqual(ids, ['c1', 'c2', 'c3', 'c4', 'c5']);
    assert.deepEqual(
      server.requests.map((r) => r.url.search),
      [
        '?page_size=2&email=ada%40example.com',
        '?page_size=2&email=ada%40example.com&page_token=2',
        '?page_size=2&email=ada%40example.com&page_token=4',
      ],
    );
    const last = await billingos.customers.list({ pageSize: 2, pageToken: '4' });
    assert.equal(last.hasNextPage(), false);
    assert.equal(last.nextPageToken, undefined);
    await assert.rejects(last.getNextPage());
  });

  test('pages() and toArray(); nothing is requested before it is used', async () => {
    const server = await fiveCustomers();
    const { billingos } = clientOf(server);
    const list = billingos.customers.list({ pageSize: 3 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(server.requests.length, 0);
    const sizes: number[] = [];
    for await (const page of list.pages()) sizes.push(page.data.length);
    assert.deepEqual(sizes, [3, 2]);
    assert.equal((await billingos.customers.list({ pageSize: 3 }).toArray()).length, 5);
  });

  test('a repeated token ends the iteration', async () => {
    // Mirrors the Python SDK's test_a_repeated_token_ends_the_iteration.
    const server = await startServer(
      { json: { customers: [{ ...CUSTOMER, id: 'c1' }], next_page_token: 't1' } },
      { json: { customers: [{ ...CUSTOMER, id: 'c2' }], next_page_token: 't1' } },
    );
    servers.push(server);
    const { billingos } = clientOf(server);
    const ids: string[] = [];
    for await (const customer of billingos.customers.list()) ids.push(customer.id);
    assert.deepEqual(ids, ['c1', 'c2']);
    assert.equal(server.requests.length, 2);
    const again = await startServer({ json: { customers: [CUSTOMER], next_page_token: 'same' } });
    servers.push(again);
    const page = await clientOf(again).billingos.customers.list({ pageToken: 'same' });
    assert.equal(page.hasNextPage(), false);
    assert.equal((await clientOf(again).billingos.customers.list({ pageToken: 'same' }).toArray()).length, 1);
  });

  test('a rejected first page is not kept: awaiting or iterating again retries', async () => {
    const server = await startServer(
      { status: 404, json: { code: 5, message: 'gone for now', details: [] } },
      { status: 404, json: { code: 5, message: 'gone for now', details: [] } },
      { json: { customers: [{ ...CUSTOMER, id: 'c1' }], next_page_token: '' } },
    );
    servers.push(server);
    const { billingos } = clientOf(server);
    const list = billingos.customers.list();
    await assert.rejects(list, NotFoundError);
    await assert.rejects(async () => {
      for await (const customer of list) void customer;
    }, NotFoundError);
    const page = await list;
    assert.deepEqual(page.data.map((c) => c.id), ['c1']);
    assert.equal(server.requests.length, 3);
    assert.equal(await list, page); // a page that came is kept
    assert.equal(server.requests.length, 3);
  });
});
