import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fragmentOf, portalPath, routeOf, searchOf, viewOf } from '../src/portal/route.js';

const ORG = '019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6d';
const ROOT = new URL('https://billing.example/');
const PREFIXED = new URL('https://billing.example/billing/');
const SIGN_IN = `bcm_${'Ab-_9'.repeat(8)}`; // 40 characters after the prefix
const SESSION = `bcs_${'Zy_-0'.repeat(8)}`;

test('the portal and its sign-in landing, under the gateway root', () => {
  assert.deepEqual(routeOf(new URL(`portal/${ORG}`, ROOT), ROOT), { organizationId: ORG, signIn: false });
  assert.deepEqual(routeOf(new URL(`portal/${ORG}/sign-in`, ROOT), ROOT), { organizationId: ORG, signIn: true });
  assert.deepEqual(routeOf(new URL(`portal/${ORG}?view=orders#session=x`, PREFIXED), PREFIXED), {
    organizationId: ORG,
    signIn: false,
  });
});

test('any other path is no portal', () => {
  for (const path of [
    'portal',
    `portal/${ORG}/`,
    `portal/${ORG}/sign-in/`,
    `portal/${ORG}/orders`,
    `portal/${ORG.toUpperCase()}`,
    `portal/acme`,
    `checkout/${ORG}`,
  ]) {
    assert.equal(routeOf(new URL(path, ROOT), ROOT), null, path);
  }
  // Another origin, or outside the prefix.
  assert.equal(routeOf(new URL(`https://other.example/portal/${ORG}`), ROOT), null);
  assert.equal(routeOf(new URL(`https://billing.example/portal/${ORG}`), PREFIXED), null);
});

test("the fragment's tokens, when they look like tokens", () => {
  assert.deepEqual(fragmentOf(`#token=${SIGN_IN}`), { signInToken: SIGN_IN, sessionToken: null });
  assert.deepEqual(fragmentOf(`#session=${SESSION}`), { signInToken: null, sessionToken: SESSION });
  assert.deepEqual(fragmentOf(''), { signInToken: null, sessionToken: null });
  // The wrong kind of token in each place, or something else entirely.
  assert.deepEqual(fragmentOf(`#token=${SESSION}&session=${SIGN_IN}`), { signInToken: null, sessionToken: null });
  assert.deepEqual(fragmentOf('#token=bcm_short'), { signInToken: null, sessionToken: null });
  assert.deepEqual(fragmentOf('#session=bcs_<script>alert(1)</script>xxxxxxxxxx'), {
    signInToken: null,
    sessionToken: null,
  });
});

test("the portal's own path keeps the view and drops the sign-in segment", () => {
  assert.equal(portalPath(ROOT, ORG), `/portal/${ORG}`);
  assert.equal(portalPath(PREFIXED, ORG, '?view=orders'), `/billing/portal/${ORG}?view=orders`);
});

test('views by query', () => {
  assert.equal(viewOf(''), 'subscriptions');
  assert.equal(viewOf('?view=orders'), 'orders');
  assert.equal(viewOf('?view=payment-methods'), 'payment-methods');
  assert.equal(viewOf('?view=../../x'), 'subscriptions');
  assert.equal(searchOf('subscriptions'), '');
  assert.equal(searchOf('benefits'), '?view=benefits');
});
