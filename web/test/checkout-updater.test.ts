import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../src/checkout/api.js';
import type { PublicCheckoutSession, SessionChanges } from '../src/checkout/session.js';
import { SessionUpdater } from '../src/checkout/updater.js';
import { statusOf } from '../src/shared/status.js';

interface Pending {
  changes: SessionChanges;
  resolve: (session: PublicCheckoutSession) => void;
  reject: (error: unknown) => void;
}

/** A fake PATCH whose answers the test gives, one by one. */
function fakeServer() {
  const calls: Pending[] = [];
  const send = (changes: SessionChanges) =>
    new Promise<PublicCheckoutSession>((resolve, reject) => calls.push({ changes, resolve, reject }));
  return { calls, send };
}

const session = (price_id: string): PublicCheckoutSession => ({
  id: 's',
  organization_id: 'o',
  status: 'CHECKOUT_SESSION_STATUS_OPEN',
  price_id,
});

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('one request at a time, in order, waiting changes of the same fields merged', async () => {
  const server = fakeServer();
  const saved: string[] = [];
  const updater = new SessionUpdater(server.send, {
    saved: (answer) => saved.push(answer.price_id ?? ''),
    refused: () => assert.fail('nothing is refused'),
  });
  updater.submit({ price_id: 'a' });
  updater.submit({ customer_email: 'x@example.com' });
  updater.submit({ customer_email: 'ada@example.com' }); // replaces the waiting one
  updater.submit({ price_id: 'b' });
  updater.submit({});
  assert.equal(server.calls.length, 1);
  assert.equal(updater.pending, 3);
  server.calls[0]!.resolve(session('a'));
  await tick();
  assert.equal(server.calls.length, 2);
  assert.deepEqual(server.calls[1]!.changes, { customer_email: 'ada@example.com' });
  server.calls[1]!.resolve(session('a'));
  await tick();
  server.calls[2]!.resolve(session('b'));
  await updater.idle();
  assert.deepEqual(
    server.calls.map((call) => call.changes),
    [{ price_id: 'a' }, { customer_email: 'ada@example.com' }, { price_id: 'b' }],
  );
  assert.deepEqual(saved, ['a', 'a', 'b']);
  assert.equal(updater.pending, 0);
});

test('a refused change does not take the others with it', async () => {
  const server = fakeServer();
  const refused: SessionChanges[] = [];
  const saved: SessionChanges[] = [];
  const updater = new SessionUpdater(server.send, {
    saved: (_answer, changes) => saved.push(changes),
    refused: (error, changes) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status.reason, 'DISCOUNT_NOT_ALLOWED');
      refused.push(changes);
    },
  });
  updater.submit({ discount_code: 'NOPE' });
  updater.submit({ customer_name: 'Ada' });
  const error = new ApiError(
    statusOf(400, { details: [{ '@type': 'google.rpc.ErrorInfo', reason: 'DISCOUNT_NOT_ALLOWED' }] }),
  );
  server.calls[0]!.reject(error);
  await tick();
  server.calls[1]!.resolve(session('a'));
  await updater.idle();
  assert.deepEqual(refused, [{ discount_code: 'NOPE' }]);
  assert.deepEqual(saved, [{ customer_name: 'Ada' }]);
});

test('a failure that is not an API error is reported as the network', async () => {
  const updater = new SessionUpdater(() => Promise.reject(new TypeError('boom')), {
    saved: () => assert.fail('not saved'),
    refused: (error) => assert.equal(error.status.httpStatus, 0),
  });
  updater.submit({ seats: 3 });
  await updater.idle();
});
