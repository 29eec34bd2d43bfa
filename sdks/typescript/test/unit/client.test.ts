import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BillingOS, SERVERS, resolveServerURL } from '@billingos/sdk';

function withEnv(env: Record<string, string | undefined>, run: () => void): void {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  try {
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    run();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('client options', () => {
  test('server names map to the documented URLs', () => {
    withEnv({ BILLINGOS_URL: undefined }, () => {
      assert.equal(SERVERS.production, 'https://api.billingos.dev');
      assert.equal(SERVERS.sandbox, 'https://sandbox-api.billingos.dev');
      assert.equal(new BillingOS({ accessToken: 'k', server: 'sandbox' }).serverURL, SERVERS.sandbox);
      assert.equal(new BillingOS({ accessToken: 'k' }).serverURL, SERVERS.production);
    });
  });

  test('serverURL, then BILLINGOS_URL, win over server', () => {
    withEnv({ BILLINGOS_URL: 'http://127.0.0.1:8080/' }, () => {
      assert.equal(resolveServerURL({ server: 'sandbox' }), 'http://127.0.0.1:8080');
      assert.equal(
        resolveServerURL({ server: 'sandbox', serverURL: 'https://billing.example.com' }),
        'https://billing.example.com',
      );
    });
  });

  test('the access token comes from the options or the environment', () => {
    withEnv({ BILLINGOS_ACCESS_TOKEN: undefined, BILLINGOS_API_KEY: undefined }, () => {
      assert.throws(() => new BillingOS(), /BILLINGOS_ACCESS_TOKEN/);
    });
    withEnv({ BILLINGOS_ACCESS_TOKEN: 'from-env' }, () => {
      assert.ok(new BillingOS());
    });
  });

  test('an unknown server name is refused', () => {
    withEnv({ BILLINGOS_URL: undefined }, () => {
      // @ts-expect-error not a server name
      assert.throws(() => new BillingOS({ accessToken: 'k', server: 'staging' }), /server must be one of/);
    });
  });
});

describe("the owner's surface", () => {
  test('the README example compiles and runs against a local server', async () => {
    const { startServer, CUSTOMER } = await import('../helpers.js');
    const server = await startServer((r) =>
      r.url.pathname === '/v1/customers'
        ? { json: CUSTOMER }
        : r.url.pathname === '/v1/events/ingest'
          ? { json: { inserted: 1, duplicates: 0 } }
          : { json: { benefit_grants: [{ id: 'g1', customer_id: CUSTOMER.id, is_granted: true }] } },
    );
    try {
      process.env['BILLINGOS_ACCESS_TOKEN'] ??= 'bos_example';
      const billingos = new BillingOS({
        accessToken: process.env.BILLINGOS_ACCESS_TOKEN,
        server: 'sandbox',
        serverURL: server.url,
      });
      const customer = await billingos.customers.create({
        organizationId: 'org_...',
        email: 'a@b.c',
        externalId: 'user_1',
      });
      await billingos.events.ingest({ events: [{ name: 'api_call', customerId: customer.id }] });
      const grants = await billingos.benefitGrants.list({ customerId: customer.id, isGranted: true });
      assert.equal(grants.data[0]?.isGranted, true);
      assert.deepEqual(
        server.requests.map((r) => `${r.method} ${r.url.pathname}`),
        ['POST /v1/customers', 'POST /v1/events/ingest', 'GET /v1/benefit-grants'],
      );
    } finally {
      await server.close();
    }
  });
});
