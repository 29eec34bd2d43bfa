import assert from 'node:assert/strict';
import { test } from 'node:test';
import { billingDetails, draftsOf, firstError, keysOf, sameAddress, trimmed, without } from '../src/checkout/drafts.js';

test("a session's values as drafts, and back", () => {
  const drafts = draftsOf({
    id: 's',
    organization_id: 'o',
    status: 'CHECKOUT_SESSION_STATUS_OPEN',
    customer_email: 'ada@example.com',
    billing_address: { country: 'DE', city: 'Berlin' },
    seats: 0,
  });
  assert.equal(drafts.email, 'ada@example.com');
  assert.equal(drafts.name, '');
  assert.equal(drafts.seats, '');
  assert.deepEqual(drafts.address, { line1: '', line2: '', city: 'Berlin', postal_code: '', state: '', country: 'DE' });
  assert.ok(sameAddress(trimmed({ ...drafts.address, city: ' Berlin ' }), drafts.address));
});

test('an address change is about each of its parts; errors clear by field', () => {
  assert.deepEqual(keysOf({ customer_email: 'x', billing_address: {} }), [
    'customer_email',
    'billing_address.line1',
    'billing_address.line2',
    'billing_address.city',
    'billing_address.postal_code',
    'billing_address.state',
    'billing_address.country',
  ]);
  const errors = { customer_email: 'a', 'billing_address.city': 'b', discount_code: 'c' };
  assert.deepEqual(without(errors, keysOf({ billing_address: {} })), { customer_email: 'a', discount_code: 'c' });
  // The focus goes to the first in the form's order, not the first reported.
  assert.equal(firstError({ discount_code: 'c', 'billing_address.country': 'd', customer_name: 'e' }), 'customer_name');
  assert.equal(firstError({}), null);
});

test('Stripe gets no empty values', () => {
  const drafts = draftsOf({ id: 's', organization_id: 'o', status: 'CHECKOUT_SESSION_STATUS_OPEN' });
  drafts.email = ' ada@example.com ';
  drafts.address.country = 'DE';
  drafts.address.postal_code = '10117';
  assert.deepEqual(billingDetails(drafts), {
    email: 'ada@example.com',
    address: { country: 'DE', postal_code: '10117' },
  });
});
