import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
  AuthenticationError,
  BillingOSError,
  ConflictError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ServerError,
} from '@billingos/sdk';

import { clientOf, startServer, statusBody, type TestServer } from '../helpers.js';

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function failWith(reply: Parameters<typeof startServer>[0]): Promise<unknown> {
  const server = await startServer(reply);
  servers.push(server);
  const { billingos } = clientOf(server, { maxRetries: 0 });
  return billingos.customers.create({ email: 'x' }).then(
    () => assert.fail('no error'),
    (e: unknown) => e,
  );
}

describe('errors', () => {
  test('a 400 carries the google.rpc.Status, its reason and field violations', async () => {
    // The README's example answer, as the gateway sends it.
    const body = {
      code: 3,
      message: 'customer.email: must be a valid email address',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'INVALID_ARGUMENT',
          domain: 'billingos.dev',
          metadata: { field: 'customer.email' },
        },
        {
          '@type': 'type.googleapis.com/google.rpc.BadRequest',
          field_violations: [{ field: 'customer.email', description: 'must be a valid email address' }],
        },
      ],
    };
    const error = await failWith({ status: 400, json: body, headers: { 'x-request-id': 'abc-123' } });
    assert.ok(error instanceof InvalidRequestError);
    assert.ok(error instanceof BillingOSError);
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'InvalidRequestError');
    assert.equal(error.status, 400);
    assert.equal(error.code, 3);
    assert.equal(error.message, 'customer.email: must be a valid email address');
    assert.equal(error.reason, 'INVALID_ARGUMENT');
    assert.equal(error.domain, 'billingos.dev');
    assert.deepEqual(error.metadata, { field: 'customer.email' });
    assert.deepEqual(error.fieldViolations, [
      { field: 'customer.email', description: 'must be a valid email address' },
    ]);
    assert.equal(error.requestId, 'abc-123');
    assert.deepEqual(error.rpcStatus, body);
    assert.deepEqual(error.details, body.details);
  });

  for (const [status, code, reason, Kind] of [
    [401, 16, 'API_KEY_INVALID', AuthenticationError],
    [403, 7, 'SCOPE_MISSING', PermissionDeniedError],
    [404, 5, 'CUSTOMER_NOT_FOUND', NotFoundError],
    [409, 6, 'EXTERNAL_ID_ALREADY_EXISTS', ConflictError],
    [429, 8, 'RATE_LIMITED', RateLimitError],
    [500, 13, 'INTERNAL', ServerError],
    [503, 14, 'UNAVAILABLE', ServerError],
    [412, 9, 'FAILED_PRECONDITION', BillingOSError],
  ] as const) {
    test(`${status} is a ${Kind.name}`, async () => {
      const error = await failWith({ status, json: statusBody(code, reason, `it is ${reason}`) });
      assert.ok(error instanceof Kind, String(error));
      assert.ok(error instanceof BillingOSError);
      assert.equal(error.status, status);
      assert.equal(error.code, code);
      assert.equal(error.reason, reason);
      assert.equal(error.message, `it is ${reason}`);
      assert.match(String(error.requestId), /^req-\d+$/);
    });
  }

  test('a body that is not a google.rpc.Status still makes a typed error', async () => {
    const error = await failWith({ status: 502, text: 'upstream went away' });
    assert.ok(error instanceof ServerError);
    assert.equal(error.code, undefined);
    assert.equal(error.reason, undefined);
    assert.deepEqual(error.fieldViolations, []);
    assert.equal(error.message, 'upstream went away');
  });
});
