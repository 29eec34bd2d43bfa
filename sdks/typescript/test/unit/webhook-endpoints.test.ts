// billingos.webhookEndpoints: the routes, bodies, masks and idempotency keys
// it sends, and its camelCase answers, against a local HTTP server.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
  InvalidRequestError,
  type Page,
  type WebhookDelivery,
  type WebhookDeliveryStatus,
  type WebhookEndpoint,
} from '@billingos/sdk';

import { clientOf, startServer, statusBody, type TestServer } from '../helpers.js';

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function serve(...replies: Parameters<typeof startServer>): Promise<TestServer> {
  const server = await startServer(...replies);
  servers.push(server);
  return server;
}

const ENDPOINT = {
  id: 'we1',
  organization_id: 'o1',
  url: 'https://example.com/hooks',
  description: 'orders',
  event_types: ['customer.created', 'order.paid'],
  secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=',
  previous_secret_expire_time: '2026-11-25T10:42:12Z',
  create_time: '2026-11-24T10:42:12.482361Z',
  update_time: '2026-11-24T10:42:12.482361Z',
};
const DELIVERY = {
  id: 'd1',
  endpoint_id: 'we1',
  event_id: 'ev1',
  event_type: 'customer.created',
  status: 'WEBHOOK_DELIVERY_STATUS_RETRYING',
  attempts: 2,
  last_response_status: 503,
  last_error: 'HTTP 503',
  next_attempt_time: '2026-11-24T10:43:00Z',
  sequence: '42',
};

describe('webhookEndpoints', () => {
  test('create sends the wire names and returns the secret, camelCased', async () => {
    const server = await serve({ json: ENDPOINT });
    const { billingos } = clientOf(server);
    const endpoint: WebhookEndpoint = await billingos.webhookEndpoints.create(
      { url: 'https://example.com/hooks', description: 'orders', eventTypes: ['order.paid', 'customer.created'] },
      { idempotencyKey: 'hook-1' },
    );
    assert.equal(endpoint.secret, ENDPOINT.secret);
    assert.deepEqual(endpoint.eventTypes, ['customer.created', 'order.paid']);
    assert.equal(endpoint.organizationId, 'o1');
    assert.equal(endpoint.previousSecretExpireTime, '2026-11-25T10:42:12Z');
    const [create] = server.requests;
    assert.equal(`${create?.method} ${create?.url.pathname}`, 'POST /v1/webhook-endpoints');
    assert.deepEqual(create?.body, {
      url: 'https://example.com/hooks',
      description: 'orders',
      event_types: ['order.paid', 'customer.created'],
    });
    assert.equal(create?.headers['idempotency-key'], 'hook-1');
  });

  test('get, update (mask from the keys given), delete, rotateSecret, redeliver', async () => {
    const server = await serve((r) => ({ json: r.url.pathname.includes('/deliveries/') ? DELIVERY : ENDPOINT }));
    const { billingos } = clientOf(server);
    await billingos.webhookEndpoints.get('we1');
    await billingos.webhookEndpoints.update('we1', { description: '', eventTypes: [] });
    await billingos.webhookEndpoints.update('we1', { disabled: false });
    await billingos.webhookEndpoints.update('we1', {}, { updateMask: ['url'] });
    await billingos.webhookEndpoints.delete('we/1');
    await billingos.webhookEndpoints.rotateSecret('we1', { graceSeconds: 3600 });
    await billingos.webhookEndpoints.rotateSecret('we1');
    const delivery: WebhookDelivery = await billingos.webhookEndpoints.redeliver('we1', 'd1');
    assert.equal(delivery.sequence, '42'); // int64: a string, as on the wire
    assert.equal(delivery.lastResponseStatus, 503);
    const status: WebhookDeliveryStatus | undefined = delivery.status;
    assert.equal(status, 'WEBHOOK_DELIVERY_STATUS_RETRYING');
    const seen = server.requests.map((r) => [`${r.method} ${r.url.pathname}${r.url.search}`, r.body]);
    assert.deepEqual(seen, [
      ['GET /v1/webhook-endpoints/we1', undefined],
      ['PATCH /v1/webhook-endpoints/we1?update_mask=description%2Cevent_types', { description: '', event_types: [] }],
      ['PATCH /v1/webhook-endpoints/we1?update_mask=disabled', { disabled: false }],
      ['PATCH /v1/webhook-endpoints/we1?update_mask=url', {}],
      ['DELETE /v1/webhook-endpoints/we%2F1', undefined],
      ['POST /v1/webhook-endpoints/we1:rotate-secret', { grace_seconds: 3600 }],
      ['POST /v1/webhook-endpoints/we1:rotate-secret', {}],
      ['POST /v1/webhook-endpoints/we1/deliveries/d1:redeliver', {}],
    ]);
    assert.equal(server.requests[0]?.headers['idempotency-key'], undefined);
    const keys = server.requests.slice(1).map((r) => r.headers['idempotency-key']);
    assert.equal(new Set(keys).size, keys.length);
  });

  test('a mutation is retried with one Idempotency-Key', async () => {
    const server = await serve({ status: 503, json: statusBody(14, 'UNAVAILABLE', 'x') }, { json: ENDPOINT });
    const { billingos } = clientOf(server);
    const rotated = await billingos.webhookEndpoints.rotateSecret('we1', { graceSeconds: 60 });
    assert.equal(rotated.secret, ENDPOINT.secret);
    const [first, retry] = server.requests;
    assert.ok(first?.headers['idempotency-key']);
    assert.equal(first?.headers['idempotency-key'], retry?.headers['idempotency-key']);
  });

  test('list and listDeliveries page', async () => {
    const server = await serve(
      { json: { webhook_endpoints: [{ ...ENDPOINT, id: 'we2' }], next_page_token: 't' } },
      { json: { webhook_endpoints: [ENDPOINT] } },
      { json: { webhook_deliveries: [DELIVERY], next_page_token: 'u' } },
      { json: { webhook_deliveries: [{ ...DELIVERY, id: 'd0' }], next_page_token: '' } },
    );
    const { billingos } = clientOf(server);
    const endpoints = await billingos.webhookEndpoints.list({ pageSize: 1 }).toArray();
    assert.deepEqual(endpoints.map((e) => e.id), ['we2', 'we1']);
    const page: Page<WebhookDelivery> = await billingos.webhookEndpoints.listDeliveries('we1', { pageSize: 1 });
    assert.equal(page.data[0]?.eventType, 'customer.created');
    assert.equal((await page.getNextPage()).data[0]?.id, 'd0');
    assert.deepEqual(
      server.requests.map((r) => `${r.url.pathname}${r.url.search}`),
      [
        '/v1/webhook-endpoints?page_size=1',
        '/v1/webhook-endpoints?page_size=1&page_token=t',
        '/v1/webhook-endpoints/we1/deliveries?page_size=1',
        '/v1/webhook-endpoints/we1/deliveries?page_size=1&page_token=u',
      ],
    );
  });

  test('a refused URL is an InvalidRequestError naming webhook_endpoint.url', async () => {
    const server = await serve({
      status: 400,
      json: statusBody(3, 'WEBHOOK_URL_INVALID', 'must be https', ['webhook_endpoint.url']),
    });
    const { billingos } = clientOf(server);
    await assert.rejects(billingos.webhookEndpoints.create({ url: 'ftp://example.com/hooks' }), (error: unknown) => {
      assert.ok(error instanceof InvalidRequestError);
      assert.equal(error.reason, 'WEBHOOK_URL_INVALID');
      assert.deepEqual(error.fieldViolations.map((v) => v.field), ['webhook_endpoint.url']);
      return true;
    });
    assert.equal(server.requests.length, 1);
  });

  test('an empty id is refused before any request', async () => {
    const server = await serve({ json: ENDPOINT });
    const { billingos } = clientOf(server);
    await assert.rejects(billingos.webhookEndpoints.get(''), TypeError);
    await assert.rejects(billingos.webhookEndpoints.redeliver('we1', ''), TypeError);
    assert.throws(() => billingos.webhookEndpoints.listDeliveries(''), TypeError);
    assert.equal(server.requests.length, 0);
  });
});
