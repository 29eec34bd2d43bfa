import assert from 'node:assert/strict';
import { test } from 'node:test';
import { routeOf, sessionPath } from '../src/checkout/route.js';

const ORG = '019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6d';
const LINK = '019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6e';
const PRICE = '019b1c2d-3e4f-7a8b-9c0d-1e2f3a4b5c6f';
const SECRET = `bcx_${'A'.repeat(21)}-_${'z'.repeat(20)}`; // 43 characters after the prefix
const ROOT = new URL('https://billing.example/');

test("a link's URL names the organization and the link, and a price to preselect", () => {
  assert.deepEqual(routeOf(new URL(`checkout/${ORG}/${LINK}`, ROOT), ROOT), {
    kind: 'link',
    organizationId: ORG,
    linkId: LINK,
    priceId: null,
  });
  const withPrice = new URL(`checkout/${ORG}/${LINK}?price_id=${PRICE}`, ROOT);
  assert.equal((routeOf(withPrice, ROOT) as { priceId: string }).priceId, PRICE);
  // A price that is not an id is ignored, not sent.
  const junk = new URL(`checkout/${ORG}/${LINK}?price_id=../x`, ROOT);
  assert.equal((routeOf(junk, ROOT) as { priceId: string | null }).priceId, null);
});

test("a session's URL names its client secret", () => {
  assert.equal(SECRET.length, 47);
  assert.deepEqual(routeOf(new URL(`checkout/session/${SECRET}`, ROOT), ROOT), { kind: 'session', secret: SECRET });
  assert.equal(sessionPath(ROOT, SECRET), `/checkout/session/${SECRET}`);
});

test('a gateway under a path prefix works', () => {
  const prefixed = new URL('https://shop.example/billing/');
  assert.deepEqual(routeOf(new URL(`/billing/checkout/session/${SECRET}`, prefixed), prefixed), {
    kind: 'session',
    secret: SECRET,
  });
  assert.equal(sessionPath(prefixed, SECRET), `/billing/checkout/session/${SECRET}`);
});

test('anything else is no checkout', () => {
  for (const path of [
    `checkout/${ORG}`,
    `checkout/${ORG}/${LINK}/extra`,
    `checkout/${ORG.toUpperCase()}/${LINK}`,
    `checkout/session/${SECRET}x`,
    `checkout/session/${SECRET.slice(0, -1)}`,
    'checkout/session/sk_live_1234',
    `pricing/${ORG}/${LINK}`,
  ]) {
    assert.equal(routeOf(new URL(path, ROOT), ROOT), null, path);
  }
  assert.equal(routeOf(new URL(`https://other.example/checkout/session/${SECRET}`), ROOT), null);
});
