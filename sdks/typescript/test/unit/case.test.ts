import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { FREE_FORM_KEYS, fromWire, toWire } from '@billingos/sdk';

import { clientOf, CUSTOMER, startServer, type TestServer } from '../helpers.js';

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const ODD_KEYS = { plan_tier: 'pro', camelKey: 1, 'Mixed-Case Key': true, nested_ok: 'x' };

describe('camelCase in TypeScript, snake_case on the wire', () => {
  test('free-form fields come from the OpenAPI document', () => {
    assert.deepEqual([...FREE_FORM_KEYS], ['metadata', 'properties', 'public_metadata', 'stripe_account']);
  });

  test('a create request is snake_cased, its metadata keys left alone', async () => {
    const server = await startServer({
      json: { ...CUSTOMER, metadata: ODD_KEYS, billing_address: { postal_code: '10115', line1: 'A' } },
    });
    servers.push(server);
    const { billingos } = clientOf(server);
    const customer = await billingos.customers.create({
      organizationId: 'org_1',
      email: 'ada@example.com',
      externalId: 'user_1',
      metadata: ODD_KEYS,
      billingAddress: { postalCode: '10115', line1: 'A' },
    });
    const [request] = server.requests;
    assert.equal(request?.method, 'POST');
    assert.equal(request?.url.pathname, '/v1/customers');
    assert.deepEqual(request?.body, {
      organization_id: 'org_1',
      email: 'ada@example.com',
      external_id: 'user_1',
      metadata: ODD_KEYS,
      billing_address: { postal_code: '10115', line1: 'A' },
    });
    assert.equal(customer.organizationId, CUSTOMER.organization_id);
    assert.equal(customer.createTime, CUSTOMER.create_time);
    assert.equal(customer.stripeCustomerId, '');
    assert.deepEqual(customer.metadata, ODD_KEYS);
    assert.deepEqual(customer.billingAddress, { postalCode: '10115', line1: 'A' });
  });

  test("usage events' metadata keys are sent as given", async () => {
    const server = await startServer({ json: { inserted: 1, duplicates: 0 } });
    servers.push(server);
    const { billingos } = clientOf(server);
    await billingos.events.ingest({
      events: [
        {
          name: 'api_call',
          externalCustomerId: 'user_1',
          externalId: 'evt_1',
          timestamp: '2026-11-24T10:00:00Z',
          metadata: { total_tokens: 1500, modelName: 'gpt' },
        },
      ],
    });
    assert.deepEqual(server.requests[0]?.body, {
      events: [
        {
          name: 'api_call',
          external_customer_id: 'user_1',
          external_id: 'evt_1',
          timestamp: '2026-11-24T10:00:00Z',
          metadata: { total_tokens: 1500, modelName: 'gpt' },
        },
      ],
    });
  });

  test('query parameters are snake_cased', async () => {
    const server = await startServer({ json: { benefit_grants: [], next_page_token: '' } });
    servers.push(server);
    const { billingos } = clientOf(server);
    const page = await billingos.benefitGrants.list({ customerId: 'c 1', isGranted: true, pageSize: 2 });
    assert.deepEqual(page.data, []);
    const url = server.requests[0]!.url;
    assert.equal(url.pathname, '/v1/benefit-grants');
    assert.deepEqual(Object.fromEntries(url.searchParams), {
      customer_id: 'c 1',
      is_granted: 'true',
      page_size: '2',
    });
  });

  test('update sends the mask of the fields given, in snake_case', async () => {
    const server = await startServer({ json: CUSTOMER });
    servers.push(server);
    const { billingos } = clientOf(server);
    await billingos.customers.update(CUSTOMER.id, { name: 'Countess', billingAddress: { country: 'GB' } });
    await billingos.customers.update(CUSTOMER.id, { name: 'x' }, { updateMask: ['name', 'externalId'] });
    const [first, second] = server.requests;
    assert.equal(first?.method, 'PATCH');
    assert.equal(first?.url.pathname, `/v1/customers/${CUSTOMER.id}`);
    assert.equal(first?.url.searchParams.get('update_mask'), 'name,billing_address');
    assert.deepEqual(first?.body, { name: 'Countess', billing_address: { country: 'GB' } });
    assert.equal(second?.url.searchParams.get('update_mask'), 'name,external_id');
    assert.match(String(first?.headers['idempotency-key']), /^[0-9a-f-]{36}$/);
  });

  test('path parameters are encoded; an empty id is refused before any request', async () => {
    const server = await startServer({ json: CUSTOMER });
    servers.push(server);
    const { billingos } = clientOf(server);
    await billingos.customers.getByExternalId('user:1/a b');
    assert.equal(server.requests[0]?.url.pathname, '/v1/customers/external/user%3A1%2Fa%20b');
    await assert.rejects(billingos.customers.get(''), TypeError);
    assert.equal(server.requests.length, 1);
  });

  test('every resource calls its documented route', async () => {
    const server = await startServer((r) => {
      const p = r.url.pathname;
      if (p.endsWith('/products')) return { json: { products: [{ id: 'p1', public_metadata: { A_b: 1 } }] } };
      if (p === '/v1/subscriptions' && r.method === 'GET') return { json: { subscriptions: [] } };
      return { json: { id: 'x1', allowed: true, cancel_at_period_end: true, token: 'bcs_1' } };
    });
    servers.push(server);
    const { billingos } = clientOf(server);
    const products = await billingos.products.list({ archived: false });
    assert.deepEqual(products.data[0]?.publicMetadata, { A_b: 1 });
    await billingos.products.get('p1');
    await billingos.subscriptions.create({
      subscription: { customerId: 'c1', productId: 'p1', currency: 'USD', metadata: { my_key: 1 } },
      skipTrial: true,
    });
    await billingos.subscriptions.get('s1');
    await billingos.subscriptions.list({ customerId: 'c1', status: 'SUBSCRIPTION_STATUS_ACTIVE' });
    const canceled = await billingos.subscriptions.cancel('s1', { immediately: true, comment: 'bye' });
    assert.equal(canceled.cancelAtPeriodEnd, true);
    const entitlement = await billingos.entitlements.check({ externalCustomerId: 'u1', feature: 'sso' });
    assert.equal(entitlement.allowed, true);
    const session = await billingos.customerSessions.create({ customerId: 'c1', ttlSeconds: 600 });
    assert.equal(session.token, 'bcs_1');
    const seen = server.requests.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`);
    assert.deepEqual(seen, [
      'GET /v1/products?archived=false',
      'GET /v1/products/p1',
      'POST /v1/subscriptions',
      'GET /v1/subscriptions/s1',
      'GET /v1/subscriptions?customer_id=c1&status=SUBSCRIPTION_STATUS_ACTIVE',
      'POST /v1/subscriptions/s1/cancel',
      'GET /v1/entitlements/check?external_customer_id=u1&feature=sso',
      'POST /v1/customer-sessions',
    ]);
    assert.deepEqual(server.requests[2]?.body, {
      subscription: { customer_id: 'c1', product_id: 'p1', currency: 'USD', metadata: { my_key: 1 } },
      skip_trial: true,
    });
    assert.deepEqual(server.requests[5]?.body, { immediately: true, comment: 'bye' });
    assert.deepEqual(server.requests[7]?.body, { customer_id: 'c1', ttl_seconds: 600 });
    const mutations = server.requests.filter((r) => r.method === 'POST');
    assert.ok(mutations.every((r) => typeof r.headers['idempotency-key'] === 'string'));
  });

  test('toWire/fromWire: nested arrays converted, free-form maps kept', () => {
    const wire = {
      benefit_grants: [{ custom: { properties: { Some_Key: { inner_key: 1 } } }, is_granted: true }],
      next_page_token: 't',
    };
    const sdk = fromWire(wire);
    assert.deepEqual(sdk, {
      benefitGrants: [{ custom: { properties: { Some_Key: { inner_key: 1 } } }, isGranted: true }],
      nextPageToken: 't',
    });
    assert.deepEqual(toWire(sdk), wire);
  });
});
