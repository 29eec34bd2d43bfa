import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, invoiceFileName, portalApi, publicPortalApi, randomKey } from '../src/portal/api.js';

interface Call {
  url: string;
  method: string;
  body: unknown;
  authorization: string | null;
  idempotencyKey: string | null;
}

function recording(answer: (call: Call, index: number) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetcher = async (url: string, init: RequestInit) => {
    const headers = new Headers(init.headers);
    const call: Call = {
      url,
      method: init.method ?? 'GET',
      body: typeof init.body === 'string' ? JSON.parse(init.body) : null,
      authorization: headers.get('authorization'),
      idempotencyKey: headers.get('idempotency-key'),
    };
    calls.push(call);
    assert.equal(init.credentials, 'omit');
    return answer(call, calls.length - 1);
  };
  return { calls, fetcher };
}

const ok = (body: unknown = {}) => () => new Response(JSON.stringify(body), { status: 200 });
const BASE = 'https://billing.example/prefix/';
const TOKEN = `bcs_${'t'.repeat(40)}`;

function counter() {
  let n = 0;
  return () => `key-${++n}`;
}

test('every portal call carries the bearer token, under the gateway root', async () => {
  const { calls, fetcher } = recording(ok({ id: 'x' }));
  const api = portalApi(BASE, TOKEN, { fetcher, newKey: counter() });
  await api.customer();
  await api.cancel('sub 1', 'too expensive');
  await api.cancel('s2', '');
  await api.uncancel('s2');
  await api.previewChange('s2', { price_id: 'p', seats: 0 });
  await api.change('s2', { price_id: '', seats: 3 });
  await api.createSetupIntent();
  await api.syncSetupIntent('si');
  await api.setDefaultPaymentMethod('pm');
  await api.detachPaymentMethod('pm');
  await api.deactivate('lk', 'act');
  const root = 'https://billing.example/prefix/v1/customer-portal/';
  assert.deepEqual(
    calls.map((call) => [call.method, call.url.slice(root.length), call.body, call.idempotencyKey]),
    [
      ['GET', 'customer', null, null],
      ['POST', 'subscriptions/sub%201:cancel', { comment: 'too expensive' }, 'key-1'],
      ['POST', 'subscriptions/s2:cancel', {}, 'key-2'],
      ['POST', 'subscriptions/s2:uncancel', {}, 'key-3'],
      ['POST', 'subscriptions/s2:preview-change', { price_id: 'p', seats: 0 }, 'key-4'],
      ['POST', 'subscriptions/s2:change', { price_id: '', seats: 3 }, 'key-5'],
      ['POST', 'setup-intents', {}, 'key-6'],
      ['POST', 'setup-intents/si:sync', {}, 'key-7'],
      ['POST', 'payment-methods/pm:set-default', {}, 'key-8'],
      ['POST', 'payment-methods/pm:detach', {}, 'key-9'],
      ['POST', 'license-keys/lk/activations/act:deactivate', {}, 'key-10'],
    ],
  );
  assert.ok(calls.every((call) => call.authorization === `Bearer ${TOKEN}`));
});

test('lists are read page by page', async () => {
  const { calls, fetcher } = recording((_call, index) =>
    index === 0
      ? new Response(JSON.stringify({ orders: [{ id: 'o1' }, { id: 'o2' }], next_page_token: 'next' }))
      : new Response(JSON.stringify({ orders: [{ id: 'o3' }], next_page_token: '' })),
  );
  const api = portalApi(BASE, TOKEN, { fetcher });
  const orders = await api.orders();
  assert.deepEqual(
    orders.map((order) => order.id),
    ['o1', 'o2', 'o3'],
  );
  assert.equal(new URL(calls[0]?.url ?? '').search, '?page_size=100');
  assert.equal(new URL(calls[1]?.url ?? '').search, '?page_size=100&page_token=next');
  // Each list names its own field.
  const empty = portalApi(BASE, TOKEN, { fetcher: recording(ok({})).fetcher });
  assert.deepEqual(await empty.meters(), []);
});

test('a 401 is reported (the page signs in again) and thrown', async () => {
  const seen: string[] = [];
  const body = {
    code: 16,
    message: 'the customer session is not valid',
    details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'CUSTOMER_SESSION_INVALID' }],
  };
  const { fetcher } = recording(() => new Response(JSON.stringify(body), { status: 401 }));
  const api = portalApi(BASE, TOKEN, { fetcher, onUnauthorized: (status) => seen.push(status.reason) });
  await assert.rejects(api.subscriptions(), (error: unknown) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status.httpStatus, 401);
    return true;
  });
  assert.deepEqual(seen, ['CUSTOMER_SESSION_INVALID']);
});

test('a mutation lost to the network is sent once more with the same key; a refusal is not', async () => {
  const { calls, fetcher } = recording((_call, index) => {
    if (index === 0) throw new TypeError('Failed to fetch');
    return new Response(JSON.stringify({ id: 's' }));
  });
  const api = portalApi(BASE, TOKEN, { fetcher, newKey: counter() });
  await api.cancel('s', '');
  assert.deepEqual(
    calls.map((call) => call.idempotencyKey),
    ['key-1', 'key-1'],
  );

  const refused = recording(() => new Response(JSON.stringify({ code: 9, message: 'no' }), { status: 400 }));
  const again = portalApi(BASE, TOKEN, { fetcher: refused.fetcher, newKey: counter() });
  await assert.rejects(again.uncancel('s'), ApiError);
  assert.equal(refused.calls.length, 1);

  const down = recording(() => {
    throw new TypeError('Failed to fetch');
  });
  const offline = portalApi(BASE, TOKEN, { fetcher: down.fetcher });
  await assert.rejects(offline.uncancel('s'), (error: unknown) => error instanceof ApiError && error.status.httpStatus === 0);
  assert.equal(down.calls.length, 2);
});

test("an invoice is the answer's PDF, or an error", async () => {
  const pdf = new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d]); // %PDF-
  const { calls, fetcher } = recording(
    () => new Response(pdf, { status: 200, headers: { 'content-type': 'application/pdf' } }),
  );
  const api = portalApi(BASE, TOKEN, { fetcher });
  const invoice = await api.invoice({ id: 'o/1', invoice_number: '2026-0001' });
  assert.equal(calls[0]?.url, 'https://billing.example/prefix/v1/customer-portal/orders/o%2F1/invoice');
  assert.equal(calls[0]?.authorization, `Bearer ${TOKEN}`);
  assert.equal(invoice.fileName, 'invoice-2026-0001.pdf');
  assert.deepEqual(new Uint8Array(await invoice.blob.arrayBuffer()), pdf);

  const html = recording(() => new Response('<html>', { status: 200, headers: { 'content-type': 'text/html' } }));
  await assert.rejects(portalApi(BASE, TOKEN, { fetcher: html.fetcher }).invoice({ id: 'o' }), ApiError);
  assert.equal(invoiceFileName({ id: '019b', invoice_number: '' }), 'invoice-019b.pdf');
  assert.equal(invoiceFileName({ id: 'x', invoice_number: '../A B' }), 'invoice--A-B.pdf');
});

test('signing in: the anonymous calls', async () => {
  const { calls, fetcher } = recording((call) =>
    call.url.endsWith(':exchange') ? new Response(JSON.stringify({ token: TOKEN, expire_time: 'T' })) : new Response('{}'),
  );
  const api = publicPortalApi('https://billing.example/', fetcher);
  await api.requestSignIn('acme shop', 'ada@example.com');
  const session = await api.exchangeSignIn('bcm_x');
  assert.equal(session.token, TOKEN);
  assert.deepEqual(
    calls.map((call) => [call.method, call.url, call.body, call.authorization]),
    [
      ['POST', 'https://billing.example/v1/public/organizations/acme%20shop/portal-sign-in', { email: 'ada@example.com' }, null],
      ['POST', 'https://billing.example/v1/public/portal-sign-in:exchange', { token: 'bcm_x' }, null],
    ],
  );
});

test('idempotency keys are random, printable and short', () => {
  const keys = new Set(Array.from({ length: 100 }, () => randomKey()));
  assert.equal(keys.size, 100);
  for (const key of keys) assert.match(key, /^[0-9a-f]{32}$/);
});

test('by default every mutation gets its own key', async () => {
  const { calls, fetcher } = recording(ok({ id: 'x' }));
  const api = portalApi(BASE, TOKEN, { fetcher });
  await api.uncancel('s');
  await api.uncancel('s');
  const [first, second] = calls.map((call) => call.idempotencyKey);
  assert.match(first ?? '', /^[0-9a-f]{32}$/);
  assert.notEqual(first, second);
});
