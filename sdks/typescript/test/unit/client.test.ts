import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BillingOS, DEFAULT_TIMEOUT_MS, SERVER_URL_ENV, isLoopbackHost, resolveServerURL } from '@billingos/sdk';

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

const NO_ENV = {
  BILLINGOS_URL: undefined,
  BILLINGOS_SANDBOX_URL: undefined,
  BILLINGOS_PRODUCTION_URL: undefined,
  BILLINGOS_API_KEY: undefined,
  BILLINGOS_ACCESS_TOKEN: undefined,
};

describe('client options', () => {
  test('no URL at all is an error, never a hosted default', () => {
    withEnv(NO_ENV, () => {
      assert.throws(() => new BillingOS({ accessToken: 'k' }), /set BILLINGOS_URL or pass serverURL/);
      assert.throws(() => resolveServerURL(), /set BILLINGOS_URL or pass serverURL/);
    });
  });

  test('server names read the URL of your own suite from their environment variable', () => {
    assert.deepEqual(SERVER_URL_ENV, {
      production: 'BILLINGOS_PRODUCTION_URL',
      sandbox: 'BILLINGOS_SANDBOX_URL',
    });
    withEnv(NO_ENV, () => {
      assert.throws(() => new BillingOS({ accessToken: 'k', server: 'sandbox' }), /BILLINGOS_SANDBOX_URL/);
      assert.throws(() => new BillingOS({ accessToken: 'k', server: 'production' }), /BILLINGOS_PRODUCTION_URL/);
    });
    withEnv(
      {
        ...NO_ENV,
        BILLINGOS_SANDBOX_URL: 'https://billing-sandbox.example.com/',
        BILLINGOS_PRODUCTION_URL: 'https://billing.example.com',
      },
      () => {
        assert.equal(
          new BillingOS({ accessToken: 'k', server: 'sandbox' }).serverURL,
          'https://billing-sandbox.example.com',
        );
        assert.equal(new BillingOS({ accessToken: 'k', server: 'production' }).serverURL, 'https://billing.example.com');
      },
    );
  });

  test('precedence: serverURL, then server, then BILLINGOS_URL', () => {
    withEnv(
      { ...NO_ENV, BILLINGOS_URL: 'http://127.0.0.1:8080/', BILLINGOS_SANDBOX_URL: 'https://sandbox.example.com' },
      () => {
        assert.equal(resolveServerURL(), 'http://127.0.0.1:8080');
        assert.equal(resolveServerURL({ server: 'sandbox' }), 'https://sandbox.example.com');
        assert.equal(
          resolveServerURL({ server: 'sandbox', serverURL: 'https://billing.example.com' }),
          'https://billing.example.com',
        );
        // A named server whose variable is unset is an error, not BILLINGOS_URL.
        assert.throws(() => resolveServerURL({ server: 'production' }), /BILLINGOS_PRODUCTION_URL/);
      },
    );
  });

  test('https, or http on loopback only', () => {
    withEnv(NO_ENV, () => {
      for (const url of [
        'http://127.0.0.1:8080',
        'http://127.5.6.7',
        'http://localhost:8080',
        'http://[::1]:8080',
        'https://billing.example.com',
        'https://10.0.0.5:8443',
      ]) {
        assert.equal(resolveServerURL({ serverURL: url }), url);
      }
      for (const url of [
        'http://billing.example.com',
        'http://10.0.0.5:8080',
        'http://128.0.0.1',
        'http://localhost.example.com',
        'http://127.0.0.1.example.com',
        'http://[::2]:8080',
      ]) {
        assert.throws(() => resolveServerURL({ serverURL: url }), /serverURL must use https:\/\//, url);
        withEnv({ BILLINGOS_URL: url, BILLINGOS_SANDBOX_URL: url }, () => {
          assert.throws(() => resolveServerURL(), /BILLINGOS_URL must use https:\/\//, url);
          assert.throws(() => resolveServerURL({ server: 'sandbox' }), /BILLINGOS_SANDBOX_URL must use https:\/\//);
        });
      }
      for (const url of ['ftp://billing.example.com', 'billing.example.com']) {
        assert.throws(() => resolveServerURL({ serverURL: url }), /serverURL/);
      }
      assert.equal(isLoopbackHost('LOCALHOST'), true);
      assert.equal(isLoopbackHost('127.999.0.1'), false);
    });
  });

  test('the key: BILLINGOS_API_KEY, with BILLINGOS_ACCESS_TOKEN as a fallback', async () => {
    withEnv({ ...NO_ENV, BILLINGOS_URL: 'http://127.0.0.1:8080' }, () => {
      assert.throws(() => new BillingOS(), /set BILLINGOS_API_KEY/);
    });
    const seen: string[] = [];
    const fetch = async (_input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Headers(init?.headers).get('authorization') ?? '');
      return new Response('{}', { headers: { 'content-type': 'application/json' } });
    };
    const clients: BillingOS[] = [];
    const local = { ...NO_ENV, BILLINGOS_URL: 'http://127.0.0.1:8080' };
    withEnv({ ...local, BILLINGOS_API_KEY: 'bos_key', BILLINGOS_ACCESS_TOKEN: 'bos_old' }, () => {
      clients.push(new BillingOS({ fetch }));
    });
    withEnv({ ...local, BILLINGOS_ACCESS_TOKEN: 'bos_old' }, () => {
      clients.push(new BillingOS({ fetch }));
    });
    for (const client of clients) await client.customers.get('c1');
    assert.deepEqual(seen, ['Bearer bos_key', 'Bearer bos_old']);
  });

  test('the default timeout is 30 s, as in the Python SDK', () => {
    assert.equal(DEFAULT_TIMEOUT_MS, 30_000);
    const billingos = new BillingOS({ accessToken: 'k', serverURL: 'https://billing.example.com' });
    assert.equal(billingos.timeoutMs, 30_000);
    assert.equal(
      new BillingOS({ accessToken: 'k', serverURL: 'https://billing.example.com', timeoutMs: 5 }).timeoutMs,
      5,
    );
  });

  test('an unknown server name is refused', () => {
    withEnv(NO_ENV, () => {
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
      process.env['BILLINGOS_API_KEY'] ??= 'bos_example';
      const billingos = new BillingOS({
        accessToken: process.env.BILLINGOS_API_KEY,
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

describe('access token', () => {
  test('a token that is no API key is refused without quoting it', () => {
    for (const token of ['bos_abc\r\nX-Injected: 1', 'bos_abc def', 'bos_caf\u00e9']) {
      withEnv(NO_ENV, () => {
        assert.throws(
          () => new BillingOS({ accessToken: token, serverURL: 'https://billing.example.com' }),
          (error: unknown) =>
            error instanceof TypeError &&
            /not an API key/.test(error.message) &&
            !error.message.includes('bos_'),
        );
      });
    }
  });
});
