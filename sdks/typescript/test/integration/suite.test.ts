// Against a running suite: BILLINGOS_URL, BILLINGOS_API_KEY,
// BILLINGOS_ORGANIZATION_ID and BILLINGOS_OTHER_ORGANIZATION_ID (another
// organization, not the key's). tests/e2e/test_sdk_typescript.py sets them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';

import {
  AuthenticationError,
  BillingOS,
  ConflictError,
  InvalidRequestError,
  NotFoundError,
  type BenefitGrant,
  type Page,
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
