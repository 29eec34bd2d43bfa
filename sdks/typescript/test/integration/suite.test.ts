// Against a running suite: BILLINGOS_URL, BILLINGOS_API_KEY,
// BILLINGOS_ORGANIZATION_ID and BILLINGOS_OTHER_ORGANIZATION_ID (another
// organization, not the key's); for the webhook endpoints,
// BILLINGOS_DEVELOPMENT_API_KEY and BILLINGOS_DEVELOPMENT_ORGANIZATION_ID (an
// organization in development mode, whose endpoints may be http URLs on this
// machine). tests/e2e/test_sdk_typescript.py sets them.
import assert from 'node:assert/strict';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';

import {
  AuthenticationError,
  BillingOS,
  ConflictError,
  InvalidRequestError,
  NotFoundError,
  type BenefitGrant,
  type Page,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '@billingos/sdk';

const NEEDED = [
  'BILLINGOS_URL',
  'BILLINGOS_API_KEY',
  'BILLINGOS_ORGANIZATION_ID',
  'BILLINGOS_OTHER_ORGANIZATION_ID',
] as const;
const missing = NEEDED.filter((name) => !process.env[name]);
const skip = missing.length
  ? `integration tests need a running suite: set ${missing.join(', ')} (tests/e2e/test_sdk_typescript.py does)`
  : false;

const env = (name: (typeof NEEDED)[number]): string => process.env[name] ?? '';
const run = randomUUID().slice(0, 8);
const client = (accessToken = env('BILLINGOS_API_KEY')) =>
  new BillingOS({ accessToken, serverURL: env('BILLINGOS_URL'), maxRetries: 2 });

async function failure(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    (value) => assert.fail(`expected an error, got ${JSON.stringify(value)}`),
    (error: unknown) => error,
  );
}

/** What the SDK does not wrap (creating products), through plain fetch. */
async function rawPost(path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(env('BILLINGOS_URL') + path, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${env('BILLINGOS_API_KEY')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('against the running suite', { skip }, () => {
  test('customers: create (own organization), get, getByExternalId, update, delete', async () => {
    const billingos = client();
    const externalId = `user_${run}_1`;
    const created = await billingos.customers.create({
      organizationId: env('BILLINGOS_ORGANIZATION_ID'),
      email: `ada-${run}@example.com`,
      externalId,
      name: 'Ada',
      metadata: { plan_tier: 'pro', seatCount: 3 },
    });
    assert.equal(created.organizationId, env('BILLINGOS_ORGANIZATION_ID'));
    assert.equal(created.externalId, externalId);
    assert.deepEqual(created.metadata, { plan_tier: 'pro', seatCount: 3 });
    assert.ok(created.createTime);

    assert.equal((await billingos.customers.get(created.id)).email, `ada-${run}@example.com`);
    assert.equal((await billingos.customers.getByExternalId(externalId)).id, created.id);

    const updated = await billingos.customers.update(created.id, {
      name: 'Countess of Lovelace',
      billingAddress: { country: 'GB', postalCode: 'W1', line1: '1 St James' },
    });
    assert.equal(updated.name, 'Countess of Lovelace');
    assert.equal(updated.billingAddress?.postalCode, 'W1');
    assert.deepEqual(updated.metadata, { plan_tier: 'pro', seatCount: 3 }, 'not in the mask: kept');

    const deleted = await billingos.customers.delete(created.id);
    assert.ok(deleted.deleteTime);
    const gone = await failure(billingos.customers.get(created.id));
    assert.ok(gone instanceof NotFoundError);
  });

  test("customers.create naming another organization: InvalidRequestError ORGANIZATION_NOT_OWN", async () => {
    const error = await failure(
      client().customers.create({
        organizationId: env('BILLINGOS_OTHER_ORGANIZATION_ID'),
        email: `other-${run}@example.com`,
      }),
    );
    assert.ok(error instanceof InvalidRequestError, String(error));
    assert.equal(error.status, 400);
    assert.equal(error.code, 3);
    assert.equal(error.reason, 'ORGANIZATION_NOT_OWN');
    assert.deepEqual(
      error.fieldViolations.map((v) => v.field),
      ['customer.organization_id'],
    );
    assert.ok(error.requestId, 'the gateway sends x-request-id');
  });

  test('a bad token: AuthenticationError (401)', async () => {
    const error = await failure(client('bos_made_up_key').customers.list({ pageSize: 1 }));
    assert.ok(error instanceof AuthenticationError, String(error));
    assert.equal(error.status, 401);
    assert.equal(error.code, 16);
    assert.equal(error.reason, 'API_KEY_INVALID');
  });

  test('an unknown customer: NotFoundError with its reason', async () => {
    const error = await failure(client().customers.get(randomUUID()));
    assert.ok(error instanceof NotFoundError, String(error));
    assert.equal(error.status, 404);
    assert.equal(error.reason, 'CUSTOMER_NOT_FOUND');
  });

  test('a duplicate externalId: ConflictError (409)', async () => {
    const billingos = client();
    const externalId = `dup_${run}`;
    await billingos.customers.create({ email: `dup-${run}@example.com`, externalId });
    const error = await failure(
      billingos.customers.create({ email: `dup2-${run}@example.com`, externalId }),
    );
    assert.ok(error instanceof ConflictError, String(error));
    assert.equal(error.status, 409);
    assert.equal(error.reason, 'EXTERNAL_ID_ALREADY_EXISTS');
    assert.deepEqual(error.fieldViolations.map((v) => v.field), ['customer.external_id']);
  });

  test('customers.list follows next_page_token over more than one page', async () => {
    const billingos = client();
    const email = `page-${run}@example.com`;
    const made: string[] = [];
    for (let n = 0; n < 5; n++) made.push((await billingos.customers.create({ email })).id);
    const first = await billingos.customers.list({ pageSize: 2, email });
    assert.equal(first.data.length, 2);
    assert.ok(first.hasNextPage());
    const pages: number[] = [];
    for await (const page of billingos.customers.list({ pageSize: 2, email }).pages()) {
      pages.push(page.data.length);
    }
    assert.deepEqual(pages, [2, 2, 1]);
    const seen: string[] = [];
    for await (const customer of billingos.customers.list({ pageSize: 2, email })) seen.push(customer.id);
    assert.deepEqual(seen, [...made].reverse(), 'newest first, each once');
  });

  test('events.ingest is accepted; a repeated external id is a duplicate', async () => {
    const billingos = client();
    const event = {
      name: 'api_call',
      externalCustomerId: `user_${run}_events`,
      externalId: `evt_${run}`,
      metadata: { total_tokens: 1500, modelName: 'gpt', cached: false },
    };
    const first = await billingos.events.ingest({
      events: [event, { name: 'api_call', externalCustomerId: `user_${run}_events` }],
    });
    assert.deepEqual(first, { inserted: 2, duplicates: 0 });
    assert.deepEqual(await billingos.events.ingest({ events: [event] }), { inserted: 0, duplicates: 1 });
    const refused = await failure(billingos.events.ingest({ events: [{ name: '' }] }));
    assert.ok(refused instanceof InvalidRequestError, String(refused));
    assert.ok(refused.fieldViolations.length > 0);
  });

  test('benefitGrants.list is typed and pages', async () => {
    const billingos = client();
    const customer = await billingos.customers.create({ email: `grants-${run}@example.com` });
    const grants: Page<BenefitGrant> = await billingos.benefitGrants.list({
      customerId: customer.id,
      isGranted: true,
    });
    assert.ok(Array.isArray(grants.data));
    assert.equal(grants.hasNextPage(), false);
    for (const grant of grants.data) assert.equal(grant.customerId, customer.id);
  });

  test('products, subscriptions, entitlements and customer sessions', async () => {
    const billingos = client();
    const product = await rawPost('/v1/products', {
      name: `Pro ${run}`,
      recurring: { interval: 'INTERVAL_MONTH' },
      public_metadata: { Feature_List: 'all' },
      prices: [{ currency: 'USD', fixed: { amount_minor: 2900 } }],
    });
    const productId = String(product['id']);
    const got = await billingos.products.get(productId);
    assert.equal(got.name, `Pro ${run}`);
    assert.deepEqual(got.publicMetadata, { Feature_List: 'all' });
    assert.equal(got.prices?.[0]?.fixed?.amountMinor, '2900');
    const listed: string[] = [];
    for await (const p of billingos.products.list({ pageSize: 1, query: `Pro ${run}` })) listed.push(p.id);
    assert.deepEqual(listed, [productId]);

    const customer = await billingos.customers.create({ email: `subs-${run}@example.com` });
    const subscription = await billingos.subscriptions.create({
      subscription: { customerId: customer.id, productId, currency: 'USD', metadata: { Source_Key: 'sdk' } },
      trial: { interval: 'INTERVAL_DAY', count: 14 },
    });
    assert.equal(subscription.status, 'SUBSCRIPTION_STATUS_TRIALING');
    assert.deepEqual(subscription.metadata, { Source_Key: 'sdk' });
    assert.equal((await billingos.subscriptions.get(subscription.id)).customerId, customer.id);
    const mine = await billingos.subscriptions.list({ customerId: customer.id });
    assert.deepEqual(mine.data.map((s) => s.id), [subscription.id]);
    const canceled = await billingos.subscriptions.cancel(subscription.id, { comment: 'sdk test' });
    assert.equal(canceled.cancelAtPeriodEnd, true);

    const entitlement = await billingos.entitlements.check({ customerId: customer.id, feature: `nope_${run}` });
    assert.equal(entitlement.allowed, false);
    assert.equal(entitlement.feature, `nope_${run}`);

    const session = await billingos.customerSessions.create({ customerId: customer.id, ttlSeconds: 600 });
    assert.match(session.token ?? '', /^bcs_/);
    assert.equal(session.customerId, customer.id);
  });
});

const DEVELOPMENT = ['BILLINGOS_DEVELOPMENT_API_KEY', 'BILLINGOS_DEVELOPMENT_ORGANIZATION_ID'] as const;
const missingDevelopment = DEVELOPMENT.filter((name) => !process.env[name]);
const webhookSkip =
  skip ||
  (missingDevelopment.length
    ? `webhook endpoint tests need an organization in development mode: set ${missingDevelopment.join(', ')}`
    : false);

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver on this machine: records each POST, answers 200. */
async function startReceiver() {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    async waitFor(count: number, ms = 30_000): Promise<Received[]> {
      const deadline = Date.now() + ms;
      while (received.length < count) {
        assert.ok(Date.now() < deadline, `${received.length} of ${count} posts within ${ms} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return received;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Whether one of the `webhook-signature` header's signatures is this
 * secret's (the Standard Webhooks scheme, which the `standardwebhooks`
 * package checks the same way). */
function signedWith(secret: string, { headers, body }: Received): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = `${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`;
  const expected = createHmac('sha256', key).update(signed).digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .some((signature) => {
      const [version, value] = signature.split(',');
      const given = Buffer.from(value ?? '', 'base64');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

describe('webhook endpoints, as an organization in development mode', { skip: webhookSkip }, () => {
  const billingos = () => client(process.env['BILLINGOS_DEVELOPMENT_API_KEY'] ?? '');

  async function delivered(endpointId: string, attempts: number): Promise<WebhookDelivery> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const page = await billingos().webhookEndpoints.listDeliveries(endpointId);
      const delivery = page.data[0];
      assert.equal(page.data.length, 1);
      if (delivery?.status === 'WEBHOOK_DELIVERY_STATUS_SUCCEEDED' && (delivery.attempts ?? 0) >= attempts) {
        return delivery;
      }
      assert.ok(Date.now() < deadline, JSON.stringify(delivery));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  test('create, get, list, update, rotateSecret, a delivery, redeliver, delete', async () => {
    const receiver = await startReceiver();
    try {
      const hooks = billingos().webhookEndpoints;
      const endpoint: WebhookEndpoint = await hooks.create({
        url: receiver.url,
        description: 'local',
        eventTypes: ['customer.created'],
      });
      assert.match(endpoint.secret ?? '', /^whsec_/);
      assert.equal(endpoint.organizationId, process.env['BILLINGOS_DEVELOPMENT_ORGANIZATION_ID']);
      assert.deepEqual(endpoint.eventTypes, ['customer.created']);
      assert.ok(endpoint.createTime);
      const firstSecret = endpoint.secret ?? '';

      const got = await hooks.get(endpoint.id);
      assert.equal(got.secret ?? '', '', 'shown on create and rotation only');
      assert.equal(got.url, receiver.url);

      const others: string[] = [];
      for (const n of [1, 2]) {
        others.push((await hooks.create({ url: `${receiver.url}/${n}`, eventTypes: ['order.paid'] })).id);
      }
      const first = await hooks.list({ pageSize: 2 });
      assert.equal(first.data.length, 2);
      assert.ok(first.hasNextPage());
      const sizes: number[] = [];
      for await (const page of hooks.list({ pageSize: 2 }).pages()) sizes.push(page.data.length);
      assert.deepEqual(sizes, [2, 1]);
      const listed: string[] = [];
      for await (const e of hooks.list({ pageSize: 2 })) listed.push(e.id);
      assert.deepEqual(listed, [...others].reverse().concat(endpoint.id), 'newest first');

      const updated = await hooks.update(endpoint.id, { description: 'receives customer.created' });
      assert.equal(updated.description, 'receives customer.created');
      assert.deepEqual(updated.eventTypes, ['customer.created'], 'not in the mask: kept');

      const rotated = await hooks.rotateSecret(endpoint.id, { graceSeconds: 3600 });
      assert.match(rotated.secret ?? '', /^whsec_/);
      assert.notEqual(rotated.secret, firstSecret);
      const grace = Date.parse(rotated.previousSecretExpireTime ?? '') - Date.now();
      assert.ok(grace > 55 * 60_000 && grace <= 3600_000, `grace ${grace} ms`);

      assert.deepEqual((await hooks.listDeliveries(endpoint.id)).data, []);

      const customer = await billingos().customers.create({ email: `hooked-${run}@example.com` });
      const [post] = await receiver.waitFor(1);
      assert.ok(post);
      assert.ok(signedWith(rotated.secret ?? '', post), 'signed with the new secret');
      assert.ok(signedWith(firstSecret, post), 'and, during the grace, with the old one');
      const event = JSON.parse(post.body) as { id: string; type: string; data: { customer: { id: string } } };
      assert.equal(event.type, 'customer.created');
      assert.equal(event.data.customer.id, customer.id);
      assert.equal(post.headers['webhook-id'], event.id);

      const delivery = await delivered(endpoint.id, 1);
      assert.equal(delivery.eventId, event.id);
      assert.equal(delivery.eventType, 'customer.created');
      assert.equal(delivery.sequence, '1');
      assert.equal(delivery.lastResponseStatus, 200);

      const again = await hooks.redeliver(endpoint.id, delivery.id);
      assert.equal(again.id, delivery.id);
      assert.equal(again.status, 'WEBHOOK_DELIVERY_STATUS_PENDING');
      const [, repost] = await receiver.waitFor(2);
      assert.equal(repost?.body, post.body);
      assert.equal(repost?.headers['webhook-id'], event.id);
      await delivered(endpoint.id, 2);

      assert.equal((await hooks.delete(endpoint.id)).id, endpoint.id);
      const gone = await failure(hooks.get(endpoint.id));
      assert.ok(gone instanceof NotFoundError, String(gone));
      assert.equal(gone.status, 404);
      assert.equal(gone.reason, 'WEBHOOK_ENDPOINT_NOT_FOUND');
      const history = await hooks.listDeliveries(endpoint.id);
      assert.deepEqual(history.data.map((d) => d.id), [delivery.id], 'its history stays readable');
      assert.ok((await failure(hooks.redeliver(endpoint.id, delivery.id))) instanceof NotFoundError);
    } finally {
      await receiver.close();
    }
  });

  test('typed errors: an unknown id, a URL that is not http(s), a local URL outside development mode', async () => {
    const unknown = await failure(billingos().webhookEndpoints.get(randomUUID()));
    assert.ok(unknown instanceof NotFoundError, String(unknown));
    assert.equal(unknown.reason, 'WEBHOOK_ENDPOINT_NOT_FOUND');

    const refused = await failure(billingos().webhookEndpoints.create({ url: 'ftp://example.com/hooks' }));
    assert.ok(refused instanceof InvalidRequestError, String(refused));
    assert.equal(refused.status, 400);
    assert.equal(refused.code, 3);
    assert.equal(refused.reason, 'WEBHOOK_URL_INVALID');
    assert.deepEqual(refused.fieldViolations.map((v) => v.field), ['webhook_endpoint.url']);

    const notHttps = await failure(client().webhookEndpoints.create({ url: 'http://127.0.0.1:9/hooks' }));
    assert.ok(notHttps instanceof InvalidRequestError, String(notHttps));
    assert.equal(notHttps.reason, 'WEBHOOK_URL_NOT_HTTPS');
    assert.deepEqual(notHttps.fieldViolations.map((v) => v.field), ['webhook_endpoint.url']);
  });
});
