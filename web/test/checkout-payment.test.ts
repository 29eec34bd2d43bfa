import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, type CheckoutApi } from '../src/checkout/api.js';
import { confirmAndWait, declineMessage, waitForOutcome } from '../src/checkout/payment.js';
import type { PublicCheckoutSession, SessionStatus } from '../src/checkout/session.js';
import { statusOf } from '../src/shared/status.js';

const at = (status: SessionStatus, extra: Partial<PublicCheckoutSession> = {}): PublicCheckoutSession => ({
  id: 's',
  organization_id: 'o',
  status,
  ...extra,
});

/** An API whose GETs answer `reads` in turn, and a clock the sleeps move. */
function fake(confirmed: PublicCheckoutSession, reads: (PublicCheckoutSession | Error)[]) {
  let clock = 0;
  const log: string[] = [];
  const api = {
    confirm: async () => {
      log.push('confirm');
      return confirmed;
    },
    get: async () => {
      log.push('get');
      const next = reads.shift() ?? at('CHECKOUT_SESSION_STATUS_PROCESSING');
      if (next instanceof Error) throw next;
      return next;
    },
  } as unknown as CheckoutApi;
  const waiting = {
    sleep: async (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
  return { api, waiting, log, elapsed: () => clock };
}

test('nothing due now: completed at confirmation, no waiting', async () => {
  const { api, waiting, log } = fake(at('CHECKOUT_SESSION_STATUS_COMPLETED', { success_url: 'https://shop/thanks' }), []);
  const outcome = await confirmAndWait(api, 'bcx_x', waiting);
  assert.equal(outcome.kind, 'completed');
  assert.deepEqual(log, ['confirm']);
});

test('processing, then completed: read every second', async () => {
  const f = fake(at('CHECKOUT_SESSION_STATUS_PROCESSING'), [
    at('CHECKOUT_SESSION_STATUS_PROCESSING'),
    new ApiError(statusOf(0, null)), // the network, once: tried again
    at('CHECKOUT_SESSION_STATUS_COMPLETED'),
  ]);
  const outcome = await confirmAndWait(f.api, 'bcx_x', f.waiting);
  assert.equal(outcome.kind, 'completed');
  assert.deepEqual(f.log, ['confirm', 'get', 'get', 'get']);
  assert.equal(f.elapsed(), 3000);
});

test('a declined first payment: open again, with the decline to show', async () => {
  const declined = at('CHECKOUT_SESSION_STATUS_OPEN', {
    payment_error: { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' },
  });
  const f = fake(at('CHECKOUT_SESSION_STATUS_PROCESSING'), [declined]);
  const outcome = await confirmAndWait(f.api, 'bcx_x', f.waiting);
  assert.equal(outcome.kind, 'declined');
  assert.equal(outcome.kind === 'declined' && outcome.message, 'Your card was declined. Try another card.');
  assert.equal(
    declineMessage(at('CHECKOUT_SESSION_STATUS_OPEN', { payment_error: { decline_code: 'insufficient_funds' } })),
    'The card has insufficient funds. Try another card.',
  );
  assert.equal(declineMessage(at('CHECKOUT_SESSION_STATUS_OPEN')), 'The payment was declined. Try another card.');
});

test('expired while waiting; and the page stops waiting after a minute', async () => {
  const expired = fake(at('CHECKOUT_SESSION_STATUS_PROCESSING'), [at('CHECKOUT_SESSION_STATUS_EXPIRED')]);
  assert.equal((await confirmAndWait(expired.api, 'bcx_x', expired.waiting)).kind, 'expired');
  const slow = fake(at('CHECKOUT_SESSION_STATUS_PROCESSING'), []);
  const outcome = await waitForOutcome(slow.api, 'bcx_x', slow.waiting, at('CHECKOUT_SESSION_STATUS_PROCESSING'));
  assert.equal(outcome.kind, 'pending');
  assert.equal(slow.elapsed(), 60_000);
  assert.equal(slow.log.length, 60);
});

test('an error other than the network ends the waiting', async () => {
  const gone = new ApiError(statusOf(404, { details: [{ '@type': 'google.rpc.ErrorInfo', reason: 'CHECKOUT_SESSION_NOT_FOUND' }] }));
  const f = fake(at('CHECKOUT_SESSION_STATUS_PROCESSING'), [gone]);
  await assert.rejects(confirmAndWait(f.api, 'bcx_x', f.waiting), (error) => error === gone);
});

test('a payment the bank wants authenticated: Stripe.js confirms it once, then the outcome is read', async () => {
  const action = at('CHECKOUT_SESSION_STATUS_PROCESSING', {
    payment: { publishable_key: 'pk_x', stripe_js_url: 'http://stripe/v3/', setup_intent_client_secret: '', payment_intent_client_secret: 'pi_1_secret_2' },
  });
  const f = fake(action, [action, action, at('CHECKOUT_SESSION_STATUS_COMPLETED')]);
  const authenticated: string[] = [];
  const outcome = await confirmAndWait(f.api, 'bcx_x', {
    ...f.waiting,
    authenticate: async (secret) => {
      authenticated.push(secret);
    },
  });
  assert.equal(outcome.kind, 'completed');
  assert.deepEqual(authenticated, ['pi_1_secret_2']);
  assert.deepEqual(f.log, ['confirm', 'get', 'get', 'get']);
});

test('an authentication that fails leaves the outcome to the server (a decline)', async () => {
  const action = at('CHECKOUT_SESSION_STATUS_PROCESSING', {
    payment: { publishable_key: 'pk_x', stripe_js_url: 'http://stripe/v3/', setup_intent_client_secret: '', payment_intent_client_secret: 'pi_3_secret_4' },
  });
  const declined = at('CHECKOUT_SESSION_STATUS_OPEN', { payment_error: { code: 'payment_intent_authentication_failure' } });
  const f = fake(action, [declined]);
  const outcome = await confirmAndWait(f.api, 'bcx_x', {
    ...f.waiting,
    authenticate: async () => {
      throw new Error('the customer closed the window');
    },
  });
  assert.equal(outcome.kind, 'declined');
});
