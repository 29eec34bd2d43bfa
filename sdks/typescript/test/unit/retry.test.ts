import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';

import {
  BillingOS,
  ConflictError,
  InvalidRequestError,
  NetworkError,
  NotFoundError,
  RateLimitError,
  ServerError,
} from '@billingos/sdk';

import { clientOf, CUSTOMER, startServer, statusBody, type TestServer } from '../helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function serve(...replies: Parameters<typeof startServer>): Promise<TestServer> {
  const server = await startServer(...replies);
  servers.push(server);
  return server;
}

const unavailable = { status: 503, json: statusBody(14, 'UNAVAILABLE', 'try again') };

describe('retries', () => {
  test('a mutation is retried on 5xx with the same Idempotency-Key each attempt', async () => {
    const server = await serve(unavailable, { status: 500, json: statusBody(13, 'INTERNAL', 'x') }, { json: CUSTOMER });
    const { billingos, sleeps } = clientOf(server);
    const customer = await billingos.customers.create({ email: 'ada@example.com' });
    assert.equal(customer.id, CUSTOMER.id);
    assert.equal(server.requests.length, 3);
    const keys = server.requests.map((r) => r.headers['idempotency-key']);
    assert.match(String(keys[0]), UUID);
    assert.deepEqual(keys, [keys[0], keys[0], keys[0]]);
    for (const r of server.requests) assert.deepEqual(r.body, { email: 'ada@example.com' });
    // Exponential backoff with jitter: half fixed, half random, doubling.
    assert.equal(sleeps.length, 2);
    assert.ok(sleeps[0]! >= 250 && sleeps[0]! <= 500, `first backoff ${sleeps[0]}`);
    assert.ok(sleeps[1]! >= 500 && sleeps[1]! <= 1000, `second backoff ${sleeps[1]}`);
  });

  test('each logical call gets its own key; a given key is used as is', async () => {
    const server = await serve({ json: CUSTOMER });
    const { billingos } = clientOf(server);
    await billingos.customers.create({ email: 'a@example.com' });
    await billingos.customers.create({ email: 'a@example.com' });
    await billingos.customers.create({ email: 'a@example.com' }, { idempotencyKey: 'signup-user-1' });
    const keys = server.requests.map((r) => r.headers['idempotency-key']);
    assert.notEqual(keys[0], keys[1]);
    assert.equal(keys[2], 'signup-user-1');
  });

  test('Retry-After is honoured exactly (seconds and HTTP date)', async () => {
    const server = await serve(
      { status: 429, json: statusBody(8, 'RATE_LIMITED', 'slow down'), headers: { 'retry-after': '2' } },
      {
        status: 503,
        json: statusBody(14, 'UNAVAILABLE', 'x'),
        headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() },
      },
      { json: { inserted: 1, duplicates: 0 } },
    );
    const { billingos, sleeps } = clientOf(server);
    const result = await billingos.events.ingest({ events: [{ name: 'api_call', externalCustomerId: 'u' }] });
    assert.deepEqual(result, { inserted: 1, duplicates: 0 });
    assert.equal(server.requests.length, 3);
    assert.equal(sleeps[0], 2000);
    assert.ok(sleeps[1]! > 25_000 && sleeps[1]! <= 30_000, `date Retry-After ${sleeps[1]}`);
  });

  test('429 after every retry is a RateLimitError with retryAfter', async () => {
    const server = await serve({
      status: 429,
      json: statusBody(8, 'RATE_LIMITED', 'slow down'),
      headers: { 'retry-after': '1' },
    });
    const { billingos, sleeps } = clientOf(server);
    const error = await billingos.customers.get('c1').then(
      () => assert.fail('no error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RateLimitError);
    assert.equal(error.status, 429);
    assert.equal(error.retryAfter, 1);
    assert.equal(error.reason, 'RATE_LIMITED');
    assert.equal(server.requests.length, 4, 'one attempt and maxRetries (3) retries');
    assert.deepEqual(sleeps, [1000, 1000, 1000]);
  });

  test('a Retry-After longer than maxRetryAfterMs is not waited for', async () => {
    const server = await serve({ status: 429, json: statusBody(8, 'RATE_LIMITED', 'x'), headers: { 'retry-after': '3600' } });
    const { billingos, sleeps } = clientOf(server);
    await assert.rejects(billingos.customers.get('c1'), (e) => e instanceof RateLimitError && e.retryAfter === 3600);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(sleeps, []);
  });

  test('a dropped connection is retried, with the same key', async () => {
    const server = await serve('drop', 'drop', { json: CUSTOMER });
    const { billingos, sleeps } = clientOf(server);
    const customer = await billingos.customers.delete(CUSTOMER.id);
    assert.equal(customer.email, CUSTOMER.email);
    assert.equal(server.requests.length, 3);
    const keys = new Set(server.requests.map((r) => r.headers['idempotency-key']));
    assert.equal(keys.size, 1);
    assert.equal(sleeps.length, 2);
  });

  test('no server at all: a NetworkError after the retries', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const sleeps: number[] = [];
    const billingos = new BillingOS({
      accessToken: 'k',
      serverURL: `http://127.0.0.1:${port}`,
      maxRetries: 2,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    const error = await billingos.customers.get('c1').then(
      () => assert.fail('no error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof NetworkError, String(error));
    assert.equal(error.status, undefined);
    assert.match(error.message, /no answer .*after 3 attempts/);
    assert.equal(sleeps.length, 2);
  });

  test('a timeout counts as a network error and is retried', async () => {
    const server = await serve('hang', { json: CUSTOMER });
    const { billingos, sleeps } = clientOf(server, { timeoutMs: 100 });
    const customer = await billingos.customers.get(CUSTOMER.id);
    assert.equal(customer.id, CUSTOMER.id);
    assert.equal(server.requests.length, 2);
    assert.equal(sleeps.length, 1);
  });

  test('a GET is retried and sends no Idempotency-Key', async () => {
    const server = await serve(unavailable, { json: CUSTOMER });
    const { billingos } = clientOf(server);
    await billingos.customers.get(CUSTOMER.id);
    assert.equal(server.requests.length, 2);
    for (const r of server.requests) {
      assert.equal(r.method, 'GET');
      assert.equal(r.headers['idempotency-key'], undefined);
      assert.equal(r.headers['authorization'], 'Bearer bos_test_key');
    }
  });

  for (const [status, code, Kind] of [
    [400, 3, InvalidRequestError],
    [404, 5, NotFoundError],
    [409, 6, ConflictError],
  ] as const) {
    test(`${status} is not retried`, async () => {
      const server = await serve({ status, json: statusBody(code, 'NOPE', 'no') });
      const { billingos, sleeps } = clientOf(server);
      await assert.rejects(billingos.customers.create({ email: 'a@example.com' }), Kind);
      assert.equal(server.requests.length, 1);
      assert.deepEqual(sleeps, []);
    });
  }

  for (const reason of ['CONCURRENT_CHANGE', 'METER_CATCHING_UP']) {
    test(`a 409 with code 10 (ABORTED, ${reason}) is retried with the same key`, async () => {
      const aborted = { status: 409, json: statusBody(10, reason, 'a concurrent change won; retry the call') };
      const server = await serve(aborted, aborted, { json: CUSTOMER });
      const { billingos, sleeps } = clientOf(server);
      const customer = await billingos.customers.create({ email: 'a@example.com' });
      assert.equal(customer.id, CUSTOMER.id);
      assert.equal(server.requests.length, 3);
      const keys = server.requests.map((r) => r.headers['idempotency-key']);
      assert.deepEqual(keys, [keys[0], keys[0], keys[0]]);
      assert.equal(sleeps.length, 2);
    });
  }

  test('a 409 ABORTED after every retry is a ConflictError with its code', async () => {
    const server = await serve({ status: 409, json: statusBody(10, 'CONCURRENT_CHANGE', 'retry the call') });
    const { billingos } = clientOf(server, { maxRetries: 1 });
    await assert.rejects(
      billingos.customers.get('c1'),
      (e) => e instanceof ConflictError && e.code === 10 && e.reason === 'CONCURRENT_CHANGE',
    );
    assert.equal(server.requests.length, 2);
  });

  for (const [name, reply] of [
    ['code 6 (ALREADY_EXISTS)', { status: 409, json: statusBody(6, 'EXTERNAL_ID_ALREADY_EXISTS', 'taken') }],
    ['code 9 (FAILED_PRECONDITION)', { status: 409, json: statusBody(9, 'NOPE', 'no') }],
    ['no code', { status: 409, json: {} }],
    ['code "10" as a string', { status: 409, json: { code: '10' } }],
    ['a body that is not JSON', { status: 409, text: 'conflict' }],
  ] as const) {
    test(`a 409 with ${name} is not retried`, async () => {
      const server = await serve(reply, { json: CUSTOMER });
      const { billingos, sleeps } = clientOf(server);
      await assert.rejects(billingos.customers.create({ email: 'a@example.com' }), ConflictError);
      assert.equal(server.requests.length, 1);
      assert.deepEqual(sleeps, []);
    });
  }

  test('501 is not retried', async () => {
    const server = await serve({ status: 501, json: statusBody(12, 'METHOD_NOT_FOUND', 'no such method') });
    const { billingos } = clientOf(server);
    await assert.rejects(billingos.customers.get('c1'), (e) => e instanceof ServerError && e.status === 501);
    assert.equal(server.requests.length, 1);
  });

  test('maxRetries 0 turns retries off; per call it can be set again', async () => {
    const server = await serve(unavailable, { json: CUSTOMER });
    const { billingos } = clientOf(server, { maxRetries: 0 });
    await assert.rejects(billingos.customers.get('c1'), ServerError);
    assert.equal(server.requests.length, 1);
    const again = await startServer(unavailable, { json: CUSTOMER });
    servers.push(again);
    const second = clientOf(again, { maxRetries: 0 }).billingos;
    await second.customers.get('c1', { maxRetries: 1 });
    assert.equal(again.requests.length, 2);
  });

  test('an aborted call is not retried', async () => {
    const server = await serve('hang');
    const { billingos, sleeps } = clientOf(server);
    const controller = new AbortController();
    const call = billingos.customers.get('c1', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(call, (e: unknown) => e instanceof Error && e.name === 'AbortError');
    assert.deepEqual(sleeps, []);
  });
});
